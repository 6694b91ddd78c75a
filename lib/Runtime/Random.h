//===- Random.h - initial parameters from a seed, the same everywhere -----===//
//
// Only IEEE-exact operations (+ - * / sqrt) touch the random numbers, so the
// same seed gives the same bits on every machine and libm.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_RANDOM_H
#define FTC_RUNTIME_RANDOM_H

#include "ftc.h"

#include <cstdint>
#include <string>

namespace ftc::runtime {

/// A distribution of the model description: zeros, ones, constant (a),
/// normal (mean a, std b) or uniform (low a, high b).
struct Init {
  std::string kind = "zeros";
  double a = 0.0, b = 0.0;
  std::string of; // row_norm: the parameter whose rows' norms this is
};

/// xoshiro256** seeded through splitmix64.
class Generator {
public:
  Generator(uint64_t seed, const std::string &stream);
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform();
  /// Standard normal (Marsaglia's polar method).
  double normal();

private:
  uint64_t s[4];
  bool haveSpare = false;
  double spare = 0.0;
};

/// ln(x) for x > 0 from IEEE-exact operations only.
double portableLog(double x);

/// Stores `value` as element `i` of a `dtype` array (round to nearest even).
void storeElement(ftc_dtype dtype, void *data, int64_t i, double value);
/// Element `i` of a `dtype` array, as a double.
double loadElement(ftc_dtype dtype, const void *data, int64_t i);

/// IEEE bits of a float, and back; f32 to bf16 and f16 and f16 to f32,
/// rounding to nearest even (NaN stays NaN, overflow is infinity).
uint32_t floatBits(float f);
float bitsFloat(uint32_t u);
uint16_t toBF16(float f);
uint16_t toF16(float f);
float fromF16(uint16_t h);

/// The L2 norm of each of the `rows` rows of `source` (`rows * cols`
/// elements), summed in double, stored in `data` (the row_norm init).
void fillRowNorms(ftc_dtype dtype, void *data, ftc_dtype sourceDtype,
                  const void *source, int64_t rows, int64_t cols);

/// Draws `numel` elements of parameter `name` from `init`.
void fillInitial(const Init &init, uint64_t seed, const std::string &name,
                 ftc_dtype dtype, int64_t numel, void *data);

} // namespace ftc::runtime

#endif // FTC_RUNTIME_RANDOM_H
