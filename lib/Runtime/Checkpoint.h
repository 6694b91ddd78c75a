//===- Checkpoint.h - pieces shared by the loaders --------------*- C++ -*-===//
//
// The entries of ftc_last_report that the checkpoint and adapter loaders
// both write.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_CHECKPOINT_H
#define FTC_RUNTIME_CHECKPOINT_H

#include "Model.h"
#include "Safetensors.h"

#include <nlohmann/json.hpp>

#include <string>

namespace ftc::runtime {

/// A file's tensor that a load left alone: {name, reason, detail}, reason
/// one of "unknown" (not part of the model), "mismatch" (dtype or shape),
/// "state" (optimizer state, step counter or seed not taken).
nlohmann::ordered_json skipped(const std::string &name, const char *reason,
                               const std::string &detail);

/// "f32 [5, 64] in the file; this model has f32 [10, 64]".
std::string mismatchDetail(const LoadedTensor &t, const Buffer &b);

} // namespace ftc::runtime

#endif // FTC_RUNTIME_CHECKPOINT_H
