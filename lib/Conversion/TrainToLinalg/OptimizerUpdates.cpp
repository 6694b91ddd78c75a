//===- OptimizerUpdates.cpp - AdamW and SGD updates to linalg.generic -----===//
//
// Each update is one elementwise pass: the gradient in, the parameter and
// its optimizer state updated through the generic's outputs (read once,
// written once, in place after bufferization). Also the loss scaling's
// scalar ops: the finiteness check, the step counter and the scale. The scalars follow
// PyTorch's single-tensor kernels, step-dependent ones computed in f64 as
// PyTorch does from Python floats.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilder.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

/// The element of a 0-d tensor.
Value scalarOf(LinalgBuilder &L, Value tensor) {
  return tensor::ExtractOp::create(L.b, L.loc, tensor, ValueRange{});
}

/// |x| < inf: false for an infinity and a NaN.
Value isFinite(OpBuilder &b, Location loc, Value x) {
  Value inf = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(x.getType(), std::numeric_limits<double>::infinity()));
  return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT,
                               math::AbsFOp::create(b, loc, x), inf);
}

/// The step number t as f64: PyTorch computes the update's scalars in double
/// precision from Python floats.
Value stepAsDouble(LinalgBuilder &L, Value step) {
  return arith::SIToFPOp::create(L.b, L.loc, L.b.getF64Type(), scalarOf(L, step));
}

/// The scalar of an update's `if` operand, or null without one.
Value conditionOf(LinalgBuilder &L, Value condition) {
  return condition ? scalarOf(L, condition) : Value();
}

/// `updated`, or where `apply` is false the `old` values, bit for bit.
SmallVector<Value> keepUnless(OpBuilder &b, Location loc, Value apply, ValueRange updated,
                              ValueRange old) {
  SmallVector<Value> values(updated);
  if (apply)
    for (auto [value, before] : llvm::zip(values, old))
      value = arith::SelectOp::create(b, loc, apply, value, before);
  return values;
}

/// An update's learning rate: the `lr` operand (else the config's lr)
/// times the group's `lr_scale`. The scalars computed from it are folded
/// where it is a constant, and computed in f64 at run time otherwise (the
/// same bits: PyTorch computes them in double from Python floats).
struct LearningRate {
  LinalgBuilder &L;
  Value operand;
  double configured, scale;

  bool constant() const { return !operand; }
  /// lr in f64.
  Value f64() const {
    Type type = L.b.getF64Type();
    if (constant())
      return L.scalar(type, configured * scale);
    Value lr = scalarOf(L, operand);
    if (scale != 1.0)
      lr = arith::MulFOp::create(L.b, L.loc, lr, L.scalar(type, scale));
    return lr;
  }
  /// a + b * lr, computed in f64, in `elem`.
  Value affine(double a, double b, Type elem) const {
    if (constant())
      return L.scalar(elem, a + b * (configured * scale));
    Type type = L.b.getF64Type();
    Value product = arith::MulFOp::create(L.b, L.loc, f64(), L.scalar(type, b));
    return convertScalar(L.b, L.loc,
                         arith::AddFOp::create(L.b, L.loc, L.scalar(type, a), product), elem);
  }
};

/// The gradient clipping's coefficient in the gradient's type, or null.
Value gradScaleOf(LinalgBuilder &L, Value operand, Type elem) {
  return operand ? convertScalar(L.b, L.loc, scalarOf(L, operand), elem) : Value();
}

struct AdamWPattern : OpConversionPattern<AdamWUpdateOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(AdamWUpdateOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    AdamWAttr c = op.getConfig();
    Type f64 = b.getF64Type();
    Type elem = tensorType(adaptor.getParam()).getElementType();
    double beta1 = c.getBeta1().convertToDouble(), beta2 = c.getBeta2().convertToDouble(),
           eps = c.getEps().convertToDouble(), wd = c.getWeightDecay().convertToDouble();
    LearningRate lr{L, adaptor.getLr(), c.getLr().convertToDouble(),
                    op.getLrScale().convertToDouble()};
    Value gradScale = gradScaleOf(L, adaptor.getGradScale(), elem);
    Value t = stepAsDouble(L, adaptor.getStep());
    Value apply = conditionOf(L, adaptor.getCondition());
    auto oneMinusPow = [&](double base) {
      Value p = math::PowFOp::create(b, loc, L.scalar(f64, base), t);
      return arith::SubFOp::create(b, loc, L.scalar(f64, 1.0), p).getResult();
    };
    // step_size = lr / (1 - beta1^t); bias_correction2_sqrt = sqrt(1 - beta2^t)
    Value stepSize = arith::DivFOp::create(b, loc, lr.f64(), oneMinusPow(beta1));
    Value bc2Sqrt = math::SqrtOp::create(b, loc, oneMinusPow(beta2));
    Value negStep = convertScalar(b, loc, arith::NegFOp::create(b, loc, stepSize), elem);
    Value bc2 = convertScalar(b, loc, bc2Sqrt, elem);
    Value decay = lr.affine(1.0, -wd, elem); // 1 - lr * wd
    Value b1 = L.scalar(elem, beta1), w1 = L.scalar(elem, 1.0 - beta1),
          b2 = L.scalar(elem, beta2), w2 = L.scalar(elem, 1.0 - beta2),
          epsV = L.scalar(elem, eps);

    // One pass: reads g, and p, m, v through the outputs (updated in place).
    RankedTensorType type = tensorType(adaptor.getParam());
    AffineMap id = b.getMultiDimIdentityMap(type.getRank());
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, TypeRange{type, type, type}, ValueRange{adaptor.getGrad()},
        ValueRange{adaptor.getParam(), adaptor.getExpAvg(), adaptor.getExpAvgSq()},
        SmallVector<AffineMap>(4, id), iterators,
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value g = a[0], p = a[1], m = a[2], v = a[3];
          if (gradScale) // clip_grad_norm_'s g * coef
            g = arith::MulFOp::create(nb, nl, g, gradScale);
          // p = p * (1 - lr * wd)
          Value p1 = arith::MulFOp::create(nb, nl, p, decay);
          // m = m * beta1 + (1 - beta1) * g          (mul_, add_ with alpha)
          Value m1 = arith::AddFOp::create(nb, nl, arith::MulFOp::create(nb, nl, m, b1),
                                           arith::MulFOp::create(nb, nl, w1, g));
          // v = v * beta2 + (1 - beta2) * g * g      (addcmul)
          Value v1 = arith::AddFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, v, b2),
              arith::MulFOp::create(nb, nl, arith::MulFOp::create(nb, nl, w2, g), g));
          // p = p - step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
          Value denom = arith::AddFOp::create(
              nb, nl, arith::DivFOp::create(nb, nl, math::SqrtOp::create(nb, nl, v1), bc2),
              epsV);
          Value p2 = arith::AddFOp::create(
              nb, nl, p1,
              arith::MulFOp::create(nb, nl, negStep, arith::DivFOp::create(nb, nl, m1, denom)));
          linalg::YieldOp::create(nb, nl, keepUnless(nb, nl, apply, {p2, m1, v1}, {p, m, v}));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

struct SGDPattern : OpConversionPattern<SGDUpdateOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SGDUpdateOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    SGDAttr c = op.getConfig();
    Type elem = tensorType(adaptor.getParam()).getElementType();
    double momentum = c.getMomentum().convertToDouble(),
           dampening = c.getDampening().convertToDouble(),
           wd = c.getWeightDecay().convertToDouble();
    bool nesterov = c.getNesterov(), hasBuffer = momentum != 0.0;
    Value apply = conditionOf(L, adaptor.getCondition());
    Value first;
    if (hasBuffer)
      first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                    scalarOf(L, adaptor.getStep()),
                                    L.scalar(b.getI64Type(), 1));
    Value wdV = L.scalar(elem, wd), momV = L.scalar(elem, momentum),
          dampV = L.scalar(elem, 1.0 - dampening);
    LearningRate lr{L, adaptor.getLr(), c.getLr().convertToDouble(),
                    op.getLrScale().convertToDouble()};
    Value negLr = lr.affine(0.0, -1.0, elem);
    Value gradScale = gradScaleOf(L, adaptor.getGradScale(), elem);

    RankedTensorType type = tensorType(adaptor.getParam());
    SmallVector<Value> outs{adaptor.getParam()};
    if (hasBuffer)
      outs.push_back(adaptor.getMomentumBuffer());
    AffineMap id = b.getMultiDimIdentityMap(type.getRank());
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, SmallVector<Type>(outs.size(), type), ValueRange{adaptor.getGrad()}, outs,
        SmallVector<AffineMap>(1 + outs.size(), id), iterators,
        [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value d = a[0], p = a[1];
          if (gradScale) // clip_grad_norm_'s g * coef
            d = arith::MulFOp::create(nb, nl, d, gradScale);
          if (wd != 0.0) // d = g + wd * p
            d = arith::AddFOp::create(nb, nl, d, arith::MulFOp::create(nb, nl, p, wdV));
          SmallVector<Value> yields;
          Value buf;
          if (hasBuffer) {
            // buf = t == 1 ? d : buf * momentum + (1 - dampening) * d
            Value later = arith::AddFOp::create(nb, nl,
                                                arith::MulFOp::create(nb, nl, a[2], momV),
                                                arith::MulFOp::create(nb, nl, d, dampV));
            buf = arith::SelectOp::create(nb, nl, first, d, later);
            d = nesterov ? arith::AddFOp::create(nb, nl, d,
                                                 arith::MulFOp::create(nb, nl, buf, momV))
                               .getResult()
                         : buf;
          }
          // p = p - lr * d
          yields.push_back(
              arith::AddFOp::create(nb, nl, p, arith::MulFOp::create(nb, nl, d, negLr)));
          if (hasBuffer)
            yields.push_back(buf);
          linalg::YieldOp::create(nb, nl,
                                  keepUnless(nb, nl, apply, yields, a.drop_front()));
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

/// Whether every element of `input` is finite (i1): one reduction over all
/// its elements, `and` of |x| < inf (false for an inf and a NaN).
Value allFinite(LinalgBuilder &L, OpBuilder &b, Location loc, Value input) {
  auto flagType = RankedTensorType::get({}, b.getI1Type());
  Value init = L.filled(flagType, 1);
  int64_t rank = tensorType(input).getRank();
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank),
                              AffineMap::get(rank, 0, {}, b.getContext())};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::reduction);
  auto reduce = linalg::GenericOp::create(
      b, loc, TypeRange{flagType}, ValueRange{input}, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        linalg::YieldOp::create(
            nb, nl, ValueRange{arith::AndIOp::create(nb, nl, a[1], isFinite(nb, nl, a[0]))});
      });
  return scalarOf(L, reduce.getResult(0));
}

/// The sum of the squares of `input`'s elements in f64 (a scalar), in a
/// fixed order. A large tensor's N elements are read as [P, R, 16]:
/// contiguous chunks of R x 16 (R at most 512, so a chunk is one of
/// ftc-cpu-tile-and-fuse's 8192-iteration blocks), each summed into 16
/// running sums, which vectorize; then the P x 16 sums in order. A small
/// or oddly sized one is summed in its order.
Value sumOfSquares(LinalgBuilder &L, OpBuilder &b, Location loc, Value input) {
  Type f64 = b.getF64Type();
  Type elem = tensorType(input).getElementType();
  int64_t n = tensorType(input).getNumElements();
  constexpr int64_t lanes = 16, maxRows = 512, minRows = 32;
  int64_t rows = n % lanes == 0 ? std::min(maxRows, n / lanes) : 0;
  while (rows >= minRows && (n / lanes) % rows != 0)
    --rows;
  SmallVector<int64_t> shape{n}, kept;
  SmallVector<utils::IteratorType> iterators{utils::IteratorType::reduction};
  if (rows >= minRows) {
    shape = {n / lanes / rows, rows, lanes};
    kept = {n / lanes / rows, lanes};
    iterators = {utils::IteratorType::parallel, utils::IteratorType::reduction,
                 utils::IteratorType::parallel};
  }
  Value view = L.reshape(input, RankedTensorType::get(shape, elem));
  auto square = [&](OpBuilder &nb, Location nl, Value x) {
    Value wide = convertScalar(nb, nl, x, f64);
    return arith::MulFOp::create(nb, nl, wide, wide).getResult();
  };
  // Running sums of each chunk's lanes (or the one sum).
  auto partialType = RankedTensorType::get(kept, f64);
  int64_t rank = static_cast<int64_t>(shape.size());
  SmallVector<AffineExpr> keptDims;
  for (int64_t d = 0; d < rank; ++d)
    if (iterators[d] == utils::IteratorType::parallel)
      keptDims.push_back(b.getAffineDimExpr(d));
  auto partial = linalg::GenericOp::create(
      b, loc, TypeRange{partialType}, ValueRange{view},
      ValueRange{L.filled(partialType, 0.0)},
      SmallVector<AffineMap>{b.getMultiDimIdentityMap(rank),
                             AffineMap::get(rank, 0, keptDims, b.getContext())},
      iterators, [&](OpBuilder &nb, Location nl, ValueRange a) {
        linalg::YieldOp::create(
            nb, nl, ValueRange{arith::AddFOp::create(nb, nl, a[1], square(nb, nl, a[0]))});
      });
  Value sums = partial.getResult(0);
  if (kept.empty())
    return scalarOf(L, sums);
  // Then the P x 16 sums, in order.
  auto sumType = RankedTensorType::get({}, f64);
  auto total = linalg::GenericOp::create(
      b, loc, TypeRange{sumType}, ValueRange{sums}, ValueRange{L.filled(sumType, 0.0)},
      SmallVector<AffineMap>{b.getMultiDimIdentityMap(2), AffineMap::get(2, 0, {}, b.getContext())},
      SmallVector<utils::IteratorType>(2, utils::IteratorType::reduction),
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        linalg::YieldOp::create(nb, nl, ValueRange{arith::AddFOp::create(nb, nl, a[1], a[0])});
      });
  return scalarOf(L, total.getResult(0));
}

/// clip_grad_norm_: norm = sqrt(sum of every square), coef =
/// min(max_norm / (norm + 1e-6), 1) (NaN stays NaN).
struct ClipGradNormPattern : OpConversionPattern<ClipGradNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ClipGradNormOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Type f64 = b.getF64Type();
    Value total = L.scalar(f64, 0.0);
    for (Value g : adaptor.getGrads())
      total = arith::AddFOp::create(b, loc, total, sumOfSquares(L, b, loc, g));
    Value norm = math::SqrtOp::create(b, loc, total);
    Value coef = arith::DivFOp::create(
        b, loc, L.scalar(f64, op.getMaxNorm().convertToDouble()),
        arith::AddFOp::create(b, loc, norm, L.scalar(f64, 1e-6)));
    coef = arith::MinimumFOp::create(b, loc, coef, L.scalar(f64, 1.0));
    rewriter.replaceOp(
        op, {tensor::FromElementsOp::create(b, loc, op.getNorm().getType(), norm).getResult(),
             tensor::FromElementsOp::create(b, loc, op.getCoef().getType(), coef).getResult()});
    return success();
  }
};

/// The flags of the gradients combined.
struct AllFinitePattern : OpConversionPattern<AllFiniteOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(AllFiniteOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Value all = L.scalar(b.getI1Type(), 1);
    for (Value input : adaptor.getInputs())
      all = arith::AndIOp::create(b, loc, all, allFinite(L, b, loc, input));
    rewriter.replaceOp(op, tensor::FromElementsOp::create(b, loc, op.getType(), all).getResult());
    return success();
  }
};

/// prev != 0 ? prev : (all finite ? 0 : id).
struct NoteNonFinitePattern : OpConversionPattern<NoteNonFiniteOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(NoteNonFiniteOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Type i64 = b.getI64Type();
    Value prev = scalarOf(L, adaptor.getPrev());
    Value zero = L.scalar(i64, 0);
    Value here = arith::SelectOp::create(b, loc, allFinite(L, b, loc, adaptor.getValue()), zero,
                                         L.scalar(i64, static_cast<double>(op.getId())));
    Value seen = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, prev, zero);
    Value first = arith::SelectOp::create(b, loc, seen, prev, here);
    rewriter.replaceOp(op, tensor::FromElementsOp::create(b, loc, op.getType(), first).getResult());
    return success();
  }
};

struct NothingNotedPattern : OpConversionPattern<NothingNotedOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(NothingNotedOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                     scalarOf(L, adaptor.getFirst()),
                                     L.scalar(b.getI64Type(), 0));
    rewriter.replaceOp(op, tensor::FromElementsOp::create(b, loc, op.getType(), ok).getResult());
    return success();
  }
};

struct AdvanceStepPattern : OpConversionPattern<AdvanceStepOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(AdvanceStepOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Value n = scalarOf(L, adaptor.getCount());
    Value next = arith::AddIOp::create(b, loc, n, L.scalar(b.getI64Type(), 1));
    if (Value apply = conditionOf(L, adaptor.getCondition()))
      next = arith::SelectOp::create(b, loc, apply, next, n);
    rewriter.replaceOp(op, tensor::FromElementsOp::create(b, loc, op.getType(), next).getResult());
    return success();
  }
};

/// torch's _amp_update_scale_, the products in f64 rounded to f32 as its
/// kernel computes them (float * double).
struct UpdateLossScalePattern : OpConversionPattern<UpdateLossScaleOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(UpdateLossScaleOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    Type f32 = b.getF32Type(), f64 = b.getF64Type(), i64 = b.getI64Type();
    Value scale = scalarOf(L, adaptor.getScale()),
          tracker = scalarOf(L, adaptor.getGrowthTracker()),
          finite = scalarOf(L, adaptor.getFinite());
    auto times = [&](double factor) {
      Value wide = arith::ExtFOp::create(b, loc, f64, scale);
      Value product = arith::MulFOp::create(b, loc, wide, L.scalar(f64, factor));
      return arith::TruncFOp::create(b, loc, f32, product).getResult();
    };
    // Not finite: back off, count from 0.
    Value backedOff = times(op.getBackoff().convertToDouble());
    // Finite: count; at the interval grow (where the product is finite)
    // and count from 0 again.
    Value counted = arith::AddIOp::create(b, loc, tracker, L.scalar(i64, 1));
    Value due = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, counted,
                                      L.scalar(i64, static_cast<double>(op.getInterval())));
    Value grown = times(op.getGrowth().convertToDouble());
    Value afterGrowth = arith::SelectOp::create(b, loc, isFinite(b, loc, grown), grown, scale);
    Value zero = L.scalar(i64, 0);
    Value finiteScale = arith::SelectOp::create(b, loc, due, afterGrowth, scale);
    Value finiteTracker = arith::SelectOp::create(b, loc, due, zero, counted);
    Value newScale = arith::SelectOp::create(b, loc, finite, finiteScale, backedOff);
    Value newTracker = arith::SelectOp::create(b, loc, finite, finiteTracker, zero);
    rewriter.replaceOp(
        op, {tensor::FromElementsOp::create(b, loc, op.getNewScale().getType(), newScale)
                 .getResult(),
             tensor::FromElementsOp::create(b, loc, op.getNewGrowthTracker().getType(),
                                            newTracker)
                 .getResult()});
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateOptimizerUpdatesPatterns(RewritePatternSet &patterns) {
  patterns.add<AdamWPattern, SGDPattern, ClipGradNormPattern, AllFinitePattern, AdvanceStepPattern,
               UpdateLossScalePattern, NoteNonFinitePattern, NothingNotedPattern>(
      patterns.getContext());
}
