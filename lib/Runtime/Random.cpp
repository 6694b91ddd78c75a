//===- Random.cpp - initial parameters from a seed, the same everywhere ---===//

#include "Random.h"

#include <cmath>
#include <cstring>

namespace ftc::runtime {

namespace {
uint64_t splitmix64(uint64_t &x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string &text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

} // namespace

uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

uint16_t toBF16(float f) {
  uint32_t u = floatBits(f);
  if (std::isnan(f))
    return 0x7fc0;
  u += 0x7fff + ((u >> 16) & 1); // round to nearest even
  return static_cast<uint16_t>(u >> 16);
}

uint16_t toF16(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  int32_t exp = static_cast<int32_t>((u >> 23) & 0xff) - 127 + 15;
  uint32_t mant = u & 0x7fffff;
  if (((u >> 23) & 0xff) == 0xff)
    return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  if (exp >= 31)
    return static_cast<uint16_t>(sign | 0x7c00);
  if (exp <= 0) { // subnormal or zero
    if (exp < -10)
      return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = mant >> shift;
    uint32_t rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, which is still correct
  return static_cast<uint16_t>(half);
}

float fromF16(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7f800000u | (mant << 13));
  return bitsFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

Generator::Generator(uint64_t seed, const std::string &stream) {
  uint64_t x = seed ^ fnv1a(stream);
  for (uint64_t &word : s)
    word = splitmix64(x);
}

uint64_t Generator::next() {
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double Generator::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double Generator::normal() {
  if (haveSpare) {
    haveSpare = false;
    return spare;
  }
  double u, v, r;
  do {
    u = 2.0 * uniform() - 1.0;
    v = 2.0 * uniform() - 1.0;
    r = u * u + v * v;
  } while (r >= 1.0 || r == 0.0);
  double scale = std::sqrt(-2.0 * portableLog(r) / r);
  spare = v * scale;
  haveSpare = true;
  return u * scale;
}

double portableLog(double x) {
  // x = m * 2^e with m in [sqrt(1/2), sqrt(2)); ln x = e ln 2 + 2 atanh(z),
  // z = (m - 1) / (m + 1), |z| < 0.172: the series converges quickly.
  int e = 0;
  double m = std::frexp(x, &e); // exact; m in [0.5, 1)
  if (m < 0.70710678118654752) {
    m *= 2.0;
    --e;
  }
  double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
  for (int k = 1; k < 60; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return 2.0 * sum + e * 0.69314718055994530942;
}

void storeElement(ftc_dtype dtype, void *data, int64_t i, double value) {
  switch (dtype) {
  case FTC_F32: static_cast<float *>(data)[i] = static_cast<float>(value); break;
  case FTC_F64: static_cast<double *>(data)[i] = value; break;
  case FTC_BF16: static_cast<uint16_t *>(data)[i] = toBF16(static_cast<float>(value)); break;
  case FTC_F16: static_cast<uint16_t *>(data)[i] = toF16(static_cast<float>(value)); break;
  case FTC_I32: static_cast<int32_t *>(data)[i] = static_cast<int32_t>(value); break;
  case FTC_I64: static_cast<int64_t *>(data)[i] = static_cast<int64_t>(value); break;
  case FTC_I8: static_cast<int8_t *>(data)[i] = static_cast<int8_t>(value); break;
  case FTC_U8: static_cast<uint8_t *>(data)[i] = static_cast<uint8_t>(value); break;
  }
}

namespace {
/// Element `i` of a T array at any alignment (a tensor of a file that does
/// not align its data, say).
template <typename T> T element(const void *data, int64_t i) {
  T value;
  std::memcpy(&value, static_cast<const char *>(data) + i * static_cast<int64_t>(sizeof(T)),
              sizeof(T));
  return value;
}
} // namespace

double loadElement(ftc_dtype dtype, const void *data, int64_t i) {
  switch (dtype) {
  case FTC_F32: return element<float>(data, i);
  case FTC_F64: return element<double>(data, i);
  case FTC_BF16: return bitsFloat(static_cast<uint32_t>(element<uint16_t>(data, i)) << 16);
  case FTC_F16: return fromF16(element<uint16_t>(data, i));
  case FTC_I32: return element<int32_t>(data, i);
  case FTC_I64: return static_cast<double>(element<int64_t>(data, i));
  case FTC_I8: return element<int8_t>(data, i);
  case FTC_U8: return element<uint8_t>(data, i);
  }
  return 0.0;
}

void fillInitial(const Init &init, uint64_t seed, const std::string &name,
                 ftc_dtype dtype, int64_t numel, void *data) {
  Generator gen(seed, name);
  for (int64_t i = 0; i < numel; ++i) {
    double v = 0.0;
    if (init.kind == "ones")
      v = 1.0;
    else if (init.kind == "constant")
      v = init.a;
    else if (init.kind == "normal")
      v = init.a + init.b * gen.normal();
    else if (init.kind == "uniform")
      v = init.a + (init.b - init.a) * gen.uniform();
    storeElement(dtype, data, i, v);
  }
}

void fillRowNorms(ftc_dtype dtype, void *data, ftc_dtype sourceDtype,
                  const void *source, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      double v = loadElement(sourceDtype, source, r * cols + c);
      sum += v * v;
    }
    storeElement(dtype, data, r, std::sqrt(sum));
  }
}

} // namespace ftc::runtime
