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

#include "ftc/Support/Nf4.h"

#include <cstdint>

namespace ftc::runtime {

inline constexpr const float (&kNf4Table)[16] = nf4::kTable;
inline constexpr int64_t kNf4Block = nf4::kBlock;

/// The code of x / absmax: the index of the nearest table entry.
uint8_t nf4Code(float scaled);

/// `n` floats (n even) to n / 2 bytes of codes and ceil(n / 64) scales.
void quantizeNf4(const float *values, int64_t n, uint8_t *codes, float *absmax);

/// The inverse: nf4[code] * absmax of the element's block.
void dequantizeNf4(const uint8_t *codes, const float *absmax, int64_t n, float *values);

/// QLoRA's double quantization of the absmax scales, as bitsandbytes'
/// compress_statistics does: offset = their mean; (absmax - offset) coded
/// blockwise (256 a block, each block's absmax kept in f32) as the nearest
/// of the 256 values of bitsandbytes' signed dynamic map (ties to the lower).
inline constexpr int64_t kNestedBlock = nf4::kNestedBlock;
struct NestedScales {
  uint8_t *codes;   // [blocks]
  float *absmax;    // [ceil(blocks / 256)]
  float *map;       // [256]
  float *offset;    // [1]
};
/// bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
/// total_bits=8): 127 positive values (fractions of powers of ten from 1e-6
/// to 1 at 1, 2, ..., 64 steps), their negatives, 0 and 1, sorted; computed
/// in f32 as PyTorch's linspace computes (scalar path).
void dynamicMap(float map[256]);
void quantizeNf4Double(const float *values, int64_t n, uint8_t *codes, NestedScales scales);
void dequantizeNf4Double(const uint8_t *codes, const NestedScales &scales, int64_t n,
                         float *values);

} // namespace ftc::runtime

#endif // FTC_RUNTIME_QUANTIZE_H
