//===- LowerTrain.cpp - train ops to linalg, tensor, arith and math -------===//
//
// Every train op becomes linalg on tensors: elementwise ops and broadcasts
// become linalg.generic with broadcasting indexing maps (fused later by
// linalg's elementwise fusion), reductions and contractions become
// linalg.generic with reduction iterators, reshapes become
// tensor.collapse_shape / expand_shape. Numerics follow PyTorch's kernels
// where the order of operations is visible in the last bits (log_softmax,
// AdamW, SGD).
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>
#include <limits>

namespace ftc {
#define GEN_PASS_DEF_LOWERTRAIN
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }

/// Builds the linalg form of train ops at one location.
class Lowering {
public:
  Lowering(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value scalar(Type type, double value) {
    if (auto f = dyn_cast<FloatType>(type))
      return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(f, value));
    return arith::ConstantOp::create(b, loc, type,
                                     b.getIntegerAttr(type, static_cast<int64_t>(value)));
  }

  Value empty(RankedTensorType type) {
    return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  }

  Value filled(RankedTensorType type, double value) {
    Value init = empty(type);
    return linalg::FillOp::create(b, loc, scalar(type.getElementType(), value), init)
        .getResult(0);
  }

  /// The map reading a tensor of shape `in` while iterating over `out`
  /// (numpy broadcasting: right-aligned, size-1 dimensions pinned to 0).
  AffineMap broadcastMap(ArrayRef<int64_t> in, ArrayRef<int64_t> out) {
    SmallVector<AffineExpr> exprs;
    size_t offset = out.size() - in.size();
    for (auto [i, size] : llvm::enumerate(in)) {
      if (size == 1 && out[offset + i] != 1)
        exprs.push_back(b.getAffineConstantExpr(0));
      else
        exprs.push_back(b.getAffineDimExpr(offset + i));
    }
    return AffineMap::get(out.size(), 0, exprs, b.getContext());
  }

  using Body = function_ref<Value(OpBuilder &, Location, ValueRange)>;

  /// An elementwise generic over `type` reading every input with numpy
  /// broadcasting; `body` maps the input scalars to the output scalar.
  Value elementwise(RankedTensorType type, ValueRange inputs, Body body) {
    SmallVector<AffineMap> maps;
    for (Value in : inputs)
      maps.push_back(broadcastMap(tensorType(in).getShape(), type.getShape()));
    maps.push_back(b.getMultiDimIdentityMap(type.getRank()));
    SmallVector<utils::IteratorType> iterators(type.getRank(),
                                               utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        b, loc, type, inputs, empty(type), maps, iterators,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value v = body(nb, nl, args.drop_back());
          linalg::YieldOp::create(nb, nl, v);
        });
    return generic.getResult(0);
  }

  /// Reduces `input` over `dims` (strictly increasing) into a tensor without
  /// those dimensions, starting from `init` and folding with `combine`
  /// (accumulator, element) -> accumulator. `map` may transform each element
  /// first (it sees the input element and the `extraInputs`, which hold one
  /// value per output element, a row's max say). Sums (`wide`) of types
  /// narrower than f64 accumulate in f64 and round once at the end: a long
  /// sequential sum in f32 loses digits that PyTorch's pairwise sums keep.
  Value reduce(Value input, ArrayRef<int64_t> dims, double init,
               function_ref<Value(OpBuilder &, Location, Value, Value)> combine,
               ValueRange extraInputs = {},
               function_ref<Value(OpBuilder &, Location, ValueRange)> map = {},
               bool wide = false) {
    RankedTensorType in = tensorType(input);
    Type elem = in.getElementType();
    Type acc = wide && !elem.isF64() ? b.getF64Type() : elem;
    SmallVector<int64_t> outShape;
    SmallVector<AffineExpr> outExprs;
    SmallVector<utils::IteratorType> iterators;
    for (int64_t d = 0; d < in.getRank(); ++d) {
      bool reduced = llvm::is_contained(dims, d);
      iterators.push_back(reduced ? utils::IteratorType::reduction
                                  : utils::IteratorType::parallel);
      if (!reduced) {
        outShape.push_back(in.getDimSize(d));
        outExprs.push_back(b.getAffineDimExpr(d));
      }
    }
    auto accType = RankedTensorType::get(outShape, acc);
    AffineMap outMap = AffineMap::get(in.getRank(), 0, outExprs, b.getContext());
    SmallVector<Value> inputs{input};
    SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(in.getRank())};
    for (Value extra : extraInputs) {
      inputs.push_back(extra);
      maps.push_back(outMap);
    }
    maps.push_back(outMap);
    auto generic = linalg::GenericOp::create(
        b, loc, accType, inputs, filled(accType, init), maps, iterators,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value element = map ? map(nb, nl, args.drop_back()) : args[0];
          if (element.getType() != acc)
            element = arith::ExtFOp::create(nb, nl, acc, element);
          linalg::YieldOp::create(nb, nl, combine(nb, nl, args.back(), element));
        });
    Value result = generic.getResult(0);
    if (acc == elem)
      return result;
    return elementwise(RankedTensorType::get(outShape, elem), ValueRange{result},
                       [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                         return arith::TruncFOp::create(nb, nl, elem, a[0]);
                       });
  }

  /// A sum over `dims`, accumulated in f64 (see reduce).
  Value sum(Value input, ArrayRef<int64_t> dims, ValueRange extraInputs = {},
            function_ref<Value(OpBuilder &, Location, ValueRange)> map = {}) {
    return reduce(input, dims, 0.0,
                  [](OpBuilder &nb, Location nl, Value a, Value e) -> Value {
                    return arith::AddFOp::create(nb, nl, a, e);
                  },
                  extraInputs, map, /*wide=*/true);
  }

  /// The same elements in a new static shape (row-major order kept).
  Value reshape(Value input, RankedTensorType type) {
    RankedTensorType in = tensorType(input);
    if (in == type)
      return input;
    // Through a 1-d tensor of all elements: collapse, then expand.
    auto flat = RankedTensorType::get({in.getNumElements()}, in.getElementType());
    Value v = input;
    if (in.getRank() == 0)
      v = tensor::ExpandShapeOp::create(b, loc, flat, v,
                                        ArrayRef<ReassociationIndices>{});
    else if (in.getRank() > 1)
      v = tensor::CollapseShapeOp::create(b, loc, flat, v, allDims(in.getRank()));
    if (type.getRank() == 0)
      return tensor::CollapseShapeOp::create(b, loc, type, v,
                                             ArrayRef<ReassociationIndices>{});
    if (type.getRank() > 1)
      return tensor::ExpandShapeOp::create(b, loc, type, v, allDims(type.getRank()));
    return v;
  }

  /// op(lhs) x op(rhs) over equal batch dimensions, accumulating in the
  /// element type from zero. Each result element sums over k in order (as
  /// the reference BLAS does); the loops run (batch, m, k, n) so that the
  /// innermost loop walks rows of the rhs and the result contiguously and
  /// vectorizes without reassociating the sums. A transposed rhs is
  /// transposed into a buffer first.
  Value matmul(Value lhs, Value rhs, bool transposeLhs, bool transposeRhs,
               RankedTensorType resultType) {
    int64_t batch = resultType.getRank() - 2;
    if (transposeRhs) {
      RankedTensorType r = tensorType(rhs);
      SmallVector<int64_t> perm, shape;
      for (int64_t i = 0; i < batch; ++i)
        perm.push_back(i);
      perm.append({batch + 1, batch});
      for (int64_t p : perm)
        shape.push_back(r.getDimSize(p));
      auto type = RankedTensorType::get(shape, r.getElementType());
      rhs = linalg::TransposeOp::create(b, loc, rhs, empty(type), perm).getResult()[0];
    }
    int64_t m = batch, k = batch + 1, n = batch + 2;
    auto dims = [&](int64_t x, int64_t y) {
      SmallVector<AffineExpr> exprs;
      for (int64_t i = 0; i < batch; ++i)
        exprs.push_back(b.getAffineDimExpr(i));
      exprs.push_back(b.getAffineDimExpr(x));
      exprs.push_back(b.getAffineDimExpr(y));
      return AffineMap::get(batch + 3, 0, exprs, b.getContext());
    };
    SmallVector<AffineMap> maps{transposeLhs ? dims(k, m) : dims(m, k), dims(k, n),
                                dims(m, n)};
    SmallVector<utils::IteratorType> iterators(batch + 3,
                                               utils::IteratorType::parallel);
    iterators[k] = utils::IteratorType::reduction;
    auto generic = linalg::GenericOp::create(
        b, loc, resultType, ValueRange{lhs, rhs}, filled(resultType, 0.0), maps,
        iterators, [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value prod = arith::MulFOp::create(nb, nl, args[0], args[1]);
          linalg::YieldOp::create(nb, nl,
                                  arith::AddFOp::create(nb, nl, args[2], prod).getResult());
        });
    return generic.getResult(0);
  }

  OpBuilder &b;
  Location loc;

private:
  static SmallVector<ReassociationIndices> allDims(int64_t rank) {
    ReassociationIndices all;
    for (int64_t i = 0; i < rank; ++i)
      all.push_back(i);
    return {all};
  }
};

//===----------------------------------------------------------------------===//
// Scalar bodies
//===----------------------------------------------------------------------===//

Value maxF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::MaximumFOp::create(b, l, x, y);
}

/// Converts a scalar between element types (PyTorch's Tensor.to semantics).
Value convertScalar(OpBuilder &b, Location l, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromFloat = isa<FloatType>(from), toFloat = isa<FloatType>(to);
  if (fromFloat && toFloat)
    return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
               ? arith::ExtFOp::create(b, l, to, v).getResult()
               : arith::TruncFOp::create(b, l, to, v).getResult();
  if (!fromFloat && toFloat)
    return arith::SIToFPOp::create(b, l, to, v);
  if (fromFloat && !toFloat)
    return arith::FPToSIOp::create(b, l, to, v);
  return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
             ? arith::ExtSIOp::create(b, l, to, v).getResult()
             : arith::TruncIOp::create(b, l, to, v).getResult();
}

//===----------------------------------------------------------------------===//
// Ops
//===----------------------------------------------------------------------===//

template <typename ArithOp> Value lowerBinary(Lowering &L, Operation *op) {
  return L.elementwise(cast<RankedTensorType>(op->getResult(0).getType()),
                       op->getOperands(),
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         return ArithOp::create(b, l, a[0], a[1]);
                       });
}

template <typename MathOp> Value lowerUnary(Lowering &L, Operation *op) {
  return L.elementwise(cast<RankedTensorType>(op->getResult(0).getType()),
                       op->getOperands(),
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         return MathOp::create(b, l, a[0]);
                       });
}


/// A [R] tensor as [R, 1], to broadcast along the rows' elements.
Value column(Lowering &L, Value v) {
  RankedTensorType t = tensorType(v);
  return L.reshape(v, RankedTensorType::get({t.getDimSize(0), 1}, t.getElementType()));
}

/// Per row of a matrix [R, C]: the max m and sum_c exp(x - m), the parts of
/// a numerically stable (log-)softmax.
std::pair<Value, Value> rowMaxAndSumExp(Lowering &L, Value x) {
  Value m = L.reduce(x, {1}, -std::numeric_limits<double>::infinity(), maxF);
  Value s = L.sum(x, {1}, ValueRange{m},
                  [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                    return math::ExpOp::create(nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]));
                  });
  return {m, s};
}

Value lowerCrossEntropy(Lowering &L, CrossEntropyOp op) {
  RankedTensorType logitsType = tensorType(op.getLogits());
  Type elem = logitsType.getElementType();
  int64_t classes = logitsType.getShape().back();
  int64_t rows = logitsType.getNumElements() / classes;
  Value z = L.reshape(op.getLogits(), RankedTensorType::get({rows, classes}, elem));
  Value y = L.reshape(op.getLabels(),
                      RankedTensorType::get({rows}, tensorType(op.getLabels()).getElementType()));
  // log_softmax(z)[n, c] = (z[n, c] - m[n]) - log(sum_c exp(z[n, c] - m[n]))
  auto [m, s] = rowMaxAndSumExp(L, z);
  // nll[n] = -log_softmax(z)[n, y[n]]
  auto rowType = RankedTensorType::get({rows}, elem);
  Value nll = L.elementwise(rowType, ValueRange{m, s, y},
                            [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                              Value n = linalg::IndexOp::create(nb, nl, 0);
                              Value c = arith::IndexCastOp::create(
                                  nb, nl, nb.getIndexType(), a[2]);
                              Value zy = tensor::ExtractOp::create(nb, nl, z, ValueRange{n, c});
                              Value shifted = arith::SubFOp::create(nb, nl, zy, a[0]);
                              Value logp = arith::SubFOp::create(
                                  nb, nl, shifted, math::LogOp::create(nb, nl, a[1]));
                              return arith::NegFOp::create(nb, nl, logp);
                            });
  Value total = L.sum(nll, {0});
  return L.elementwise(cast<RankedTensorType>(op.getType()), ValueRange{total},
                       [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                         return arith::DivFOp::create(
                             nb, nl, a[0], L.scalar(elem, static_cast<double>(rows)));
                       });
}

Value lowerCrossEntropyGrad(Lowering &L, CrossEntropyGradOp op) {
  RankedTensorType logitsType = tensorType(op.getLogits());
  Type elem = logitsType.getElementType();
  int64_t classes = logitsType.getShape().back();
  int64_t rows = logitsType.getNumElements() / classes;
  auto matrix = RankedTensorType::get({rows, classes}, elem);
  Value z = L.reshape(op.getLogits(), matrix);
  Value y = L.reshape(op.getLabels(),
                      RankedTensorType::get({rows}, tensorType(op.getLabels()).getElementType()));
  auto [m, s] = rowMaxAndSumExp(L, z);
  // (softmax(z) - one_hot(y)) * (g / N), softmax as exp(log_softmax)
  Value rowsF = L.scalar(elem, static_cast<double>(rows));
  // Per-row values as columns, so that they broadcast along the classes.
  Value grad = L.elementwise(
      matrix, ValueRange{z, column(L, m), column(L, s), column(L, y), op.getGrad()},
      [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
        Value shifted = arith::SubFOp::create(nb, nl, a[0], a[1]);
        Value logp =
            arith::SubFOp::create(nb, nl, shifted, math::LogOp::create(nb, nl, a[2]));
        Value p = math::ExpOp::create(nb, nl, logp);
        Value c = linalg::IndexOp::create(nb, nl, 1);
        Value label = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[3]);
        Value hit = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq, c, label);
        Value one = arith::ConstantOp::create(nb, nl, elem, nb.getFloatAttr(elem, 1.0));
        Value diff = arith::SelectOp::create(
            nb, nl, hit, arith::SubFOp::create(nb, nl, p, one), p);
        Value scale = arith::DivFOp::create(nb, nl, a[4], rowsF);
        return arith::MulFOp::create(nb, nl, diff, scale);
      });
  return L.reshape(grad, logitsType);
}

Value lowerMseLoss(Lowering &L, MseLossOp op) {
  RankedTensorType type = tensorType(op.getInput());
  SmallVector<int64_t> all;
  for (int64_t d = 0; d < type.getRank(); ++d)
    all.push_back(d);
  Value diffSq = L.elementwise(type, ValueRange{op.getInput(), op.getTarget()},
                               [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                 Value d = arith::SubFOp::create(nb, nl, a[0], a[1]);
                                 return arith::MulFOp::create(nb, nl, d, d);
                               });
  Value sum = L.sum(diffSq, all);
  Type elem = type.getElementType();
  return L.elementwise(cast<RankedTensorType>(op.getType()), ValueRange{sum},
                       [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                         return arith::DivFOp::create(
                             nb, nl, a[0],
                             L.scalar(elem, static_cast<double>(type.getNumElements())));
                       });
}

Value lowerSumTo(Lowering &L, SumToOp op) {
  ArrayRef<int64_t> in = tensorType(op.getInput()).getShape();
  ArrayRef<int64_t> out = op.getType().getShape();
  size_t offset = in.size() - out.size();
  SmallVector<int64_t> dims;
  for (size_t d = 0; d < in.size(); ++d)
    if (d < offset || (out[d - offset] == 1 && in[d] != 1))
      dims.push_back(d);
  Value reduced = L.sum(op.getInput(), dims);
  return L.reshape(reduced, cast<RankedTensorType>(op.getType()));
}

/// The step number t as f64: PyTorch computes the update's scalars in double
/// precision from Python floats.
Value stepAsDouble(Lowering &L, Value step) {
  Value t = tensor::ExtractOp::create(L.b, L.loc, step, ValueRange{});
  return arith::SIToFPOp::create(L.b, L.loc, L.b.getF64Type(), t);
}

SmallVector<Value> lowerAdamW(Lowering &L, AdamWUpdateOp op) {
  OpBuilder &b = L.b;
  Location loc = L.loc;
  AdamWAttr c = op.getConfig();
  Type f64 = b.getF64Type();
  Type elem = tensorType(op.getParam()).getElementType();
  double lr = c.getLr().convertToDouble(), beta1 = c.getBeta1().convertToDouble(),
         beta2 = c.getBeta2().convertToDouble(), eps = c.getEps().convertToDouble(),
         wd = c.getWeightDecay().convertToDouble();
  Value t = stepAsDouble(L, op.getStep());
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
        b2 = L.scalar(elem, beta2),
        w2 = L.scalar(elem, 1.0 - beta2), epsV = L.scalar(elem, eps);

  // One pass: reads g, and p, m, v through the outputs (updated in place).
  RankedTensorType type = tensorType(op.getParam());
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{type, type, type}, ValueRange{op.getGrad()},
      ValueRange{op.getParam(), op.getExpAvg(), op.getExpAvgSq()},
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
            nb, nl,
            arith::DivFOp::create(nb, nl, math::SqrtOp::create(nb, nl, v1), bc2),
            epsV);
        Value p2 = arith::AddFOp::create(
            nb, nl, p1,
            arith::MulFOp::create(nb, nl, negStep,
                                  arith::DivFOp::create(nb, nl, m1, denom)));
        linalg::YieldOp::create(nb, nl, ValueRange{p2, m1, v1});
      });
  return SmallVector<Value>(generic.getResults());
}

SmallVector<Value> lowerSGD(Lowering &L, SGDUpdateOp op) {
  OpBuilder &b = L.b;
  Location loc = L.loc;
  SGDAttr c = op.getConfig();
  Type elem = tensorType(op.getParam()).getElementType();
  double lr = c.getLr().convertToDouble(), momentum = c.getMomentum().convertToDouble(),
         dampening = c.getDampening().convertToDouble(),
         wd = c.getWeightDecay().convertToDouble();
  bool nesterov = c.getNesterov(), hasBuffer = momentum != 0.0;
  Value first;
  if (hasBuffer) {
    Value t = tensor::ExtractOp::create(b, loc, op.getStep(), ValueRange{});
    first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, t,
                                  L.scalar(b.getI64Type(), 1));
  }
  Value wdV = L.scalar(elem, wd), momV = L.scalar(elem, momentum),
        dampV = L.scalar(elem, 1.0 - dampening), negLr = L.scalar(elem, -lr);

  RankedTensorType type = tensorType(op.getParam());
  SmallVector<Value> outs{op.getParam()};
  if (hasBuffer)
    outs.push_back(op.getMomentumBuffer());
  AffineMap id = b.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, SmallVector<Type>(outs.size(), type), ValueRange{op.getGrad()}, outs,
      SmallVector<AffineMap>(1 + outs.size(), id), iterators,
      [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value d = a[0], p = a[1];
        if (wd != 0.0) // d = g + wd * p
          d = arith::AddFOp::create(nb, nl, d, arith::MulFOp::create(nb, nl, p, wdV));
        SmallVector<Value> yields;
        Value buf;
        if (hasBuffer) {
          // buf = t == 1 ? d : buf * momentum + (1 - dampening) * d
          Value later = arith::AddFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, a[2], momV),
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
  return SmallVector<Value>(generic.getResults());
}

/// A generic over `type` reading `input` (whose dimensions are the leading
/// ones of `type`) at the loop's leading indices; `body` gets its element.
Value overLeadingDims(Lowering &L, RankedTensorType type, Value input,
                      function_ref<Value(OpBuilder &, Location, Value)> body) {
  OpBuilder &b = L.b;
  int64_t rank = type.getRank(), inRank = tensorType(input).getRank();
  SmallVector<AffineExpr> exprs;
  for (int64_t d = 0; d < inRank; ++d)
    exprs.push_back(b.getAffineDimExpr(d));
  SmallVector<AffineMap> maps{AffineMap::get(rank, 0, exprs, b.getContext()),
                              b.getMultiDimIdentityMap(rank)};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, L.loc, type, ValueRange{input}, L.empty(type), maps, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange a) {
               linalg::YieldOp::create(nb, nl, body(nb, nl, a[0]));
             })
      .getResult(0);
}

/// Rows of a tensor [..., D] as a matrix [R, D].
RankedTensorType asRows(Value v) {
  RankedTensorType t = tensorType(v);
  int64_t d = t.getShape().back();
  return RankedTensorType::get({t.getNumElements() / d, d}, t.getElementType());
}

/// Per-row statistics of layer_norm: mean and 1 / sqrt(biased var + eps).
std::pair<Value, Value> rowMoments(Lowering &L, Value x2, double eps) {
  RankedTensorType t = tensorType(x2);
  Type elem = t.getElementType();
  auto rowType = RankedTensorType::get({t.getDimSize(0)}, elem);
  Value n = L.scalar(elem, static_cast<double>(t.getDimSize(1)));
  Value sum = L.sum(x2, {1});
  Value mean = L.elementwise(rowType, ValueRange{sum}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
    return arith::DivFOp::create(nb, nl, a[0], n);
  });
  Value sq = L.sum(x2, {1}, ValueRange{mean},
                      [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                        Value c = arith::SubFOp::create(nb, nl, a[0], a[1]);
                        return arith::MulFOp::create(nb, nl, c, c);
                      });
  Value epsV = L.scalar(elem, eps);
  Value rstd = L.elementwise(rowType, ValueRange{sq}, [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
    Value var = arith::DivFOp::create(nb, nl, a[0], n);
    Value sd = math::SqrtOp::create(nb, nl, arith::AddFOp::create(nb, nl, var, epsV));
    Value one = arith::ConstantOp::create(nb, nl, nb.getFloatAttr(elem, 1.0));
    return arith::DivFOp::create(nb, nl, one, sd);
  });
  return {mean, rstd};
}

Value lowerLayerNorm(Lowering &L, LayerNormOp op) {
  Value x2 = L.reshape(op.getInput(), asRows(op.getInput()));
  auto [mean, rstd] = rowMoments(L, x2, op.getEps().convertToDouble());
  // (x - mean) * rstd * w + b
  Value y = L.elementwise(asRows(op.getInput()),
                          ValueRange{x2, column(L, mean), column(L, rstd), op.getWeight(), op.getBias()},
                          [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            Value xhat = arith::MulFOp::create(
                                nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]), a[2]);
                            return arith::AddFOp::create(
                                nb, nl, arith::MulFOp::create(nb, nl, xhat, a[3]), a[4]);
                          });
  return L.reshape(y, cast<RankedTensorType>(op.getType()));
}

Value lowerLayerNormGrad(Lowering &L, LayerNormGradOp op) {
  RankedTensorType rows = asRows(op.getInput());
  Type elem = rows.getElementType();
  Value x2 = L.reshape(op.getInput(), rows);
  Value g2 = L.reshape(op.getGrad(), rows);
  auto [mean, rstd] = rowMoments(L, x2, op.getEps().convertToDouble());
  Value meanCol = column(L, mean), rstdCol = column(L, rstd);
  Value n = L.scalar(elem, static_cast<double>(rows.getDimSize(1)));
  auto mul = [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
    return arith::MulFOp::create(nb, nl, a[0], a[1]);
  };
  Value xhat = L.elementwise(rows, ValueRange{x2, meanCol, rstdCol},
                             [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                               return arith::MulFOp::create(
                                   nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]), a[2]);
                             });
  Value gw = L.elementwise(rows, ValueRange{g2, op.getWeight()}, mul);
  Value gwx = L.elementwise(rows, ValueRange{gw, xhat}, mul);
  Value sumA = column(L, L.sum(gw, {1}));
  Value sumC = column(L, L.sum(gwx, {1}));
  // rstd * (gw - mean(gw) - x^ * mean(gw * x^))
  Value dx = L.elementwise(rows, ValueRange{gw, xhat, sumA, sumC, rstdCol},
                           [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                             Value ma = arith::DivFOp::create(nb, nl, a[2], n);
                             Value mc = arith::DivFOp::create(nb, nl, a[3], n);
                             Value t = arith::SubFOp::create(
                                 nb, nl, arith::SubFOp::create(nb, nl, a[0], ma),
                                 arith::MulFOp::create(nb, nl, a[1], mc));
                             return arith::MulFOp::create(nb, nl, a[4], t);
                           });
  return L.reshape(dx, cast<RankedTensorType>(op.getType()));
}

/// softmax (or log_softmax) along the last dimension, from x - max(x).
Value lowerSoftmax(Lowering &L, Value input, bool log) {
  RankedTensorType rows = asRows(input);
  Value x2 = L.reshape(input, rows);
  auto [m, s] = rowMaxAndSumExp(L, x2);
  Value y = L.elementwise(rows, ValueRange{x2, column(L, m), column(L, s)},
                          [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                            Value shifted = arith::SubFOp::create(nb, nl, a[0], a[1]);
                            if (log)
                              return arith::SubFOp::create(nb, nl, shifted,
                                                           math::LogOp::create(nb, nl, a[2]));
                            return arith::DivFOp::create(nb, nl, math::ExpOp::create(nb, nl, shifted),
                                                         a[2]);
                          });
  return L.reshape(y, tensorType(input));
}

/// gelu (exact or tanh) and its derivative at x.
Value geluScalar(OpBuilder &b, Location l, Value x, bool tanh, bool derivative) {
  Type t = x.getType();
  auto c = [&](double v) { return arith::ConstantOp::create(b, l, b.getFloatAttr(t, v)).getResult(); };
  auto mul = [&](Value p, Value q) { return arith::MulFOp::create(b, l, p, q).getResult(); };
  auto add = [&](Value p, Value q) { return arith::AddFOp::create(b, l, p, q).getResult(); };
  Value half = c(0.5), one = c(1.0);
  if (tanh) {
    // u = sqrt(2/pi) (x + 0.044715 x^3), y = x (1 + tanh u) / 2
    Value k = c(std::sqrt(2.0 / M_PI)), cube = c(0.044715);
    Value x2 = mul(x, x);
    Value u = mul(k, add(x, mul(cube, mul(x2, x))));
    Value th = math::TanhOp::create(b, l, u);
    if (!derivative)
      return mul(mul(half, x), add(one, th));
    // y' = (1 + t) / 2 + x (1 - t^2) k (1 + 3 * 0.044715 x^2) / 2
    Value dt = arith::SubFOp::create(b, l, one, mul(th, th));
    Value du = mul(k, add(one, mul(c(3 * 0.044715), x2)));
    return add(mul(half, add(one, th)), mul(mul(half, x), mul(dt, du)));
  }
  // y = x (1 + erf(x / sqrt 2)) / 2
  Value e = math::ErfOp::create(b, l, mul(x, c(M_SQRT1_2)));
  if (!derivative)
    return mul(mul(half, x), add(one, e));
  // y' = (1 + erf(x / sqrt 2)) / 2 + x exp(-x^2 / 2) / sqrt(2 pi)
  Value pdf = math::ExpOp::create(b, l, mul(c(-0.5), mul(x, x)));
  return add(mul(half, add(one, e)), mul(x, mul(pdf, c(1.0 / std::sqrt(2.0 * M_PI)))));
}

/// splitmix64's finalizer: a bijection of i64 whose output bits each depend
/// on every input bit.
Value mix64(OpBuilder &b, Location l, Value z) {
  auto c = [&](uint64_t v) {
    return arith::ConstantOp::create(b, l, b.getI64IntegerAttr(static_cast<int64_t>(v)))
        .getResult();
  };
  auto xorShift = [&](Value v, uint64_t shift) {
    return arith::XOrIOp::create(b, l, v, arith::ShRUIOp::create(b, l, v, c(shift)))
        .getResult();
  };
  z = arith::MulIOp::create(b, l, xorShift(z, 30), c(0xBF58476D1CE4E5B9ull));
  z = arith::MulIOp::create(b, l, xorShift(z, 27), c(0x94D049BB133111EBull));
  return xorShift(z, 31);
}

/// dropout: keep element i when the top 32 bits of
/// mix64(key + (i + 1) * golden) are >= p * 2^32, with
/// key = mix64(mix64(mix64(seed) ^ step) ^ stream): splitmix64's sequence
/// from a seed that differs per (seed, step, stream). Kept elements are
/// scaled by 1 / (1 - p); with training = 0 the input passes unchanged.
FailureOr<Value> lowerDropout(Lowering &L, DropoutOp op) {
  double p = op.getP().convertToDouble();
  if (p == 0.0)
    return op.getInput();
  if (!op.getRng())
    return op.emitError() << "dropout needs the RNG state: run ftc-bind-abi first";
  OpBuilder &b = L.b;
  Location loc = op.getLoc();
  auto type = cast<RankedTensorType>(op.getType());
  auto index = [&](int64_t i) {
    return arith::ConstantIndexOp::create(b, loc, i).getResult();
  };
  auto i64 = [&](int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)).getResult();
  };
  Value rng = op.getRng();
  Value seed = tensor::ExtractOp::create(b, loc, rng, index(0));
  Value step = tensor::ExtractOp::create(b, loc, rng, index(1));
  Value training = tensor::ExtractOp::create(b, loc, rng, index(2));
  Value key = mix64(b, loc, arith::XOrIOp::create(b, loc, mix64(b, loc, seed), step));
  key = mix64(b, loc, arith::XOrIOp::create(b, loc, key, i64(op.getStream().value_or(0))));
  Value active = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, training, i64(0));
  // Drop when the 32-bit draw is below p * 2^32 (p = 1 drops everything).
  auto threshold = static_cast<int64_t>(std::llround(p * 4294967296.0));
  Type elem = type.getElementType();
  double scale = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
  Value result = L.elementwise(type, op.getInput(), [&](OpBuilder &nb, Location nl,
                                                        ValueRange a) -> Value {
    // The element's row-major index.
    Value linear = arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(0));
    for (int64_t d = 0; d < type.getRank(); ++d) {
      Value i = arith::IndexCastOp::create(nb, nl, nb.getI64Type(),
                                           linalg::IndexOp::create(nb, nl, d));
      Value size = arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(type.getDimSize(d)));
      linear = arith::AddIOp::create(nb, nl, arith::MulIOp::create(nb, nl, linear, size), i);
    }
    Value one = arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(1));
    Value golden = arith::ConstantOp::create(
        nb, nl, nb.getI64IntegerAttr(static_cast<int64_t>(0x9E3779B97F4A7C15ull)));
    Value counter = arith::AddIOp::create(
        nb, nl, key,
        arith::MulIOp::create(nb, nl, arith::AddIOp::create(nb, nl, linear, one), golden));
    Value draw = arith::ShRUIOp::create(
        nb, nl, mix64(nb, nl, counter),
        arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(32)));
    Value keep = arith::CmpIOp::create(
        nb, nl, arith::CmpIPredicate::uge, draw,
        arith::ConstantOp::create(nb, nl, nb.getI64IntegerAttr(threshold)));
    Value scaled = arith::MulFOp::create(
        nb, nl, a[0], arith::ConstantOp::create(nb, nl, nb.getFloatAttr(elem, scale)));
    Value zero = arith::ConstantOp::create(nb, nl, nb.getFloatAttr(elem, 0.0));
    Value dropped = arith::SelectOp::create(nb, nl, keep, scaled, zero);
    return arith::SelectOp::create(nb, nl, active, dropped, a[0]);
  });
  return result;
}

/// Where a piece of type `piece` sits in a tensor it was cut from (or is
/// put into): at `offset` along `dim`, everything along the other dimensions.
struct Window {
  SmallVector<OpFoldResult> offsets, sizes, strides;
};
Window windowAlong(OpBuilder &b, RankedTensorType piece, int64_t dim, int64_t offset) {
  Window w;
  w.offsets.assign(piece.getRank(), b.getIndexAttr(0));
  w.strides.assign(piece.getRank(), b.getIndexAttr(1));
  for (int64_t size : piece.getShape())
    w.sizes.push_back(b.getIndexAttr(size));
  w.offsets[dim] = b.getIndexAttr(offset);
  return w;
}

/// The replacement values of `op`, or failure for an op with no lowering.
FailureOr<SmallVector<Value>> lowerOp(Operation *op) {
  OpBuilder b(op);
  Lowering L(b, op->getLoc());
  auto one = [](Value v) { return SmallVector<Value>{v}; };
  return llvm::TypeSwitch<Operation *, FailureOr<SmallVector<Value>>>(op)
      .Case([&](ConstantOp c) {
        return one(arith::ConstantOp::create(b, op->getLoc(),
                                             cast<TypedAttr>(c.getValue())));
      })
      .Case([&](FillOp f) {
        auto type = cast<RankedTensorType>(f.getType());
        double v = f.getValue().convertToDouble();
        if (type.getRank() == 0)
          return one(arith::ConstantOp::create(
              b, op->getLoc(),
              DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), v))));
        return one(L.filled(type, v));
      })
      .Case([&](AddOp) { return one(lowerBinary<arith::AddFOp>(L, op)); })
      .Case([&](SubOp) { return one(lowerBinary<arith::SubFOp>(L, op)); })
      .Case([&](MulOp) { return one(lowerBinary<arith::MulFOp>(L, op)); })
      .Case([&](DivOp) { return one(lowerBinary<arith::DivFOp>(L, op)); })
      .Case([&](NegOp) { return one(lowerUnary<arith::NegFOp>(L, op)); })
      .Case([&](ExpOp) { return one(lowerUnary<math::ExpOp>(L, op)); })
      .Case([&](LogOp) { return one(lowerUnary<math::LogOp>(L, op)); })
      .Case([&](TanhOp) { return one(lowerUnary<math::TanhOp>(L, op)); })
      .Case([&](ReluOp r) {
        return one(L.elementwise(cast<RankedTensorType>(r.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Value zero = arith::ConstantOp::create(
                                       nb, nl, nb.getFloatAttr(a[0].getType(), 0.0));
                                   return arith::MaximumFOp::create(nb, nl, a[0], zero);
                                 }));
      })
      .Case([&](SigmoidOp s) {
        // 1 / (1 + exp(-x))
        return one(L.elementwise(cast<RankedTensorType>(s.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Type t = a[0].getType();
                                   Value one = arith::ConstantOp::create(
                                       nb, nl, nb.getFloatAttr(t, 1.0));
                                   Value e = math::ExpOp::create(
                                       nb, nl, arith::NegFOp::create(nb, nl, a[0]));
                                   return arith::DivFOp::create(
                                       nb, nl, one, arith::AddFOp::create(nb, nl, one, e));
                                 }));
      })
      .Case([&](ReluGradOp r) {
        return one(L.elementwise(cast<RankedTensorType>(r.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Value zero = arith::ConstantOp::create(
                                       nb, nl, nb.getFloatAttr(a[0].getType(), 0.0));
                                   Value pos = arith::CmpFOp::create(
                                       nb, nl, arith::CmpFPredicate::OGT, a[1], zero);
                                   return arith::SelectOp::create(nb, nl, pos, a[0], zero);
                                 }));
      })
      .Case([&](EqualOp e) {
        return one(L.elementwise(cast<RankedTensorType>(e.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Type t = a[0].getType();
                                   Value eq = arith::CmpFOp::create(
                                       nb, nl, arith::CmpFPredicate::OEQ, a[0], a[1]);
                                   return arith::SelectOp::create(
                                       nb, nl, eq,
                                       arith::ConstantOp::create(nb, nl, nb.getFloatAttr(t, 1.0)),
                                       arith::ConstantOp::create(nb, nl, nb.getFloatAttr(t, 0.0)));
                                 }));
      })
      .Case([&](CastOp c) {
        auto type = cast<RankedTensorType>(c.getType());
        return one(L.elementwise(type, op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   return convertScalar(nb, nl, a[0], type.getElementType());
                                 }));
      })
      .Case([&](BroadcastOp bc) {
        return one(L.elementwise(cast<RankedTensorType>(bc.getType()), op->getOperands(),
                                 [](OpBuilder &, Location, ValueRange a) { return a[0]; }));
      })
      .Case([&](SumToOp s) { return one(lowerSumTo(L, s)); })
      .Case([&](SumOp s) {
        return one(L.reshape(L.sum(s.getInput(), s.getDims()),
                             cast<RankedTensorType>(s.getType())));
      })
      .Case([&](MaxOp m) {
        return one(L.reshape(L.reduce(m.getInput(), m.getDims(),
                                      -std::numeric_limits<double>::infinity(), maxF),
                             cast<RankedTensorType>(m.getType())));
      })
      .Case([&](MeanOp m) {
        auto type = cast<RankedTensorType>(m.getType());
        Value sum = L.reshape(L.sum(m.getInput(), m.getDims()), type);
        int64_t n = 1;
        for (int64_t d : m.getDims())
          n *= tensorType(m.getInput()).getDimSize(d);
        Value count = L.scalar(type.getElementType(), static_cast<double>(n));
        return one(L.elementwise(type, ValueRange{sum},
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   return arith::DivFOp::create(nb, nl, a[0], count);
                                 }));
      })
      .Case([&](ReshapeOp r) {
        return one(L.reshape(r.getInput(), cast<RankedTensorType>(r.getType())));
      })
      .Case([&](TransposeOp t) {
        auto type = cast<RankedTensorType>(t.getType());
        return one(linalg::TransposeOp::create(b, op->getLoc(), t.getInput(),
                                               L.empty(type), t.getPermutation())
                       .getResult()[0]);
      })
      .Case([&](MatmulOp m) {
        return one(L.matmul(m.getLhs(), m.getRhs(), m.getTransposeLhs(),
                            m.getTransposeRhs(), cast<RankedTensorType>(m.getType())));
      })
      .Case([&](LinearOp lin) {
        // y = x W^T (+ b), over x flattened to [M, in]
        RankedTensorType x = tensorType(lin.getInput());
        auto result = cast<RankedTensorType>(lin.getType());
        int64_t in = x.getShape().back(), out = result.getShape().back();
        int64_t rows = x.getNumElements() / in;
        Type elem = x.getElementType();
        Value x2 = L.reshape(lin.getInput(), RankedTensorType::get({rows, in}, elem));
        auto yType = RankedTensorType::get({rows, out}, elem);
        Value y = L.matmul(x2, lin.getWeight(), false, true, yType);
        if (lin.getBias())
          y = L.elementwise(yType, ValueRange{y, lin.getBias()},
                            [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                              return arith::AddFOp::create(nb, nl, a[0], a[1]);
                            });
        return one(L.reshape(y, result));
      })
      .Case([&](EmbeddingOp e) {
        // result[n..., d] = table[indices[n...], d]
        auto type = cast<RankedTensorType>(e.getType());
        Value table = e.getTable();
        return one(overLeadingDims(L, type, e.getIndices(),
                                   [&](OpBuilder &nb, Location nl, Value index) -> Value {
                                     Value row = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), index);
                                     Value col = linalg::IndexOp::create(nb, nl, type.getRank() - 1);
                                     return tensor::ExtractOp::create(nb, nl, table, ValueRange{row, col});
                                   }));
      })
      .Case([&](EmbeddingGradOp e) {
        // A scatter-add in position order: out[idx[p], :] += g[p, :].
        auto type = cast<RankedTensorType>(e.getType());
        Location loc = op->getLoc();
        int64_t d = type.getDimSize(1);
        Value g = L.reshape(e.getGrad(), asRows(e.getGrad()));
        int64_t positions = tensorType(g).getDimSize(0);
        Value idx = L.reshape(e.getIndices(),
                              RankedTensorType::get({positions}, tensorType(e.getIndices()).getElementType()));
        Value zero = arith::ConstantIndexOp::create(b, loc, 0);
        Value step = arith::ConstantIndexOp::create(b, loc, 1);
        auto outer = scf::ForOp::create(
            b, loc, zero, arith::ConstantIndexOp::create(b, loc, positions), step,
            ValueRange{L.filled(type, 0.0)},
            [&](OpBuilder &ob, Location ol, Value p, ValueRange acc) {
              Value row = arith::IndexCastOp::create(
                  ob, ol, ob.getIndexType(), tensor::ExtractOp::create(ob, ol, idx, ValueRange{p}));
              auto inner = scf::ForOp::create(
                  ob, ol, zero, arith::ConstantIndexOp::create(ob, ol, d), step, acc,
                  [&](OpBuilder &ib, Location il, Value c, ValueRange acc2) {
                    Value sum = arith::AddFOp::create(
                        ib, il, tensor::ExtractOp::create(ib, il, acc2[0], ValueRange{row, c}),
                        tensor::ExtractOp::create(ib, il, g, ValueRange{p, c}));
                    scf::YieldOp::create(ib, il, tensor::InsertOp::create(ib, il, sum, acc2[0],
                                                                          ValueRange{row, c})
                                                     .getResult());
                  });
              scf::YieldOp::create(ob, ol, inner.getResults());
            });
        return one(outer.getResult(0));
      })
      .Case([&](LayerNormOp n) { return one(lowerLayerNorm(L, n)); })
      .Case([&](LayerNormGradOp n) { return one(lowerLayerNormGrad(L, n)); })
      .Case([&](SoftmaxOp s) { return one(lowerSoftmax(L, s.getInput(), false)); })
      .Case([&](LogSoftmaxOp s) { return one(lowerSoftmax(L, s.getInput(), true)); })
      .Case([&](GeluOp g) {
        bool tanh = g.getTanh();
        return one(L.elementwise(cast<RankedTensorType>(g.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   return geluScalar(nb, nl, a[0], tanh, false);
                                 }));
      })
      .Case([&](GeluGradOp g) {
        bool tanh = g.getTanh();
        return one(L.elementwise(cast<RankedTensorType>(g.getType()), op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   return arith::MulFOp::create(
                                       nb, nl, a[0], geluScalar(nb, nl, a[1], tanh, true));
                                 }));
      })
      .Case([&](DropoutOp d) -> FailureOr<SmallVector<Value>> {
        FailureOr<Value> v = lowerDropout(L, d);
        if (failed(v))
          return failure();
        return one(*v);
      })
      .Case([&](CausalMaskOp m) {
        auto type = cast<RankedTensorType>(m.getType());
        int64_t rank = type.getRank();
        double fill = m.getZero() ? 0.0 : -std::numeric_limits<double>::infinity();
        return one(L.elementwise(type, op->getOperands(),
                                 [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                                   Value i = linalg::IndexOp::create(nb, nl, rank - 2);
                                   Value j = linalg::IndexOp::create(nb, nl, rank - 1);
                                   Value above = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ugt, j, i);
                                   Value masked = arith::ConstantOp::create(
                                       nb, nl, nb.getFloatAttr(a[0].getType(), fill));
                                   return arith::SelectOp::create(nb, nl, above, masked, a[0]);
                                 }));
      })
      .Case([&](SliceOp sl) {
        auto type = cast<RankedTensorType>(sl.getType());
        Window w = windowAlong(b, type, sl.getDim(), sl.getStart());
        return one(tensor::ExtractSliceOp::create(b, op->getLoc(), type, sl.getInput(),
                                                  w.offsets, w.sizes, w.strides)
                       .getResult());
      })
      .Case([&](SplitOp sp) {
        SmallVector<Value> pieces;
        int64_t offset = 0;
        for (Value piece : sp.getResults()) {
          RankedTensorType t = tensorType(piece);
          Window w = windowAlong(b, t, sp.getDim(), offset);
          pieces.push_back(tensor::ExtractSliceOp::create(b, op->getLoc(), t, sp.getInput(),
                                                          w.offsets, w.sizes, w.strides));
          offset += t.getDimSize(sp.getDim());
        }
        return pieces;
      })
      .Case([&](ConcatOp cc) {
        Value acc = L.empty(cast<RankedTensorType>(cc.getType()));
        int64_t offset = 0;
        for (Value in : cc.getInputs()) {
          Window w = windowAlong(b, tensorType(in), cc.getDim(), offset);
          acc = tensor::InsertSliceOp::create(b, op->getLoc(), in, acc, w.offsets, w.sizes,
                                              w.strides);
          offset += tensorType(in).getDimSize(cc.getDim());
        }
        return one(acc);
      })
      .Case([&](PadOp pd) {
        auto type = cast<RankedTensorType>(pd.getType());
        Window w = windowAlong(b, tensorType(pd.getInput()), pd.getDim(), pd.getStart());
        return one(tensor::InsertSliceOp::create(b, op->getLoc(), pd.getInput(),
                                                 L.filled(type, 0.0), w.offsets, w.sizes,
                                                 w.strides)
                       .getResult());
      })
      .Case([&](CrossEntropyOp ce) { return one(lowerCrossEntropy(L, ce)); })
      .Case([&](CrossEntropyGradOp ce) { return one(lowerCrossEntropyGrad(L, ce)); })
      .Case([&](MseLossOp mse) { return one(lowerMseLoss(L, mse)); })
      .Case([&](AdamWUpdateOp u) { return lowerAdamW(L, u); })
      .Case([&](SGDUpdateOp u) { return lowerSGD(L, u); })
      .Default([&](Operation *) -> FailureOr<SmallVector<Value>> {
        return op->emitError() << "'" << op->getName()
                               << "' has no lowering to linalg; bind parameters "
                                  "with ftc-bind-abi before ftc-lower-train";
      });
}

//===----------------------------------------------------------------------===//
// Composite ops, expanded into train ops before lowering
//===----------------------------------------------------------------------===//

/// Multiplies attention scores by the op's scale, or divides them by
/// sqrt(D) without one (as GPT-2 writes it, so that the fused op computes
/// what the unfused ops compute, bit for bit).
Value scaleScores(OpBuilder &b, Location loc, Value scores, Value query,
                  FloatAttr scale) {
  auto scalar = RankedTensorType::get({}, tensorType(scores).getElementType());
  if (scale)
    return MulOp::create(b, loc, scores,
                         FillOp::create(b, loc, scalar, b.getF64FloatAttr(scale.getValueAsDouble())));
  double depth = static_cast<double>(tensorType(query).getShape().back());
  return DivOp::create(b, loc, scores,
                       FillOp::create(b, loc, scalar, b.getF64FloatAttr(std::sqrt(depth))));
}

/// P = softmax(mask(q k^T * scale)).
Value attentionProbabilities(OpBuilder &b, Location loc, Value query, Value key,
                             bool causal, FloatAttr scale) {
  Value scores = scaleScores(b, loc, MatmulOp::create(b, loc, query, key, false, true),
                             query, scale);
  if (causal)
    scores = CausalMaskOp::create(b, loc, scores, /*zero=*/false);
  return SoftmaxOp::create(b, loc, scores);
}

SmallVector<Value> expandAttention(OpBuilder &b, AttentionOp op) {
  Value p = attentionProbabilities(b, op.getLoc(), op.getQuery(), op.getKey(),
                                   op.getCausal(), op.getScaleAttr());
  return {MatmulOp::create(b, op.getLoc(), p, op.getValue())};
}

SmallVector<Value> expandAttentionGrad(OpBuilder &b, AttentionGradOp op) {
  Location loc = op.getLoc();
  Value g = op.getGrad(), q = op.getQuery(), k = op.getKey(), v = op.getValue();
  Value p = attentionProbabilities(b, loc, q, k, op.getCausal(), op.getScaleAttr());
  Value dv = MatmulOp::create(b, loc, p, g, /*transposeLhs=*/true, false);
  Value dp = MatmulOp::create(b, loc, g, v, false, /*transposeRhs=*/true);
  int64_t last = tensorType(p).getRank() - 1;
  Value dot = SumOp::create(b, loc, MulOp::create(b, loc, dp, p),
                            ArrayRef<int64_t>{last}, /*keepdim=*/true);
  Value ds = scaleScores(b, loc, MulOp::create(b, loc, p, SubOp::create(b, loc, dp, dot)),
                         q, op.getScaleAttr());
  Value dq = MatmulOp::create(b, loc, ds, k);
  Value dk = MatmulOp::create(b, loc, ds, q, /*transposeLhs=*/true, false);
  return {dq, dk, dv};
}

/// Replaces the composite ops of `func` by the train ops they stand for.
void expandComposites(func::FuncOp func) {
  SmallVector<Operation *> composites;
  func.walk([&](Operation *op) {
    if (isa<AttentionOp, AttentionGradOp>(op))
      composites.push_back(op);
  });
  for (Operation *op : composites) {
    OpBuilder b(op);
    SmallVector<Value> values =
        llvm::TypeSwitch<Operation *, SmallVector<Value>>(op)
            .Case([&](AttentionOp a) { return expandAttention(b, a); })
            .Case([&](AttentionGradOp a) { return expandAttentionGrad(b, a); });
    op->replaceAllUsesWith(values);
    op->erase();
  }
}

struct LowerTrainPass : public ftc::impl::LowerTrainBase<LowerTrainPass> {
  void runOnOperation() override {
    expandComposites(getOperation());
    SmallVector<Operation *> ops;
    getOperation().walk([&](Operation *op) {
      if (isa<TrainDialect>(op->getDialect()))
        ops.push_back(op);
    });
    for (Operation *op : ops) {
      FailureOr<SmallVector<Value>> replacements = lowerOp(op);
      if (failed(replacements))
        return signalPassFailure();
      op->replaceAllUsesWith(*replacements);
      op->erase();
    }
  }
};

} // namespace
