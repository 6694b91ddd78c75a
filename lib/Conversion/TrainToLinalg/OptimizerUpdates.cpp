//===- OptimizerUpdates.cpp - AdamW and SGD updates to linalg.generic -----===//
//
// Each update is one elementwise pass: the gradient in, the parameter and
// its optimizer state updated through the generic's outputs (read once,
// written once, in place after bufferization). The scalars follow
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

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

/// The step number t as f64: PyTorch computes the update's scalars in double
/// precision from Python floats.
Value stepAsDouble(LinalgBuilder &L, Value step) {
  Value t = tensor::ExtractOp::create(L.b, L.loc, step, ValueRange{});
  return arith::SIToFPOp::create(L.b, L.loc, L.b.getF64Type(), t);
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
    double lr = c.getLr().convertToDouble(), beta1 = c.getBeta1().convertToDouble(),
           beta2 = c.getBeta2().convertToDouble(), eps = c.getEps().convertToDouble(),
           wd = c.getWeightDecay().convertToDouble();
    Value t = stepAsDouble(L, adaptor.getStep());
    auto oneMinusPow = [&](double base) {
      Value p = math::PowFOp::create(b, loc, L.scalar(f64, base), t);
      return arith::SubFOp::create(b, loc, L.scalar(f64, 1.0), p).getResult();
    };
    // step_size = lr / (1 - beta1^t); bias_correction2_sqrt = sqrt(1 - beta2^t)
    Value stepSize = arith::DivFOp::create(b, loc, L.scalar(f64, lr), oneMinusPow(beta1));
    Value bc2Sqrt = math::SqrtOp::create(b, loc, oneMinusPow(beta2));
    Value negStep = convertScalar(b, loc, arith::NegFOp::create(b, loc, stepSize), elem);
    Value bc2 = convertScalar(b, loc, bc2Sqrt, elem);
    Value decay = L.scalar(elem, 1.0 - lr * wd);
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
          linalg::YieldOp::create(nb, nl, ValueRange{p2, m1, v1});
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
    double lr = c.getLr().convertToDouble(), momentum = c.getMomentum().convertToDouble(),
           dampening = c.getDampening().convertToDouble(),
           wd = c.getWeightDecay().convertToDouble();
    bool nesterov = c.getNesterov(), hasBuffer = momentum != 0.0;
    Value first;
    if (hasBuffer) {
      Value t = tensor::ExtractOp::create(b, loc, adaptor.getStep(), ValueRange{});
      first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t,
                                    L.scalar(b.getI64Type(), 1));
    }
    Value wdV = L.scalar(elem, wd), momV = L.scalar(elem, momentum),
          dampV = L.scalar(elem, 1.0 - dampening), negLr = L.scalar(elem, -lr);

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
          linalg::YieldOp::create(nb, nl, yields);
        });
    rewriter.replaceOp(op, generic.getResults());
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateOptimizerUpdatesPatterns(RewritePatternSet &patterns) {
  patterns.add<AdamWPattern, SGDPattern>(patterns.getContext());
}
