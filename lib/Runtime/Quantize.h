//===- Quantize.h - QLoRA's NF4 and bf16 storage of frozen weights -*- C++ -*-===//
//
// A parameter with `storage` nf4 keeps 4-bit codes of QLoRA's NormalFloat
// table and one absmax scale per block of 64 elements, as bitsandbytes
// does: x is coded as the table entry nearest x / absmax (ties to the lower
// entry), two codes a byte, the even element in the high nibble. The
// compiled step reads it back with train.dequantize; these are the host
// sides: from a float tensor (an initializer, a checkpoint) and back (a
// merge, a derived init).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_QUANTIZE_H
#define FTC_RUNTIME_QUANTIZE_H

#include <cstdint>

namespace ftc::runtime {

/// QLoRA's NormalFloat4 table (bitsandbytes' values, exact in f32).
extern const float kNf4Table[16];
constexpr int64_t kNf4Block = 64;

/// The code of x / absmax: the index of the nearest table entry.
uint8_t nf4Code(float scaled);

/// `n` floats (n even) to n / 2 bytes of codes and ceil(n / 64) scales.
void quantizeNf4(const float *values, int64_t n, uint8_t *codes, float *absmax);

/// The inverse: nf4[code] * absmax of the element's block.
void dequantizeNf4(const uint8_t *codes, const float *absmax, int64_t n, float *values);

} // namespace ftc::runtime

#endif // FTC_RUNTIME_QUANTIZE_H
