//===- Quantize.cpp - QLoRA's NF4 storage of frozen weights ----------------===//

#include "Quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ftc::runtime {


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

void dynamicMap(float map[256]) {
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    // linspace(0.1, 1, 2^i + 1) in f32: start + step k in the first half,
    // end - step (steps - 1 - k) in the second, as PyTorch computes it.
    int64_t steps = (int64_t(1) << i) + 1, halfway = steps / 2;
    float start = 0.1f, end = 1.0f;
    float step = (end - start) / static_cast<float>(steps - 1);
    std::vector<float> bounds(static_cast<size_t>(steps));
    for (int64_t k = 0; k < steps; ++k)
      bounds[k] = k < halfway ? start + step * static_cast<float>(k)
                              : end - step * static_cast<float>(steps - k - 1);
    float scale = static_cast<float>(std::pow(10.0, -6 + i));
    for (int64_t k = 0; k + 1 < steps; ++k) {
      float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
      data.push_back(scale * mean);
      data.push_back(-(scale * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::copy(data.begin(), data.end(), map);
}

/// The index of the entry of the sorted `map` nearest `x` (ties to the lower).
static uint8_t nearest(const float *map, float x) {
  const float *up = std::lower_bound(map, map + 256, x);
  if (up == map)
    return 0;
  if (up == map + 256)
    return 255;
  return static_cast<uint8_t>(x - up[-1] <= *up - x ? up - map - 1 : up - map);
}

void quantizeNf4Double(const float *values, int64_t n, uint8_t *codes, NestedScales scales) {
  int64_t blocks = (n + kNf4Block - 1) / kNf4Block;
  std::vector<float> absmax(static_cast<size_t>(blocks));
  quantizeNf4(values, n, codes, absmax.data());
  double sum = 0.0;
  for (float a : absmax)
    sum += a;
  float offset = static_cast<float>(sum / static_cast<double>(blocks));
  *scales.offset = offset;
  dynamicMap(scales.map);
  for (int64_t start = 0, block = 0; start < blocks; start += kNestedBlock, ++block) {
    int64_t end = std::min(blocks, start + kNestedBlock);
    float top = 0.0f;
    for (int64_t b = start; b < end; ++b)
      top = std::max(top, std::fabs(absmax[b] - offset));
    scales.absmax[block] = top;
    for (int64_t b = start; b < end; ++b)
      scales.codes[b] = top > 0 ? nearest(scales.map, (absmax[b] - offset) / top)
                                : nearest(scales.map, 0.0f);
  }
}

void dequantizeNf4Double(const uint8_t *codes, const NestedScales &scales, int64_t n,
                         float *values) {
  for (int64_t i = 0; i < n; ++i) {
    int64_t b = i / kNf4Block;
    float absmax = scales.map[scales.codes[b]] * scales.absmax[b / kNestedBlock] + *scales.offset;
    uint8_t byte = codes[i / 2];
    values[i] = kNf4Table[i % 2 == 0 ? byte >> 4 : byte & 15] * absmax;
  }
}

} // namespace ftc::runtime
