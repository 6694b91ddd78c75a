//===- TrainModel.h - queries about a whole model ---------------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINMODEL_H
#define FTC_DIALECT_TRAIN_IR_TRAINMODEL_H

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace ftc::train {

/// The one func.func marked {train.loss}; reports on the module (no loss
/// function) or on the second one (more than one) otherwise.
llvm::FailureOr<mlir::func::FuncOp> findLossFunction(mlir::ModuleOp module);

/// The function marked with the unit attribute `name` (train.step, say), or
/// null when there is none.
mlir::func::FuncOp findMarkedFunction(mlir::ModuleOp module,
                                      llvm::StringRef name);

} // namespace ftc::train

#endif // FTC_DIALECT_TRAIN_IR_TRAINMODEL_H
