//===- GpuFuseElementwise.cpp - Elementwise fusion that keeps products ----===//
//
// See ftc-gpu-fuse-elementwise in Passes.td: upstream's patterns, under a
// control function that leaves products (cuBLASLt's) whole.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ftc {
#define GEN_PASS_DEF_GPUFUSEELEMENTWISE
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Upstream's condition: the producer's result has this one use.
bool onlyUse(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  return producer && producer->hasOneUse();
}

/// A producer with other users fused into an elementwise consumer that
/// reads nothing else (a cast: attention's probabilities kept in f32 for
/// the backward and rounded to bf16 for their product): one kernel writes
/// both, and the cast no longer reads the probabilities back. Upstream's
/// pattern would compute the producer twice instead (it keeps the
/// producer for its other users and drops the fused op's copy of its
/// result); here those users read the fused op's, which comes before them.
struct FuseIntoOnlyReader : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    if (!consumer.hasPureTensorSemantics() || consumer.getNumDpsInputs() != 1 ||
        consumer.getNumLoops() != consumer.getNumParallelLoops())
      return failure();
    OpOperand *operand = consumer.getDpsInputOperand(0);
    auto producer = operand->get().getDefiningOp<linalg::GenericOp>();
    if (!producer || producer->hasOneUse() ||
        producer.getNumLoops() != producer.getNumParallelLoops() ||
        !consumer.getMatchingIndexingMap(operand).isIdentity() ||
        !linalg::areElementwiseOpsFusable(operand))
      return failure();
    for (Operation *user : producer->getUsers())
      if (user != consumer &&
          (user->getBlock() != consumer->getBlock() || !consumer->isBeforeInBlock(user)))
        return failure();
    FailureOr<linalg::ElementwiseOpFusionResult> fused =
        linalg::fuseElementwiseOps(rewriter, operand);
    if (failed(fused))
      return failure();
    for (auto [original, replacement] : fused->replacements)
      rewriter.replaceAllUsesWith(original, replacement);
    rewriter.eraseOp(consumer);
    rewriter.eraseOp(producer);
    return success();
  }
};

struct GpuFuseElementwisePass
    : public ftc::impl::GpuFuseElementwiseBase<GpuFuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    linalg::ControlFusionFn keepProducts = [](OpOperand *fused) {
      auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
      if (consumer && linalg::isaContractionOpInterface(consumer))
        return false;
      return onlyUse(fused);
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, keepProducts);
    patterns.add<FuseIntoOnlyReader>(ctx);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, onlyUse);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, onlyUse);
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
  }
};

} // namespace
