//===- Nf4.h - QLoRA's 4-bit NormalFloat code -------------------*- C++ -*-===//
//
// The table and block size that both the compiler (train.dequantize's
// lowering) and the runtime (quantizing at load, dequantizing for a merge)
// use: one definition, no dependencies.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_SUPPORT_NF4_H
#define FTC_SUPPORT_NF4_H

#include <cstdint>

namespace ftc::nf4 {

/// QLoRA's NormalFloat4 values (Dettmers et al. 2023; bitsandbytes' table,
/// every value exact in f32), in code order.
inline constexpr float kTable[16] = {-1.0f,
                                     -0.6961928009986877f,
                                     -0.5250730514526367f,
                                     -0.39491748809814453f,
                                     -0.28444138169288635f,
                                     -0.18477343022823334f,
                                     -0.09105003625154495f,
                                     0.0f,
                                     0.07958029955625534f,
                                     0.16093020141124725f,
                                     0.24611230194568634f,
                                     0.33791524171829224f,
                                     0.44070982933044434f,
                                     0.5626170039176941f,
                                     0.7229568362236023f,
                                     1.0f};

/// Elements per absmax scale (QLoRA's block size).
inline constexpr int64_t kBlock = 64;
/// Double quantization: scales per absmax of the scales.
inline constexpr int64_t kNestedBlock = 256;

} // namespace ftc::nf4

#endif // FTC_SUPPORT_NF4_H
