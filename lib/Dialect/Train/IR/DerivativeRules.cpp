//===- DerivativeRules.cpp - reverse-mode rules of the train ops ----------===//
//
// One rule per op. `g` is the adjoint of the result (d loss / d result); each
// rule states the adjoints it builds in a one-line comment. Broadcast
// operands get their adjoint summed back to their own shape (sum_to). At the
// end, external models give upstream elementwise ops the same interface.
//
//===----------------------------------------------------------------------===//

#include "ftc/Dialect/Train/IR/DerivativeRules.h"
#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace ftc::train;

namespace {
/// The building blocks of the rules, at one location.
struct RuleBuilder {
  OpBuilder &b;
  Location loc;

  static RankedTensorType typeOf(Value v) {
    return cast<RankedTensorType>(v.getType());
  }
  /// A 0-d tensor holding `value`, in `like`'s element type.
  Value scalar(double value, Value like) {
    auto type = RankedTensorType::get({}, typeOf(like).getElementType());
    return FillOp::create(b, loc, type, b.getF64FloatAttr(value));
  }
  Value add(Value x, Value y) { return AddOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, x, y); }
  Value neg(Value x) { return NegOp::create(b, loc, x); }
  Value matmul(Value x, Value y, bool tx, bool ty) {
    return MatmulOp::create(b, loc, x, y, tx, ty);
  }
  Value reshape(Value x, Type type) {
    return x.getType() == type ? x : ReshapeOp::create(b, loc, type, x).getResult();
  }
  /// Sums `g` back to `type`, the shape an operand had before broadcasting.
  Value sumTo(Value g, Type type) {
    return g.getType() == type ? g : SumToOp::create(b, loc, type, g).getResult();
  }
  Value broadcast(Value g, Type type) {
    return g.getType() == type ? g
                               : BroadcastOp::create(b, loc, type, g).getResult();
  }
  // Elementwise maths shared by the train ops and their upstream
  // counterparts (arith/math on tensors).
  /// d(a / b) / db = -g * a / (b * b)
  Value divisorAdjoint(Value g, Value a, Value b) {
    return neg(div(mul(g, a), mul(b, b)));
  }
  /// d tanh(x) = g * (1 - y * y), y = tanh(x)
  Value tanhAdjoint(Value g, Value y) { return mul(g, sub(scalar(1.0, y), mul(y, y))); }

  /// The reduced tensor `g` with the reduced `dims` put back as size 1.
  Value keepDims(Value g, Value input, ArrayRef<int64_t> dims) {
    SmallVector<int64_t> shape(typeOf(input).getShape());
    for (int64_t d : dims)
      shape[d] = 1;
    return reshape(g, RankedTensorType::get(shape, typeOf(g).getElementType()));
  }
};

/// Sets adjoint `i` when it is needed.
template <typename Fn>
void setIfNeeded(ArrayRef<bool> needed, MutableArrayRef<Value> adjoints,
                 unsigned i, Fn &&build) {
  if (i < needed.size() && needed[i])
    adjoints[i] = build();
}
} // namespace

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

// d(a + b) = (g, g), summed to each operand's shape.
LogicalResult AddOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0];
  setIfNeeded(needed, adj, 0, [&] { return r.sumTo(g, getLhs().getType()); });
  setIfNeeded(needed, adj, 1, [&] { return r.sumTo(g, getRhs().getType()); });
  return success();
}
SmallVector<Value> AddOp::getSavedForBackward() { return {}; }

// d(a - b) = (g, -g)
LogicalResult SubOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0];
  setIfNeeded(needed, adj, 0, [&] { return r.sumTo(g, getLhs().getType()); });
  setIfNeeded(needed, adj, 1,
              [&] { return r.sumTo(r.neg(g), getRhs().getType()); });
  return success();
}
SmallVector<Value> SubOp::getSavedForBackward() { return {}; }

// d(a * b) = (g * b, g * a)
LogicalResult MulOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0];
  setIfNeeded(needed, adj, 0,
              [&] { return r.sumTo(r.mul(g, getRhs()), getLhs().getType()); });
  setIfNeeded(needed, adj, 1,
              [&] { return r.sumTo(r.mul(g, getLhs()), getRhs().getType()); });
  return success();
}

// d(a / b) = (g / b, -g * a / (b * b))
LogicalResult DivOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0], lhs = getLhs(), rhs = getRhs();
  setIfNeeded(needed, adj, 0,
              [&] { return r.sumTo(r.div(g, rhs), lhs.getType()); });
  setIfNeeded(needed, adj, 1,
              [&] { return r.sumTo(r.divisorAdjoint(g, lhs, rhs), rhs.getType()); });
  return success();
}

// d(-x) = -g
LogicalResult NegOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] { return r.neg(res[0]); });
  return success();
}
SmallVector<Value> NegOp::getSavedForBackward() { return {}; }

// d relu(x) = g where relu(x) > 0, else 0
LogicalResult ReluOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return ReluGradOp::create(b, getLoc(), res[0], getResult()).getResult();
  });
  return success();
}
SmallVector<Value> ReluOp::getSavedForBackward() { return {getResult()}; }

// d exp(x) = g * exp(x)
LogicalResult ExpOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] { return r.mul(res[0], getResult()); });
  return success();
}
SmallVector<Value> ExpOp::getSavedForBackward() { return {getResult()}; }

// d log(x) = g / x
LogicalResult LogOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] { return r.div(res[0], getInput()); });
  return success();
}

// d tanh(x) = g * (1 - y * y), y = tanh(x)
LogicalResult TanhOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] { return r.tanhAdjoint(res[0], getResult()); });
  return success();
}
SmallVector<Value> TanhOp::getSavedForBackward() { return {getResult()}; }

// d sigmoid(x) = g * (1 - y) * y, y = sigmoid(x)
LogicalResult SigmoidOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                       ArrayRef<bool> needed,
                                       MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value y = getResult();
  setIfNeeded(needed, adj, 0, [&] {
    return r.mul(r.mul(res[0], r.sub(r.scalar(1.0, y), y)), y);
  });
  return success();
}
SmallVector<Value> SigmoidOp::getSavedForBackward() { return {getResult()}; }

// d sqrt(x) = g * 0.5 / y, y = sqrt(x)
LogicalResult SqrtOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value y = getResult();
  setIfNeeded(needed, adj, 0, [&] { return r.div(r.mul(res[0], r.scalar(0.5, y)), y); });
  return success();
}
SmallVector<Value> SqrtOp::getSavedForBackward() { return {getResult()}; }

// d cast(x) = cast(g) back to x's float type; integers get no gradient
LogicalResult CastOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  Type from = RuleBuilder::typeOf(getInput()).getElementType();
  Type to = RuleBuilder::typeOf(getResult()).getElementType();
  if (!isa<FloatType>(from) || !isa<FloatType>(to))
    return success();
  setIfNeeded(needed, adj, 0, [&] {
    return CastOp::create(b, getLoc(), getInput().getType(), res[0]).getResult();
  });
  return success();
}
SmallVector<Value> CastOp::getSavedForBackward() { return {}; }

//===----------------------------------------------------------------------===//
// Reductions and shapes
//===----------------------------------------------------------------------===//

// d sum(x, dims) = broadcast(g) over dims
LogicalResult SumOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] {
    return r.broadcast(r.keepDims(res[0], getInput(), getDims()),
                       getInput().getType());
  });
  return success();
}
SmallVector<Value> SumOp::getSavedForBackward() { return {}; }

// d mean(x, dims) = broadcast(g) / n, n the number of reduced elements
LogicalResult MeanOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] {
    int64_t n = 1;
    for (int64_t d : getDims())
      n *= RuleBuilder::typeOf(getInput()).getDimSize(d);
    Value spread = r.broadcast(r.keepDims(res[0], getInput(), getDims()),
                               getInput().getType());
    return r.div(spread, r.scalar(static_cast<double>(n), spread));
  });
  return success();
}
SmallVector<Value> MeanOp::getSavedForBackward() { return {}; }

// d amax(x, dims) = g / count at every maximal element (ties share), else 0
// (the mask compares x with the result)
SmallVector<Value> MaxOp::getSavedForBackward() { return {getInput(), getResult()}; }
LogicalResult MaxOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] {
    Value x = getInput();
    Value mask = EqualOp::create(b, getLoc(), x,
                                 r.keepDims(getResult(), x, getDims()));
    Value count = SumOp::create(b, getLoc(), mask, getDims(), /*keepdim=*/true);
    Value share = r.div(r.keepDims(res[0], x, getDims()), count);
    return r.mul(mask, r.broadcast(share, x.getType()));
  });
  return success();
}

// d reshape(x) = reshape(g) back to x's shape
LogicalResult ReshapeOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                       ArrayRef<bool> needed,
                                       MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0,
              [&] { return r.reshape(res[0], getInput().getType()); });
  return success();
}
SmallVector<Value> ReshapeOp::getSavedForBackward() { return {}; }

// d transpose(x, p) = transpose(g, inverse(p))
LogicalResult TransposeOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                         ArrayRef<bool> needed,
                                         MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    ArrayRef<int64_t> perm = getPermutation();
    SmallVector<int64_t> inverse(perm.size());
    for (auto [i, p] : llvm::enumerate(perm))
      inverse[p] = i;
    return TransposeOp::create(b, getLoc(), res[0], inverse).getResult();
  });
  return success();
}
SmallVector<Value> TransposeOp::getSavedForBackward() { return {}; }

// d broadcast(x) = sum_to(g, x's shape)
LogicalResult BroadcastOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                         ArrayRef<bool> needed,
                                         MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0,
              [&] { return r.sumTo(res[0], getInput().getType()); });
  return success();
}

// d sum_to(x) = broadcast(g, x's shape)
LogicalResult SumToOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                     ArrayRef<bool> needed,
                                     MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0,
              [&] { return r.broadcast(res[0], getInput().getType()); });
  return success();
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

// C = op(A) op(B), op = transpose when flagged:
//   dA = g op(B)^T      (transpose_lhs: dA = op(B) g^T)
//   dB = op(A)^T g      (transpose_rhs: dB = g^T op(A))
LogicalResult MatmulOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                      ArrayRef<bool> needed,
                                      MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0], lhs = getLhs(), rhs = getRhs();
  bool tl = getTransposeLhs(), tr = getTransposeRhs();
  // An f32 product of 16-bit operands: its adjoint in the operands' type.
  if (auto type = cast<RankedTensorType>(g.getType());
      type.getElementType() != getLhs().getType().getElementType())
    g = CastOp::create(b, getLoc(), type.clone(getLhs().getType().getElementType()), g);
  setIfNeeded(needed, adj, 0, [&] {
    return tl ? r.matmul(rhs, g, tr, true) : r.matmul(g, rhs, false, !tr);
  });
  setIfNeeded(needed, adj, 1, [&] {
    return tr ? r.matmul(g, lhs, true, tl) : r.matmul(lhs, g, !tl, false);
  });
  return success();
}

// y = x W^T + b over x [..., in] flattened to [M, in]:
//   dx = g W,  dW = g^T x,  db = sum of g over its rows
LogicalResult LinearOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                      ArrayRef<bool> needed,
                                      MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value x = getInput(), w = getWeight();
  RankedTensorType xType = RuleBuilder::typeOf(x), gType = RuleBuilder::typeOf(res[0]);
  int64_t rows = xType.getNumElements() / xType.getShape().back();
  Type elem = xType.getElementType();
  auto matrix = [&](Value v, int64_t cols) {
    return r.reshape(v, RankedTensorType::get({rows, cols}, elem));
  };
  Value g2 = matrix(res[0], gType.getShape().back());
  setIfNeeded(needed, adj, 0, [&] {
    return r.reshape(r.matmul(g2, w, false, false), x.getType());
  });
  setIfNeeded(needed, adj, 1, [&] {
    return r.matmul(g2, matrix(x, xType.getShape().back()), true, false);
  });
  setIfNeeded(needed, adj, 2, [&] {
    return SumOp::create(b, getLoc(), g2, ArrayRef<int64_t>{0}).getResult();
  });
  return success();
}
SmallVector<Value> LinearOp::getSavedForBackward() {
  return {getInput(), getWeight()};
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

// d cross_entropy(z, y) / dz = g * (softmax(z) - one_hot(y)) / N
LogicalResult CrossEntropyOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                            ArrayRef<bool> needed,
                                            MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return CrossEntropyGradOp::create(b, getLoc(), getLogits().getType(), res[0],
                                      getLogits(), getLabels())
        .getResult();
  });
  return success();
}

// d mse(x, t) = (2 g / n) (x - t) for x, and its negation for t
LogicalResult MseLossOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                       ArrayRef<bool> needed,
                                       MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value x = getInput(), t = getTarget();
  double n = static_cast<double>(RuleBuilder::typeOf(x).getNumElements());
  Value dx = r.mul(r.mul(r.scalar(2.0 / n, res[0]), res[0]), r.sub(x, t));
  setIfNeeded(needed, adj, 0, [&] { return dx; });
  setIfNeeded(needed, adj, 1, [&] { return r.neg(dx); });
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

// d embedding(table, idx) / d table = scatter-add of g's rows at idx
LogicalResult EmbeddingOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                         ArrayRef<bool> needed,
                                         MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return EmbeddingGradOp::create(b, getLoc(), getTable().getType(), res[0],
                                   getIndices())
        .getResult();
  });
  return success();
}

// y = x^ w + b, x^ = (x - mean) rstd along the last dimension:
//   dx = layer_norm_grad(g, x, w), dw = sum of g x^ over rows, db = sum of g
LogicalResult LayerNormOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                         ArrayRef<bool> needed,
                                         MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  Value g = res[0], x = getInput(), w = getWeight();
  setIfNeeded(needed, adj, 0, [&] {
    return LayerNormGradOp::create(b, getLoc(), x.getType(), g, x, w, getEpsAttr())
        .getResult();
  });
  setIfNeeded(needed, adj, 1, [&] {
    // x^ is the same op with unit weight and zero bias.
    auto paramType = cast<RankedTensorType>(w.getType());
    Value ones = FillOp::create(b, getLoc(), paramType, b.getF64FloatAttr(1.0));
    Value zeros = FillOp::create(b, getLoc(), paramType, b.getF64FloatAttr(0.0));
    Value normalized = LayerNormOp::create(b, getLoc(), x.getType(), x, ones, zeros,
                                           getEpsAttr());
    return r.sumTo(r.mul(g, normalized), paramType);
  });
  setIfNeeded(needed, adj, 2, [&] { return r.sumTo(g, getBias().getType()); });
  return success();
}

// d gelu(x) = g * gelu'(x)
LogicalResult GeluOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                    ArrayRef<bool> needed,
                                    MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return GeluGradOp::create(b, getLoc(), getType(), res[0], getInput(), getTanh())
        .getResult();
  });
  return success();
}

// d softmax(x) = y * (g - sum(g * y)), sums along the last dimension
LogicalResult SoftmaxOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                       ArrayRef<bool> needed,
                                       MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] {
    Value y = getResult();
    int64_t last = RuleBuilder::typeOf(y).getRank() - 1;
    Value dot = SumOp::create(b, getLoc(), r.mul(res[0], y), ArrayRef<int64_t>{last},
                              /*keepdim=*/true);
    return r.mul(y, r.sub(res[0], dot));
  });
  return success();
}
SmallVector<Value> SoftmaxOp::getSavedForBackward() { return {getResult()}; }

// d log_softmax(x) = g - exp(y) * sum(g), sums along the last dimension
LogicalResult LogSoftmaxOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                          ArrayRef<bool> needed,
                                          MutableArrayRef<Value> adj) {
  RuleBuilder r{b, getLoc()};
  setIfNeeded(needed, adj, 0, [&] {
    Value y = getResult();
    int64_t last = RuleBuilder::typeOf(y).getRank() - 1;
    Value total = SumOp::create(b, getLoc(), res[0], ArrayRef<int64_t>{last},
                                /*keepdim=*/true);
    return r.sub(res[0], r.mul(ExpOp::create(b, getLoc(), y), total));
  });
  return success();
}
SmallVector<Value> LogSoftmaxOp::getSavedForBackward() { return {getResult()}; }

// y = softmax(mask(q k^T * scale)) v: all three gradients come from one
// attention_grad, which recomputes the probabilities from q and k (see its
// description for the maths); only q, k and v are kept for it.
LogicalResult AttentionOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                         ArrayRef<bool> needed,
                                         MutableArrayRef<Value> adj) {
  auto grads = AttentionGradOp::create(
      b, getLoc(), TypeRange{getQuery().getType(), getKey().getType(), getValue().getType()},
      res[0], getQuery(), getKey(), getValue(), getCausal(), getScaleAttr());
  for (unsigned i = 0; i < 3; ++i)
    setIfNeeded(needed, adj, i, [&] { return grads.getResult(i); });
  return success();
}

// d dropout(x) = dropout(g) with the same mask (same stream, same step):
// the op is linear, x * keep / (1 - p).
LogicalResult DropoutOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                       ArrayRef<bool> needed,
                                       MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return DropoutOp::create(b, getLoc(), res[0].getType(), res[0], getRng(), getPAttr(),
                             getStreamAttr())
        .getResult();
  });
  return success();
}
SmallVector<Value> DropoutOp::getSavedForBackward() { return {}; }

// d causal_mask(x) = g with the masked elements zero
LogicalResult CausalMaskOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                          ArrayRef<bool> needed,
                                          MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return CausalMaskOp::create(b, getLoc(), res[0], /*zero=*/true).getResult();
  });
  return success();
}
SmallVector<Value> CausalMaskOp::getSavedForBackward() { return {}; }

// d slice(x) = g padded with zeros back to x's shape
LogicalResult SliceOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                     ArrayRef<bool> needed,
                                     MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return PadOp::create(b, getLoc(), getInput().getType(), res[0], getDim(), getStart())
        .getResult();
  });
  return success();
}
SmallVector<Value> SliceOp::getSavedForBackward() { return {}; }

// d concat(x_1, ..., x_n) = the slices of g where each x_i sits
LogicalResult ConcatOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                      ArrayRef<bool> needed,
                                      MutableArrayRef<Value> adj) {
  int64_t offset = 0;
  for (auto [i, input] : llvm::enumerate(getInputs())) {
    Value in = input;
    int64_t start = offset;
    setIfNeeded(needed, adj, i, [&] {
      return SliceOp::create(b, getLoc(), in.getType(), res[0], getDim(), start).getResult();
    });
    offset += RuleBuilder::typeOf(in).getDimSize(getDim());
  }
  return success();
}
SmallVector<Value> ConcatOp::getSavedForBackward() { return {}; }

// d split(x) = concat(g_1, ..., g_n), zeros for a piece without a gradient
LogicalResult SplitOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                     ArrayRef<bool> needed,
                                     MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    SmallVector<Value> pieces;
    for (auto [piece, g] : llvm::zip(getResults(), res))
      pieces.push_back(g ? g
                         : FillOp::create(b, getLoc(), piece.getType(),
                                          b.getF64FloatAttr(0.0))
                               .getResult());
    return ConcatOp::create(b, getLoc(), getInput().getType(), pieces, getDim())
        .getResult();
  });
  return success();
}
SmallVector<Value> SplitOp::getSavedForBackward() { return {}; }

// d pad(x) = the slice of g where x sits
LogicalResult PadOp::buildAdjoints(OpBuilder &b, ArrayRef<Value> res,
                                   ArrayRef<bool> needed,
                                   MutableArrayRef<Value> adj) {
  setIfNeeded(needed, adj, 0, [&] {
    return SliceOp::create(b, getLoc(), getInput().getType(), res[0], getDim(), getStart())
        .getResult();
  });
  return success();
}
SmallVector<Value> PadOp::getSavedForBackward() { return {}; }

//===----------------------------------------------------------------------===//
// External models: upstream elementwise ops on tensors
//===----------------------------------------------------------------------===//

namespace {

/// One elementwise upstream op: `Derived::adjoints` builds the operand
/// adjoints from the result adjoint g, given the op; `Derived::saved` names
/// the forward values it reads (the operands unless it says otherwise).
template <typename Op, typename Derived>
struct ElementwiseRule
    : public ReverseModeOpInterface::ExternalModel<Derived, Op> {
  SmallVector<Value> getSavedForBackward(Operation *op) const {
    return Derived::saved(cast<Op>(op));
  }
  static SmallVector<Value> saved(Op op) { return SmallVector<Value>(op->getOperands()); }

  LogicalResult buildAdjoints(Operation *op, OpBuilder &b, ArrayRef<Value> res,
                              ArrayRef<bool> needed,
                              MutableArrayRef<Value> adj) const {
    if (!llvm::all_of(op->getOperandTypes(), llvm::IsaPred<RankedTensorType>))
      return op->emitError() << "the derivative rule of '" << op->getName()
                             << "' handles tensors only";
    RuleBuilder r{b, op->getLoc()};
    SmallVector<Value> all = Derived::adjoints(r, cast<Op>(op), res[0]);
    for (auto [i, v] : llvm::enumerate(all))
      if (i < needed.size() && needed[i])
        adj[i] = v;
    return success();
  }
};

// d(a + b) = (g, g)
struct AddFRule : ElementwiseRule<arith::AddFOp, AddFRule> {
  static SmallVector<Value> saved(arith::AddFOp) { return {}; }
  static SmallVector<Value> adjoints(RuleBuilder &, arith::AddFOp, Value g) {
    return {g, g};
  }
};
// d(a - b) = (g, -g)
struct SubFRule : ElementwiseRule<arith::SubFOp, SubFRule> {
  static SmallVector<Value> saved(arith::SubFOp) { return {}; }
  static SmallVector<Value> adjoints(RuleBuilder &r, arith::SubFOp, Value g) {
    return {g, r.neg(g)};
  }
};
// d(a * b) = (g * b, g * a)
struct MulFRule : ElementwiseRule<arith::MulFOp, MulFRule> {
  static SmallVector<Value> adjoints(RuleBuilder &r, arith::MulFOp op, Value g) {
    return {r.mul(g, op.getRhs()), r.mul(g, op.getLhs())};
  }
};
// d(a / b) = (g / b, -g * a / (b * b))
struct DivFRule : ElementwiseRule<arith::DivFOp, DivFRule> {
  static SmallVector<Value> adjoints(RuleBuilder &r, arith::DivFOp op, Value g) {
    return {r.div(g, op.getRhs()), r.divisorAdjoint(g, op.getLhs(), op.getRhs())};
  }
};
// d(-x) = -g
struct NegFRule : ElementwiseRule<arith::NegFOp, NegFRule> {
  static SmallVector<Value> saved(arith::NegFOp) { return {}; }
  static SmallVector<Value> adjoints(RuleBuilder &r, arith::NegFOp, Value g) {
    return {r.neg(g)};
  }
};
// d exp(x) = g * exp(x)
struct ExpRule : ElementwiseRule<math::ExpOp, ExpRule> {
  static SmallVector<Value> saved(math::ExpOp op) { return {op.getResult()}; }
  static SmallVector<Value> adjoints(RuleBuilder &r, math::ExpOp op, Value g) {
    return {r.mul(g, op.getResult())};
  }
};
// d log(x) = g / x
struct LogRule : ElementwiseRule<math::LogOp, LogRule> {
  static SmallVector<Value> adjoints(RuleBuilder &r, math::LogOp op, Value g) {
    return {r.div(g, op.getOperand())};
  }
};
// d tanh(x) = g * (1 - y * y), y = tanh(x)
struct TanhRule : ElementwiseRule<math::TanhOp, TanhRule> {
  static SmallVector<Value> saved(math::TanhOp op) { return {op.getResult()}; }
  static SmallVector<Value> adjoints(RuleBuilder &r, math::TanhOp op, Value g) {
    return {r.tanhAdjoint(g, op.getResult())};
  }
};
// d sqrt(x) = g / (2 y), y = sqrt(x)
struct SqrtRule : ElementwiseRule<math::SqrtOp, SqrtRule> {
  static SmallVector<Value> saved(math::SqrtOp op) { return {op.getResult()}; }
  static SmallVector<Value> adjoints(RuleBuilder &r, math::SqrtOp op, Value g) {
    Value y = op.getResult();
    return {r.div(g, r.mul(r.scalar(2.0, y), y))};
  }
};

} // namespace

void ftc::train::registerUpstreamDerivativeRules(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, arith::ArithDialect *) {
    arith::AddFOp::attachInterface<AddFRule>(*ctx);
    arith::SubFOp::attachInterface<SubFRule>(*ctx);
    arith::MulFOp::attachInterface<MulFRule>(*ctx);
    arith::DivFOp::attachInterface<DivFRule>(*ctx);
    arith::NegFOp::attachInterface<NegFRule>(*ctx);
  });
  registry.addExtension(+[](MLIRContext *ctx, math::MathDialect *) {
    math::ExpOp::attachInterface<ExpRule>(*ctx);
    math::LogOp::attachInterface<LogRule>(*ctx);
    math::TanhOp::attachInterface<TanhRule>(*ctx);
    math::SqrtOp::attachInterface<SqrtRule>(*ctx);
  });
}
