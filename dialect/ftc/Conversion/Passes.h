//===- Passes.h - ftc conversion passes -------------------------*- C++ -*-===//

#ifndef FTC_CONVERSION_PASSES_H
#define FTC_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace ftc {

#define GEN_PASS_DECL
#include "ftc/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ftc/Conversion/Passes.h.inc"

} // namespace ftc

#endif // FTC_CONVERSION_PASSES_H
