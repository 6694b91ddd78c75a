//===- TrainModel.cpp - queries about a whole model -----------------------===//

#include "ftc/Dialect/Train/IR/TrainModel.h"

using namespace mlir;

namespace ftc::train {

FailureOr<func::FuncOp> findLossFunction(ModuleOp module) {
  func::FuncOp loss;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(TrainDialect::getLossAttrName()))
      continue;
    if (loss) {
      InFlightDiagnostic diag =
          func.emitError() << "the model has more than one loss function";
      diag.attachNote(loss.getLoc()) << "the first loss function is here";
      return failure();
    }
    loss = func;
  }
  if (!loss)
    return module.emitError() << "the model has no loss function: mark the "
                                 "func.func that returns the loss with "
                                 "{train.loss}";
  return loss;
}

func::FuncOp findMarkedFunction(ModuleOp module, StringRef name) {
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(name))
      return func;
  return {};
}

} // namespace ftc::train
