//===- DerivativeRules.h - rules for ops of other dialects ------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_DERIVATIVERULES_H
#define FTC_DIALECT_TRAIN_IR_DERIVATIVERULES_H

#include "mlir/IR/DialectRegistry.h"

namespace ftc::train {

/// Attaches ReverseModeOpInterface to the upstream ops a model may use on
/// tensors before lowering: arith.{addf, subf, mulf, divf, negf} and
/// math.{exp, log, tanh, sqrt} (elementwise, operands of one shape).
void registerUpstreamDerivativeRules(mlir::DialectRegistry &registry);

} // namespace ftc::train

#endif // FTC_DIALECT_TRAIN_IR_DERIVATIVERULES_H
