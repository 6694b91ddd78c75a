//===- LinalgBuilder.cpp - shared builders of the train-to-linalg patterns ===//

#include "LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <optional>

using namespace mlir;

namespace ftc::train_to_linalg {

RankedTensorType asRows(Value v) {
  RankedTensorType t = tensorType(v);
  int64_t d = t.getShape().back();
  return RankedTensorType::get({t.getNumElements() / d, d}, t.getElementType());
}

Value convertScalar(OpBuilder &b, Location l, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  bool fromFloat = isa<FloatType>(from), toFloat = isa<FloatType>(to);
  if (fromFloat && toFloat) {
    unsigned fromBits = from.getIntOrFloatBitWidth(), toBits = to.getIntOrFloatBitWidth();
    if (fromBits < toBits)
      return arith::ExtFOp::create(b, l, to, v);
    if (fromBits > toBits)
      return arith::TruncFOp::create(b, l, to, v);
    // f16 and bf16, the same width: neither extf nor truncf applies. Through
    // f32, which holds both exactly: one rounding, to nearest even.
    Value wide = arith::ExtFOp::create(b, l, b.getF32Type(), v);
    return arith::TruncFOp::create(b, l, to, wide);
  }
  if (!fromFloat && toFloat)
    return arith::SIToFPOp::create(b, l, to, v);
  if (fromFloat && !toFloat)
    return arith::FPToSIOp::create(b, l, to, v);
  return from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth()
             ? arith::ExtSIOp::create(b, l, to, v).getResult()
             : arith::TruncIOp::create(b, l, to, v).getResult();
}

Value LinalgBuilder::scalar(Type type, double value) {
  if (auto f = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, type, b.getFloatAttr(f, value));
  return arith::ConstantOp::create(b, loc, type,
                                   b.getIntegerAttr(type, static_cast<int64_t>(value)));
}

Value LinalgBuilder::empty(RankedTensorType type) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
}

Value LinalgBuilder::filled(RankedTensorType type, double value) {
  Value init = empty(type);
  return linalg::FillOp::create(b, loc, scalar(type.getElementType(), value), init)
      .getResult(0);
}

AffineMap LinalgBuilder::broadcastMap(ArrayRef<int64_t> in, ArrayRef<int64_t> out) {
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

Value LinalgBuilder::elementwise(RankedTensorType type, ValueRange inputs, Body body) {
  return rowwise(type, inputs, {}, body);
}

Value LinalgBuilder::rowwise(RankedTensorType type, ValueRange inputs, ValueRange perRow,
                             Body body) {
  SmallVector<AffineMap> maps;
  for (Value in : inputs)
    maps.push_back(broadcastMap(tensorType(in).getShape(), type.getShape()));
  for (size_t i = 0; i < perRow.size(); ++i)
    maps.push_back(AffineMap::get(type.getRank(), 0, b.getAffineDimExpr(0)));
  maps.push_back(b.getMultiDimIdentityMap(type.getRank()));
  SmallVector<Value> operands(inputs);
  operands.append(perRow.begin(), perRow.end());
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(
      b, loc, type, operands, empty(type), maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value v = body(nb, nl, args.drop_back());
        linalg::YieldOp::create(nb, nl, v);
      });
  return generic.getResult(0);
}

/// The generic folding `input` (read through `inputMap` over the loops
/// `iterators`) over the reduction loops into `init`, which is indexed by the
/// parallel loops in order. `extraInputs` hold one value per output element;
/// when `lane` is set, that loop is a parallel dimension of the output the
/// extra inputs do not have. `extent`, if set, is the loop whose range
/// no other operand gives (one the input reads through a sum of loops):
/// read through an unused 1-d tensor of that size, as linalg's pooling ops
/// take their window.
static Value reduceInto(OpBuilder &b, Location loc, Value input, AffineMap inputMap,
                        ArrayRef<utils::IteratorType> iterators, Value init,
                        LinalgBuilder::Combine combine, ValueRange extraInputs,
                        LinalgBuilder::Body map,
                        std::optional<int64_t> lane = std::nullopt,
                        std::optional<std::pair<int64_t, int64_t>> extent = std::nullopt) {
  Type acc = getElementTypeOrSelf(init.getType());
  int64_t rank = iterators.size();
  SmallVector<AffineExpr> outExprs, extraExprs;
  for (int64_t d = 0; d < rank; ++d) {
    if (iterators[d] == utils::IteratorType::reduction)
      continue;
    outExprs.push_back(b.getAffineDimExpr(d));
    if (d != lane)
      extraExprs.push_back(b.getAffineDimExpr(d));
  }
  AffineMap outMap = AffineMap::get(rank, 0, outExprs, b.getContext());
  AffineMap extraMap = AffineMap::get(rank, 0, extraExprs, b.getContext());
  SmallVector<Value> inputs{input};
  SmallVector<AffineMap> maps{inputMap};
  for (Value extra : extraInputs) {
    inputs.push_back(extra);
    maps.push_back(extraMap);
  }
  if (extent) {
    auto [loop, size] = *extent;
    inputs.push_back(tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{size},
                                             getElementTypeOrSelf(input.getType())));
    maps.push_back(AffineMap::get(rank, 0, b.getAffineDimExpr(loop)));
  }
  maps.push_back(outMap);
  auto generic = linalg::GenericOp::create(
      b, loc, init.getType(), inputs, init, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value element = map ? map(nb, nl, args.drop_back()) : args[0];
        if (element.getType() != acc)
          element = arith::ExtFOp::create(nb, nl, acc, element);
        linalg::YieldOp::create(nb, nl, combine(nb, nl, args.back(), element));
      });
  return generic.getResult(0);
}

Value LinalgBuilder::reduce(Value input, ArrayRef<int64_t> dims, double init,
                            Combine combine, ValueRange extraInputs, Body map,
                            bool blocked) {
  RankedTensorType in = tensorType(input);
  int64_t rank = in.getRank();
  Type elem = in.getElementType();
  // Sums of 16-bit floats accumulate in f32.
  Type acc = isa<FloatType>(elem) && elem.getIntOrFloatBitWidth() < 32 ? b.getF32Type()
                                                                        : elem;
  SmallVector<int64_t> outShape;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < rank; ++d) {
    bool reduced = llvm::is_contained(dims, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (!reduced)
      outShape.push_back(in.getDimSize(d));
  }
  auto accType = RankedTensorType::get(outShape, acc);
  auto finish = [&](Value result) { return acc == elem ? result : convert(result, elem); };

  // The blocked order: the longest reduced dimension d (size N) is cut into
  // q blocks of B = 16 * ceil(sqrt(N) / 16) elements; B lanes each sum one
  // element of every block (stride B, so the lanes are contiguous and
  // vectorize), then the lanes are summed, then the N - q B elements left.
  // Each result element sums about N / B + B + N % B terms in sequence
  // instead of N: for N = 50257, 224 + 224 + 81; for N = 51, 3 + 16 + 3 (a
  // softmax over 51 classes, whose gradient's row sums came out 2x further
  // from zero than PyTorch float32's in sequence). Below 2 B = 32 terms the
  // order is sequential. The input is read through
  // affine maps, not reshaped or sliced, so that the op producing it can be
  // fused into the loops of the sum (ftc-cpu-tile-and-fuse).
  int64_t d = -1;
  for (int64_t r : dims)
    if (d < 0 || in.getDimSize(r) > in.getDimSize(d))
      d = r;
  int64_t n = d < 0 ? 0 : in.getDimSize(d);
  int64_t lanes = 16 * llvm::divideCeil(
                           static_cast<int64_t>(std::ceil(std::sqrt(double(n)))), 16);
  if (!blocked || !isa<FloatType>(elem) || n / lanes < 2)
    return finish(reduceInto(b, loc, input, b.getMultiDimIdentityMap(rank), iterators,
                             filled(accType, init), combine, extraInputs, map));
  int64_t blocks = n / lanes, rest = n % lanes;
  MLIRContext *ctx = b.getContext();

  // Loops: the input's, with d split into (block, lane); lane is parallel.
  SmallVector<AffineExpr> blockedExprs;
  SmallVector<utils::IteratorType> blockedIterators;
  SmallVector<int64_t> partialShape;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t loop = i > d ? i + 1 : i;
    if (i == d) {
      blockedExprs.push_back(getAffineDimExpr(d, ctx) * lanes +
                             getAffineDimExpr(d + 1, ctx));
      blockedIterators.append({utils::IteratorType::reduction,
                               utils::IteratorType::parallel});
      partialShape.push_back(lanes);
      continue;
    }
    blockedExprs.push_back(getAffineDimExpr(loop, ctx));
    blockedIterators.push_back(iterators[i]);
    if (iterators[i] == utils::IteratorType::parallel)
      partialShape.push_back(in.getDimSize(i));
  }
  Value partial = reduceInto(
      b, loc, input, AffineMap::get(rank + 1, 0, blockedExprs, ctx), blockedIterators,
      filled(RankedTensorType::get(partialShape, acc), init), combine, extraInputs, map,
      /*lane=*/d + 1, /*extent=*/std::pair(d, blocks));
  // The lanes, the last dimension but those after d.
  int64_t lanePos = llvm::count_if(ArrayRef(blockedIterators).take_front(d + 1),
                                   [](utils::IteratorType t) {
                                     return t == utils::IteratorType::parallel;
                                   });
  SmallVector<utils::IteratorType> laneIterators(partialShape.size(),
                                                 utils::IteratorType::parallel);
  laneIterators[lanePos] = utils::IteratorType::reduction;
  Value result =
      reduceInto(b, loc, partial, b.getMultiDimIdentityMap(partialShape.size()),
                 laneIterators, filled(accType, init), combine, {}, {});
  if (rest > 0) {
    // The rest: loops of the input's rank, d over [0, rest) read at q B + d.
    SmallVector<AffineExpr> restExprs;
    for (int64_t i = 0; i < rank; ++i)
      restExprs.push_back(i == d ? getAffineDimExpr(i, ctx) + blocks * lanes
                                 : getAffineDimExpr(i, ctx));
    result = reduceInto(b, loc, input, AffineMap::get(rank, 0, restExprs, ctx), iterators,
                        result, combine, extraInputs, map, std::nullopt,
                        std::pair(d, rest));
  }
  return finish(result);
}

Value LinalgBuilder::convert(Value input, Type elem) {
  RankedTensorType t = tensorType(input);
  return elementwise(RankedTensorType::get(t.getShape(), elem), ValueRange{input},
                     [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                       return convertScalar(nb, nl, a[0], elem);
                     });
}

Value LinalgBuilder::sum(Value input, ArrayRef<int64_t> dims, ValueRange extraInputs,
                         Body map) {
  return reduce(input, dims, 0.0,
                [](OpBuilder &nb, Location nl, Value a, Value e) -> Value {
                  return arith::AddFOp::create(nb, nl, a, e);
                },
                extraInputs, map, /*blocked=*/true);
}

/// One reassociation group holding all `rank` dimensions.
static SmallVector<ReassociationIndices> allDims(int64_t rank) {
  ReassociationIndices all;
  for (int64_t i = 0; i < rank; ++i)
    all.push_back(i);
  return {all};
}

Value LinalgBuilder::reshape(Value input, RankedTensorType type) {
  RankedTensorType in = tensorType(input);
  if (in == type)
    return input;
  // Through a 1-d tensor of all elements: collapse, then expand.
  auto flat = RankedTensorType::get({in.getNumElements()}, in.getElementType());
  Value v = input;
  if (in.getRank() == 0)
    v = tensor::ExpandShapeOp::create(b, loc, flat, v, ArrayRef<ReassociationIndices>{});
  else if (in.getRank() > 1)
    v = tensor::CollapseShapeOp::create(b, loc, flat, v, allDims(in.getRank()));
  if (type.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, loc, type, v,
                                           ArrayRef<ReassociationIndices>{});
  if (type.getRank() > 1)
    return tensor::ExpandShapeOp::create(b, loc, type, v, allDims(type.getRank()));
  return v;
}

} // namespace ftc::train_to_linalg
