//===- Schedule.cpp - learning-rate schedules for ftc-train ---------------===//

#include "Schedule.h"

#include <fmt/core.h>

#include <cmath>

namespace ftc::train_tool {

double Schedule::at(int64_t taken) const {
  if (taken < warmup)
    return peak * static_cast<double>(taken + 1) / static_cast<double>(warmup + 1);
  if (kind == Kind::Constant)
    return peak;
  if (taken >= decayEnd)
    return floor;
  double progress =
      static_cast<double>(taken - warmup) / static_cast<double>(decayEnd - warmup);
  if (kind == Kind::Linear)
    return peak - (peak - floor) * progress;
  return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::string Schedule::describe() const {
  std::string after = warmup > 0 ? fmt::format(" after {} warmup steps", warmup) : "";
  if (kind == Kind::Constant)
    return fmt::format("constant {:g}{}", peak, after);
  return fmt::format("{} from {:g} to {:g} over steps {}-{}{}",
                     kind == Kind::Linear ? "linear" : "cosine", peak, floor, warmup, decayEnd,
                     after);
}

bool parseScheduleKind(const std::string &text, Schedule::Kind &kind) {
  if (text == "constant") kind = Schedule::Kind::Constant;
  else if (text == "linear") kind = Schedule::Kind::Linear;
  else if (text == "cosine") kind = Schedule::Kind::Cosine;
  else return false;
  return true;
}

} // namespace ftc::train_tool
