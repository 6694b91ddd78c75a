//===- ExpandComposites.cpp - composite train ops into train ops ----------===//
//
// train.attention and train.attention_grad are one op each so that autodiff
// keeps only q, k and v for the backward pass (and a target may use a fused
// kernel); without one, they are expanded here into the train ops they
// stand for, which ftc-convert-train-to-linalg lowers.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/ShapeInference.h"
#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace ftc {
#define GEN_PASS_DEF_EXPANDCOMPOSITES
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

/// Multiplies attention scores by the op's scale, or divides them by
/// sqrt(D) without one (as GPT-2 writes it, so that the fused op computes
/// what the unfused ops compute, bit for bit).
Value scaleScores(OpBuilder &b, Location loc, Value scores, Value query, FloatAttr scale) {
  auto scalar =
      RankedTensorType::get({}, cast<RankedTensorType>(scores.getType()).getElementType());
  if (scale)
    return MulOp::create(b, loc, scores,
                         FillOp::create(b, loc, scalar,
                                        b.getF64FloatAttr(scale.getValueAsDouble())));
  double depth =
      static_cast<double>(cast<RankedTensorType>(query.getType()).getShape().back());
  return DivOp::create(b, loc, scores,
                       FillOp::create(b, loc, scalar, b.getF64FloatAttr(std::sqrt(depth))));
}

bool isLowPrecision(Value v) {
  Type elem = cast<RankedTensorType>(v.getType()).getElementType();
  return elem.isBF16() || elem.isF16();
}

/// `v` in `like`'s element type.
Value castLike(OpBuilder &b, Location loc, Value v, Value like) {
  Type elem = cast<RankedTensorType>(like.getType()).getElementType();
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getElementType() == elem)
    return v;
  return CastOp::create(b, loc, type.clone(elem), v);
}

/// The product of 16-bit operands kept in f32 (their sums are f32 anyway);
/// the operands' type otherwise.
Value wideMatmul(OpBuilder &b, Location loc, Value lhs, Value rhs, bool tl, bool tr) {
  RankedTensorType type = inferMatmulType(lhs, rhs, tl, tr);
  if (isLowPrecision(lhs))
    type = type.clone(b.getF32Type());
  return MatmulOp::create(b, loc, type, lhs, rhs, tl, tr);
}

/// P = softmax(mask(q k^T * scale)). With 16-bit q and k (autocast), the
/// scores and the softmax are f32, as a fused attention kernel keeps them.
Value attentionProbabilities(OpBuilder &b, Location loc, Value query, Value key,
                             bool causal, FloatAttr scale) {
  Value scores = scaleScores(b, loc, wideMatmul(b, loc, query, key, false, true), query, scale);
  if (causal)
    scores = CausalMaskOp::create(b, loc, scores, /*zero=*/false);
  return SoftmaxOp::create(b, loc, scores);
}

// y = P v, P rounded to v's type for the product (16-bit: as flash
// attention's kernels do).
struct ExpandAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value p = attentionProbabilities(rewriter, loc, op.getQuery(), op.getKey(),
                                     op.getCausal(), op.getScaleAttr());
    rewriter.replaceOpWithNewOp<MatmulOp>(op, castLike(rewriter, loc, p, op.getValue()),
                                          op.getValue());
    return success();
  }
};

// dv = P^T g, dP = g v^T, dS = P * (dP - rowsum(dP * P)) * scale,
// dq = dS k, dk = dS^T q. With 16-bit operands, dP and dS are f32 and P
// and dS are rounded to 16 bits for their products.
struct ExpandAttentionGrad : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Value g = op.getGrad(), q = op.getQuery(), k = op.getKey(), v = op.getValue();
    Value p = attentionProbabilities(b, loc, q, k, op.getCausal(), op.getScaleAttr());
    Value dv = MatmulOp::create(b, loc, castLike(b, loc, p, g), g, /*transposeLhs=*/true, false);
    Value dp = wideMatmul(b, loc, g, v, false, /*transposeRhs=*/true);
    int64_t last = cast<RankedTensorType>(p.getType()).getRank() - 1;
    Value dot = SumOp::create(b, loc, MulOp::create(b, loc, dp, p), ArrayRef<int64_t>{last},
                              /*keepdim=*/true);
    Value ds = scaleScores(b, loc, MulOp::create(b, loc, p, SubOp::create(b, loc, dp, dot)),
                           q, op.getScaleAttr());
    ds = castLike(b, loc, ds, q);
    Value dq = MatmulOp::create(b, loc, ds, k);
    Value dk = MatmulOp::create(b, loc, ds, q, /*transposeLhs=*/true, false);
    rewriter.replaceOp(op, ValueRange{dq, dk, dv});
    return success();
  }
};

struct ExpandCompositesPass : ftc::impl::ExpandCompositesBase<ExpandCompositesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ExpandAttention, ExpandAttentionGrad>(&getContext());
    // Only the composite ops change: no folding, no other op touched.
    GreedyRewriteConfig config;
    config.enableFolding(false)
        .enableConstantCSE(false)
        .setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled)
        .setStrictness(GreedyRewriteStrictness::ExistingOps);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
  }
};

} // namespace
