//===- TrainToLinalg.cpp - the ftc-convert-train-to-linalg pass -----------===//
//
// Gathers the op families' patterns and applies them as a partial dialect
// conversion in which every train op is illegal except the parameter ops
// ftc-bind-abi removes; those, composite ops and dropouts without an RNG
// buffer are reported first with the pass that should have run before.
//
//===----------------------------------------------------------------------===//

#include "ftc/Conversion/TrainToLinalg/TrainToLinalg.h"

#include "LinalgBuilder.h"

#include "ftc/Conversion/Passes.h"
#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Transforms/DialectConversion.h"

namespace ftc {
#define GEN_PASS_DEF_CONVERTTRAINTOLINALG
#include "ftc/Conversion/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

void ftc::populateTrainToLinalgPatterns(RewritePatternSet &patterns) {
  train_to_linalg::populateElementwisePatterns(patterns);
  train_to_linalg::populateReductionsPatterns(patterns);
  train_to_linalg::populateContractionsPatterns(patterns);
  train_to_linalg::populateDataMovementPatterns(patterns);
  train_to_linalg::populateOptimizerUpdatesPatterns(patterns);
  train_to_linalg::populateRandomPatterns(patterns);
}

namespace {

/// Fails with a diagnostic on a train op that an earlier pass of the
/// pipeline should have removed or completed.
LogicalResult checkLowerable(Operation *op) {
  if (isa<ParamOp, SlotOp, GetParamOp, SetParamOp>(op))
    return op->emitError() << "'" << op->getName()
                           << "' has no lowering to linalg; bind parameters with "
                              "ftc-bind-abi before ftc-convert-train-to-linalg";
  if (isa<AttentionOp, AttentionGradOp>(op))
    return op->emitError() << "'" << op->getName()
                           << "' has no lowering to linalg; expand it with "
                              "ftc-expand-composites before ftc-convert-train-to-linalg";
  if (auto dropout = dyn_cast<DropoutOp>(op);
      dropout && !dropout.getRng() && !dropout.getP().isZero())
    return op->emitError() << "dropout needs the RNG state: run ftc-bind-abi first";
  return success();
}

struct ConvertTrainToLinalgPass
    : ftc::impl::ConvertTrainToLinalgBase<ConvertTrainToLinalgPass> {
  void runOnOperation() override {
    bool lowerable = true;
    getOperation().walk([&](Operation *op) {
      if (isa<TrainDialect>(op->getDialect()) && failed(checkLowerable(op)))
        lowerable = false;
    });
    if (!lowerable)
      return signalPassFailure();

    ConversionTarget target(getContext());
    target.addLegalDialect<arith::ArithDialect, linalg::LinalgDialect, math::MathDialect,
                           scf::SCFDialect, tensor::TensorDialect>();
    target.addIllegalDialect<TrainDialect>();
    // Removed by ftc-bind-abi (reported above when still here).
    target.addLegalOp<ParamOp, SlotOp, GetParamOp, SetParamOp>();
    // ftc-remat's barriers stay until bufferization (see RematBarrierOp).
    target.addLegalOp<RematBarrierOp>();
    // A target's fused attention (ftc-gpu-fuse-attention) stays until
    // bufferization, then becomes its kernels.
    target.addLegalOp<FusedAttentionOp, FusedAttentionGradOp>();
    RewritePatternSet patterns(&getContext());
    ftc::populateTrainToLinalgPatterns(patterns);
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
