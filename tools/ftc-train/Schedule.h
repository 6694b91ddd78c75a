//===- Schedule.h - learning-rate schedules for ftc-train ------*- C++ -*-===//
//
// The learning rate of update s + 1 (s updates taken, ftc_step_count) as
// the recipes people copy define it (nanoGPT's get_lr, Hugging Face's
// schedules with a floor): a linear warmup over the first W updates,
// lr * (s + 1) / (W + 1), then
//
//   constant  lr
//   linear    lr - (lr - min) * (s - W) / (D - W)            until s = D
//   cosine    min + (lr - min) * (1 + cos(pi (s - W) / (D - W))) / 2
//
// and `min` from update D on. The rate is a function of s alone: a resumed
// run continues the schedule exactly.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_TRAIN_SCHEDULE_H
#define FTC_TRAIN_SCHEDULE_H

#include <cstdint>
#include <string>

namespace ftc::train_tool {

struct Schedule {
  enum class Kind { Constant, Linear, Cosine };
  Kind kind = Kind::Constant;
  double peak = 0.0;   // lr
  double floor = 0.0;  // min: where linear and cosine end
  int64_t warmup = 0;  // W
  int64_t decayEnd = 0; // D: the update count where the decay reaches min

  /// The learning rate of the update after `taken` updates.
  double at(int64_t taken) const;
  /// "cosine from 0.001 to 0.0001 over steps 100-2000, after 100 warmup steps".
  std::string describe() const;
};

/// "constant", "linear" or "cosine"; false for anything else.
bool parseScheduleKind(const std::string &text, Schedule::Kind &kind);

} // namespace ftc::train_tool

#endif // FTC_TRAIN_SCHEDULE_H
