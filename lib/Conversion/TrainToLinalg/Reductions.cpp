//===- Reductions.cpp - reductions, normalizations and losses to linalg ---===//
//
// Sums, means and maxima become linalg.generic with reduction iterators
// (f32 sums in a blocked order, see LinalgBuilder::reduce); softmax, layer_norm
// and the losses are built from per-row reductions and elementwise generics.
// Numerics follow PyTorch's kernels where the order of operations is
// visible in the last bits (log_softmax as x - max - log(sum exp)).
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
#include <tuple>

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

constexpr double negInf = -std::numeric_limits<double>::infinity();

Value maxF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::MaximumFOp::create(b, l, x, y);
}

/// Per row of a matrix [R, C]: the max m and sum_c exp(x - m), the parts of
/// a numerically stable (log-)softmax.
std::pair<Value, Value> rowMaxAndSumExp(LinalgBuilder &L, Value x) {
  Value m = L.reduce(x, {1}, negInf, maxF);
  Value s = L.sum(x, {1}, ValueRange{m},
                  [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                    return math::ExpOp::create(nb, nl,
                                               arith::SubFOp::create(nb, nl, a[0], a[1]));
                  });
  return {m, s};
}

/// Per-row statistics of layer_norm: mean and 1 / sqrt(biased var + eps),
/// by the corrected two-pass algorithm (Chan, Golub and LeVeque 1983): with
/// m1 = sum(x) / n and d = x - m1, mean = m1 + sum(d) / n and var =
/// sum(d^2) / n - (sum(d) / n)^2. A row far from zero against its spread
/// (|mean| >> std) has its f32 sum off by many ulps of the mean; the
/// correction, a sum of terms of the spread's size, takes the mean back to
/// about its rounding. That matters to the gradient: the layer norm's input
/// gradient sums to zero over a row only as far as x^ does, so a row's
/// constant offset error, rstd^2 n |mean error| times the row's mean(g x^),
/// reaches every parameter before it (a bias ahead of the norm, whose true
/// gradient is zero, got 7x PyTorch float32's error from a sequential mean).
std::pair<Value, Value> rowMoments(LinalgBuilder &L, Value x2, double eps) {
  RankedTensorType t = tensorType(x2);
  Type elem = t.getElementType();
  auto rowType = RankedTensorType::get({t.getDimSize(0)}, elem);
  Value n = L.scalar(elem, static_cast<double>(t.getDimSize(1)));
  Value sum = L.sum(x2, {1});
  Value first = L.elementwise(rowType, ValueRange{sum},
                              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                return arith::DivFOp::create(nb, nl, a[0], n);
                              });
  Value residual = L.sum(x2, {1}, ValueRange{first},
                         [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                           return arith::SubFOp::create(nb, nl, a[0], a[1]);
                         });
  Value sq = L.sum(x2, {1}, ValueRange{first},
                   [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                     Value c = arith::SubFOp::create(nb, nl, a[0], a[1]);
                     return arith::MulFOp::create(nb, nl, c, c);
                   });
  Value mean = L.elementwise(rowType, ValueRange{first, residual},
                             [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               return arith::AddFOp::create(
                                   nb, nl, a[0], arith::DivFOp::create(nb, nl, a[1], n));
                             });
  Value epsV = L.scalar(elem, eps);
  Value rstd = L.elementwise(
      rowType, ValueRange{sq, residual}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
        Value shift = arith::DivFOp::create(nb, nl, a[1], n);
        Value var = arith::SubFOp::create(nb, nl, arith::DivFOp::create(nb, nl, a[0], n),
                                          arith::MulFOp::create(nb, nl, shift, shift));
        Value sd = math::SqrtOp::create(nb, nl, arith::AddFOp::create(nb, nl, var, epsV));
        Value one = arith::ConstantOp::create(nb, nl, nb.getFloatAttr(elem, 1.0));
        return arith::DivFOp::create(nb, nl, one, sd);
      });
  return {mean, rstd};
}

/// softmax (or log_softmax) along the last dimension, from x - max(x).
Value softmax(LinalgBuilder &L, Value input, bool log) {
  RankedTensorType rows = asRows(input);
  Value x2 = L.reshape(input, rows);
  auto [m, s] = rowMaxAndSumExp(L, x2);
  Value y = L.rowwise(rows, ValueRange{x2}, ValueRange{m, s},
                          [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            Value shifted = arith::SubFOp::create(nb, nl, a[0], a[1]);
                            if (log)
                              return arith::SubFOp::create(
                                  nb, nl, shifted, math::LogOp::create(nb, nl, a[2]));
                            return arith::DivFOp::create(
                                nb, nl, math::ExpOp::create(nb, nl, shifted), a[2]);
                          });
  return L.reshape(y, tensorType(input));
}

struct SumPattern : OpConversionPattern<SumOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SumOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, L.reshape(L.sum(adaptor.getInput(), op.getDims()),
                                     cast<RankedTensorType>(op.getType())));
    return success();
  }
};

// The sum over the dimensions numpy broadcasting would have added or
// stretched to go from the result's shape to the input's.
struct SumToPattern : OpConversionPattern<SumToOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SumToOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    ArrayRef<int64_t> in = tensorType(adaptor.getInput()).getShape();
    ArrayRef<int64_t> out = op.getType().getShape();
    size_t offset = in.size() - out.size();
    SmallVector<int64_t> dims;
    for (size_t d = 0; d < in.size(); ++d)
      if (d < offset || (out[d - offset] == 1 && in[d] != 1))
        dims.push_back(d);
    Value reduced = L.sum(adaptor.getInput(), dims);
    rewriter.replaceOp(op, L.reshape(reduced, cast<RankedTensorType>(op.getType())));
    return success();
  }
};

struct MaxPattern : OpConversionPattern<MaxOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MaxOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, L.reshape(L.reduce(adaptor.getInput(), op.getDims(), negInf, maxF),
                                     cast<RankedTensorType>(op.getType())));
    return success();
  }
};

// sum / count
struct MeanPattern : OpConversionPattern<MeanOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MeanOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    Value sum = L.reshape(L.sum(adaptor.getInput(), op.getDims()), type);
    int64_t n = 1;
    for (int64_t d : op.getDims())
      n *= tensorType(adaptor.getInput()).getDimSize(d);
    Value count = L.scalar(type.getElementType(), static_cast<double>(n));
    rewriter.replaceOp(op, L.elementwise(type, ValueRange{sum},
                                         [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                           return arith::DivFOp::create(nb, nl, a[0], count);
                                         }));
    return success();
  }
};

struct SoftmaxPattern : OpConversionPattern<SoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SoftmaxOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, softmax(L, adaptor.getInput(), /*log=*/false));
    return success();
  }
};

struct LogSoftmaxPattern : OpConversionPattern<LogSoftmaxOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(LogSoftmaxOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, softmax(L, adaptor.getInput(), /*log=*/true));
    return success();
  }
};

// (x - mean) * rstd * w + b, per row of the last dimension
struct LayerNormPattern : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    RankedTensorType rows = asRows(adaptor.getInput());
    Value x2 = L.reshape(adaptor.getInput(), rows);
    auto [mean, rstd] = rowMoments(L, x2, op.getEps().convertToDouble());
    Value y = L.rowwise(rows, ValueRange{x2, adaptor.getWeight(), adaptor.getBias()},
                        ValueRange{mean, rstd},
                        [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                          Value xhat = arith::MulFOp::create(
                              nb, nl, arith::SubFOp::create(nb, nl, a[0], a[3]), a[4]);
                          return arith::AddFOp::create(
                              nb, nl, arith::MulFOp::create(nb, nl, xhat, a[1]), a[2]);
                        });
    rewriter.replaceOp(op, L.reshape(y, cast<RankedTensorType>(op.getType())));
    return success();
  }
};

// dx = rstd * (gw - mean(gw) - x^ * mean(gw * x^)), gw = g * w
struct LayerNormGradPattern : OpConversionPattern<LayerNormGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(LayerNormGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    RankedTensorType rows = asRows(adaptor.getInput());
    Type elem = rows.getElementType();
    Value x2 = L.reshape(adaptor.getInput(), rows);
    Value g2 = L.reshape(adaptor.getGrad(), rows);
    auto [mean, rstd] = rowMoments(L, x2, op.getEps().convertToDouble());
    Value n = L.scalar(elem, static_cast<double>(rows.getDimSize(1)));
    auto mul = [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
      return arith::MulFOp::create(nb, nl, a[0], a[1]);
    };
    Value xhat = L.rowwise(rows, ValueRange{x2}, ValueRange{mean, rstd},
                               [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                 return arith::MulFOp::create(
                                     nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]), a[2]);
                               });
    Value gw = L.elementwise(rows, ValueRange{g2, adaptor.getWeight()}, mul);
    Value gwx = L.elementwise(rows, ValueRange{gw, xhat}, mul);
    Value sumA = L.sum(gw, {1});
    Value sumC = L.sum(gwx, {1});
    Value dx = L.rowwise(rows, ValueRange{gw, xhat}, ValueRange{sumA, sumC, rstd},
                             [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               Value ma = arith::DivFOp::create(nb, nl, a[2], n);
                               Value mc = arith::DivFOp::create(nb, nl, a[3], n);
                               Value t = arith::SubFOp::create(
                                   nb, nl, arith::SubFOp::create(nb, nl, a[0], ma),
                                   arith::MulFOp::create(nb, nl, a[1], mc));
                               return arith::MulFOp::create(nb, nl, a[4], t);
                             });
    rewriter.replaceOp(op, L.reshape(dx, cast<RankedTensorType>(op.getType())));
    return success();
  }
};

/// The logits as a matrix [N, C] and the labels as a vector [N].
std::pair<Value, Value> logitRows(LinalgBuilder &L, Value logits, Value labels) {
  RankedTensorType logitsType = tensorType(logits);
  int64_t classes = logitsType.getShape().back();
  int64_t rows = logitsType.getNumElements() / classes;
  Value z = L.reshape(logits, RankedTensorType::get({rows, classes},
                                                    logitsType.getElementType()));
  Value y = L.reshape(labels,
                      RankedTensorType::get({rows}, tensorType(labels).getElementType()));
  return {z, y};
}

// mean over rows n of -log_softmax(z)[n, y[n]]
struct CrossEntropyPattern : OpConversionPattern<CrossEntropyOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CrossEntropyOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    Value z, y;
    std::tie(z, y) = logitRows(L, adaptor.getLogits(), adaptor.getLabels());
    Type elem = tensorType(z).getElementType();
    int64_t rows = tensorType(z).getDimSize(0);
    // log_softmax(z)[n, c] = (z[n, c] - m[n]) - log(sum_c exp(z[n, c] - m[n]))
    auto [m, s] = rowMaxAndSumExp(L, z);
    // nll[n] = -log_softmax(z)[n, y[n]]
    auto rowType = RankedTensorType::get({rows}, elem);
    Value nll = L.elementwise(rowType, ValueRange{m, s, y},
                              [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                Value n = linalg::IndexOp::create(nb, nl, 0);
                                Value c = arith::IndexCastOp::create(
                                    nb, nl, nb.getIndexType(), a[2]);
                                Value zy = tensor::ExtractOp::create(nb, nl, z,
                                                                     ValueRange{n, c});
                                Value shifted = arith::SubFOp::create(nb, nl, zy, a[0]);
                                Value logp = arith::SubFOp::create(
                                    nb, nl, shifted, math::LogOp::create(nb, nl, a[1]));
                                return arith::NegFOp::create(nb, nl, logp);
                              });
    Value total = L.sum(nll, {0});
    rewriter.replaceOp(
        op, L.elementwise(cast<RankedTensorType>(op.getType()), ValueRange{total},
                          [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            return arith::DivFOp::create(
                                nb, nl, a[0], L.scalar(elem, static_cast<double>(rows)));
                          }));
    return success();
  }
};

// (softmax(z) - one_hot(y)) * (g / N), softmax as exp(log_softmax)
struct CrossEntropyGradPattern : OpConversionPattern<CrossEntropyGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(CrossEntropyGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto [z, y] = logitRows(L, adaptor.getLogits(), adaptor.getLabels());
    RankedTensorType matrix = tensorType(z);
    Type elem = matrix.getElementType();
    auto [m, s] = rowMaxAndSumExp(L, z);
    Value rowsF = L.scalar(elem, static_cast<double>(matrix.getDimSize(0)));
    // The row's max, sum and label, read per row.
    Value grad = L.rowwise(
        matrix, ValueRange{z, adaptor.getGrad()}, ValueRange{m, s, y},
        [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
          Value shifted = arith::SubFOp::create(nb, nl, a[0], a[2]);
          Value logp =
              arith::SubFOp::create(nb, nl, shifted, math::LogOp::create(nb, nl, a[3]));
          Value p = math::ExpOp::create(nb, nl, logp);
          Value c = linalg::IndexOp::create(nb, nl, 1);
          Value label = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[4]);
          Value hit = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq, c, label);
          Value one = arith::ConstantOp::create(nb, nl, elem, nb.getFloatAttr(elem, 1.0));
          Value diff =
              arith::SelectOp::create(nb, nl, hit, arith::SubFOp::create(nb, nl, p, one), p);
          Value scale = arith::DivFOp::create(nb, nl, a[1], rowsF);
          return arith::MulFOp::create(nb, nl, diff, scale);
        });
    rewriter.replaceOp(op, L.reshape(grad, tensorType(adaptor.getLogits())));
    return success();
  }
};

// sum((x - t)^2) / numel
struct MseLossPattern : OpConversionPattern<MseLossOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MseLossOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    RankedTensorType type = tensorType(adaptor.getInput());
    SmallVector<int64_t> all;
    for (int64_t d = 0; d < type.getRank(); ++d)
      all.push_back(d);
    Value diffSq = L.elementwise(type, ValueRange{adaptor.getInput(), adaptor.getTarget()},
                                 [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Value d = arith::SubFOp::create(nb, nl, a[0], a[1]);
                                   return arith::MulFOp::create(nb, nl, d, d);
                                 });
    Value sum = L.sum(diffSq, all);
    Type elem = type.getElementType();
    rewriter.replaceOp(
        op, L.elementwise(cast<RankedTensorType>(op.getType()), ValueRange{sum},
                          [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            return arith::DivFOp::create(
                                nb, nl, a[0],
                                L.scalar(elem, static_cast<double>(type.getNumElements())));
                          }));
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateReductionsPatterns(RewritePatternSet &patterns) {
  patterns.add<SumPattern, SumToPattern, MaxPattern, MeanPattern, SoftmaxPattern,
               LogSoftmaxPattern, LayerNormPattern, LayerNormGradPattern,
               CrossEntropyPattern, CrossEntropyGradPattern, MseLossPattern>(
      patterns.getContext());
}
