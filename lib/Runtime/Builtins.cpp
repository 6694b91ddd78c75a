//===- Builtins.cpp - 16-bit float conversions LLVM calls out to ----------===//
//
// Where the target has no instruction for a conversion (f32 to bf16 without
// AVX-512 BF16, f16 without F16C, and f64 to bf16 or f16 on every x86-64),
// LLVM's code calls these compiler-rt routines, which neither Debian's libgcc
// nor the C library provide for bf16: step.so carries them. Each rounds once,
// to nearest even. From f64, the value is first narrowed to f32 rounding to
// odd (truncate, then set the last bit if anything was cut), which keeps
// the second rounding from f32 exact: f32 has 13 more significant bits than
// f16 and 16 more than bf16, at every magnitude either can hold.
//
//===----------------------------------------------------------------------===//

#include "Random.h"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace {

using ftc::runtime::bitsFloat;
using ftc::runtime::floatBits;

/// x in f32, rounded to odd.
float toOddFloat(double x) {
  float f = static_cast<float>(x);
  if (std::isnan(x) || static_cast<double>(f) == x)
    return f;
  // Toward zero first (f may have rounded away, or to infinity)...
  if (std::fabs(static_cast<double>(f)) > std::fabs(x))
    f = std::nextafter(f, 0.0f);
  // ...then the sticky bit.
  return bitsFloat(floatBits(f) | 1u);
}

template <typename T> T fromBits(uint16_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

template <typename T> uint16_t toBits(T value) {
  uint16_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

} // namespace

extern "C" {

__attribute__((visibility("hidden"))) __bf16 __truncsfbf2(float x) {
  return fromBits<__bf16>(ftc::runtime::toBF16(x));
}

__attribute__((visibility("hidden"))) __bf16 __truncdfbf2(double x) {
  return fromBits<__bf16>(ftc::runtime::toBF16(toOddFloat(x)));
}

__attribute__((visibility("hidden"))) _Float16 __truncsfhf2(float x) {
  return fromBits<_Float16>(ftc::runtime::toF16(x));
}

__attribute__((visibility("hidden"))) _Float16 __truncdfhf2(double x) {
  return fromBits<_Float16>(ftc::runtime::toF16(toOddFloat(x)));
}

__attribute__((visibility("hidden"))) float __extendhfsf2(_Float16 x) {
  return ftc::runtime::fromF16(toBits(x));
}

} // extern "C"
