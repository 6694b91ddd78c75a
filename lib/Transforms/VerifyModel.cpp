//===- VerifyModel.cpp - checks that a module is a complete model ---------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace ftc {
#define GEN_PASS_DEF_VERIFYMODEL
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {
struct VerifyModelPass : public ftc::impl::VerifyModelBase<VerifyModelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp loss;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func->hasAttr(ftc::train::TrainDialect::getLossAttrName()))
        continue;
      if (loss) {
        InFlightDiagnostic diag =
            func.emitError() << "the model has more than one loss function";
        diag.attachNote(loss.getLoc()) << "the first loss function is here";
        return signalPassFailure();
      }
      loss = func;
    }
    if (!loss) {
      module.emitError() << "the model has no loss function: mark the "
                            "func.func that returns the loss with "
                            "{train.loss}";
      return signalPassFailure();
    }
    markAllAnalysesPreserved();
  }
};
} // namespace
