//===- Passes.h - ftc passes ------------------------------------*- C++ -*-===//

#ifndef FTC_TRANSFORMS_PASSES_H
#define FTC_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "ftc/Dialect/Train/IR/TrainDialect.h"

namespace ftc {

#define GEN_PASS_DECL
#include "ftc/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ftc/Transforms/Passes.h.inc"

} // namespace ftc

#endif // FTC_TRANSFORMS_PASSES_H
