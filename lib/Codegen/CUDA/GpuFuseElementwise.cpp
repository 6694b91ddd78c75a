//===- GpuFuseElementwise.cpp - Elementwise fusion that keeps products ----===//
//
// See ftc-gpu-fuse-elementwise in Passes.td: upstream's patterns, under a
// control function that leaves products (cuBLASLt's) whole.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
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

/// Cheap to compute again in each consumer rather than write once and read
/// back: all parallel, one input read whole and no wider than the result
/// (scalars besides), a few arithmetic ops (attention's scale and causal
/// mask: a division by a scalar, a comparison of indices and a select,
/// whose result a softmax's maximum, sum and normalization all read).
bool cheapToRecompute(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumResults() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops())
    return false;
  int64_t whole = 0;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0)
      continue;
    Type from = getElementTypeOrSelf(in->get().getType()),
         to = getElementTypeOrSelf(op->getResult(0).getType());
    if (!map.isPermutation() || !from.isIntOrFloat() || !to.isIntOrFloat() ||
        from.getIntOrFloatBitWidth() > to.getIntOrFloatBitWidth())
      return false;
    ++whole;
  }
  if (whole != 1)
    return false;
  int64_t work = 0;
  for (Operation &inner : op.getBody()->without_terminator()) {
    if (isa<math::MathDialect>(inner.getDialect()))
      return false;
    if (!isa<linalg::IndexOp, arith::ConstantOp>(inner))
      ++work;
  }
  return work <= 4;
}

/// Such a producer with several users: a copy for each elementwise or
/// reduction consumer it can fuse into (not products), so that each copy
/// has one use and fuses; the original stays only for the users left.
/// Repeated, so that a chain of them is copied whole. (A producer read
/// through a reshape is left: attention's mask is, and the blocked sum
/// reading it cannot be expanded through the reshape by upstream's
/// folding.)
void copyCheapProducers(Operation *root) {
  IRRewriter rewriter(root->getContext());
  for (bool changed = true; changed;) {
    changed = false;
    SmallVector<linalg::GenericOp> producers;
    root->walk([&](linalg::GenericOp op) {
      if (!op->hasOneUse() && !op->use_empty() && cheapToRecompute(op))
        producers.push_back(op);
    });
    for (linalg::GenericOp producer : producers) {
      for (OpOperand &use : llvm::make_early_inc_range(producer->getResult(0).getUses())) {
        auto consumer = dyn_cast<linalg::GenericOp>(use.getOwner());
        if (!consumer || linalg::isaContractionOpInterface(consumer) ||
            !linalg::areElementwiseOpsFusable(&use))
          continue;
        rewriter.setInsertionPointAfter(producer);
        use.set(rewriter.clone(*producer)->getResult(0));
        changed = true;
      }
      if (producer->use_empty()) {
        rewriter.eraseOp(producer);
        changed = true;
      }
    }
  }
}

struct GpuFuseElementwisePass
    : public ftc::impl::GpuFuseElementwiseBase<GpuFuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    copyCheapProducers(getOperation());
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
