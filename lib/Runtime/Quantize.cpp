//===- Quantize.cpp - QLoRA's NF4 storage of frozen weights ----------------===//

#include "Quantize.h"

#include <algorithm>
#include <cmath>

namespace ftc::runtime {

const float kNf4Table[16] = {-1.0f,
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

uint8_t nf4Code(float scaled) {
  // The entry above each midpoint (in f32, as bitsandbytes compares); a
  // value on a midpoint takes the lower entry, NaN (an all-zero block's
  // 0 * inf) code 0, which dequantizes to 0 there.
  uint8_t code = 0;
  for (int k = 1; k < 16; ++k) {
    float mid = (kNf4Table[k - 1] + kNf4Table[k]) * 0.5f;
    if (scaled > mid)
      code = static_cast<uint8_t>(k);
  }
  return code;
}

void quantizeNf4(const float *values, int64_t n, uint8_t *codes, float *absmax) {
  for (int64_t start = 0, block = 0; start < n; start += kNf4Block, ++block) {
    int64_t end = std::min(n, start + kNf4Block);
    float top = 0.0f;
    for (int64_t i = start; i < end; ++i)
      top = std::max(top, std::fabs(values[i]));
    absmax[block] = top;
    // x * (1 / absmax), as bitsandbytes scales.
    float inverse = 1.0f / top;
    for (int64_t i = start; i < end; ++i) {
      uint8_t code = nf4Code(values[i] * inverse);
      uint8_t &byte = codes[i / 2];
      byte = i % 2 == 0 ? static_cast<uint8_t>(code << 4) : static_cast<uint8_t>(byte | code);
    }
  }
}

void dequantizeNf4(const uint8_t *codes, const float *absmax, int64_t n, float *values) {
  for (int64_t i = 0; i < n; ++i) {
    uint8_t byte = codes[i / 2];
    uint8_t code = i % 2 == 0 ? byte >> 4 : byte & 15;
    values[i] = kNf4Table[code] * absmax[i / kNf4Block];
  }
}

} // namespace ftc::runtime
