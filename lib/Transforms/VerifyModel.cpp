//===- VerifyModel.cpp - checks that a module is a complete model ---------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

namespace ftc {
#define GEN_PASS_DEF_VERIFYMODEL
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {
struct VerifyModelPass : public ftc::impl::VerifyModelBase<VerifyModelPass> {
  void runOnOperation() override {
    if (failed(ftc::train::findLossFunction(getOperation())))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }
};
} // namespace
