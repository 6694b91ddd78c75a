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

/// The generic folding `input` over `dims` into `init` (the accumulator
/// tensor: the input's other dimensions, in order). `extraInputs` hold one
/// value per output element; when `lane` is set, that loop is a parallel
/// dimension of the output the extra inputs do not have.
static Value reduceInto(OpBuilder &b, Location loc, Value input, ArrayRef<int64_t> dims,
                        Value init, LinalgBuilder::Combine combine,
                        ValueRange extraInputs, LinalgBuilder::Body map,
                        std::optional<int64_t> lane = std::nullopt) {
  RankedTensorType in = tensorType(input);
  Type acc = getElementTypeOrSelf(init.getType());
  SmallVector<AffineExpr> outExprs, extraExprs;
  SmallVector<utils::IteratorType> iterators;
  for (int64_t d = 0; d < in.getRank(); ++d) {
    bool reduced = llvm::is_contained(dims, d);
    iterators.push_back(reduced ? utils::IteratorType::reduction
                                : utils::IteratorType::parallel);
    if (reduced)
      continue;
    outExprs.push_back(b.getAffineDimExpr(d));
    if (d != lane)
      extraExprs.push_back(b.getAffineDimExpr(d));
  }
  AffineMap outMap = AffineMap::get(in.getRank(), 0, outExprs, b.getContext());
  AffineMap extraMap = AffineMap::get(in.getRank(), 0, extraExprs, b.getContext());
  SmallVector<Value> inputs{input};
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(in.getRank())};
  for (Value extra : extraInputs) {
    inputs.push_back(extra);
    maps.push_back(extraMap);
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

/// The shape of `type` without the dimensions `dims`.
static SmallVector<int64_t> keptShape(RankedTensorType type, ArrayRef<int64_t> dims) {
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (!llvm::is_contained(dims, d))
      shape.push_back(type.getDimSize(d));
  return shape;
}

Value LinalgBuilder::reduce(Value input, ArrayRef<int64_t> dims, double init,
                            Combine combine, ValueRange extraInputs, Body map,
                            bool blocked) {
  RankedTensorType in = tensorType(input);
  Type elem = in.getElementType();
  // Sums of 16-bit floats accumulate in f32.
  Type acc = isa<FloatType>(elem) && elem.getIntOrFloatBitWidth() < 32 ? b.getF32Type()
                                                                        : elem;
  SmallVector<int64_t> outShape = keptShape(in, dims);
  auto accType = RankedTensorType::get(outShape, acc);

  // The blocked order: the longest reduced dimension d (size N) is cut into
  // q blocks of B = 16 * ceil(sqrt(N) / 16) elements; B lanes each sum one
  // element of every block (stride B, so the lanes are contiguous and
  // vectorize), then the lanes are summed, then the N - q B elements left.
  // Each result element sums about N / B + B + N % B terms in sequence
  // instead of N: for N = 50257, 224 + 224 + 81.
  int64_t d = -1;
  for (int64_t r : dims)
    if (d < 0 || in.getDimSize(r) > in.getDimSize(d))
      d = r;
  int64_t n = d < 0 ? 0 : in.getDimSize(d);
  int64_t lanes = 16 * llvm::divideCeil(
                           static_cast<int64_t>(std::ceil(std::sqrt(double(n)))), 16);
  if (!blocked || !isa<FloatType>(elem) || n < 64 || n / lanes < 2) {
    Value result = reduceInto(b, loc, input, dims, filled(accType, init), combine,
                              extraInputs, map);
    return acc == elem ? result : convert(result, elem);
  }
  int64_t blocks = n / lanes, rest = n % lanes;
  auto slice = [&](int64_t offset, int64_t size) -> Value {
    if (offset == 0 && size == n)
      return input;
    SmallVector<OpFoldResult> offsets(in.getRank(), b.getIndexAttr(0)),
        sizes = getAsIndexOpFoldResult(b.getContext(), in.getShape()),
        strides(in.getRank(), b.getIndexAttr(1));
    offsets[d] = b.getIndexAttr(offset);
    sizes[d] = b.getIndexAttr(size);
    return tensor::ExtractSliceOp::create(b, loc, input, offsets, sizes, strides);
  };
  // [..., N, ...] -> [..., q, B, ...]: reduce q (and the other dims) into
  // per-lane partial sums, the lane dimension kept in place.
  SmallVector<int64_t> expandedShape(in.getShape());
  expandedShape[d] = lanes;
  expandedShape.insert(expandedShape.begin() + d, blocks);
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0, j = 0; i < in.getRank(); ++i) {
    groups.push_back(i == d ? ReassociationIndices{j, j + 1} : ReassociationIndices{j});
    j += i == d ? 2 : 1;
  }
  Value expanded = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(expandedShape, elem), slice(0, blocks * lanes),
      groups);
  SmallVector<int64_t> expandedDims;
  for (int64_t r : dims)
    expandedDims.push_back(r > d ? r + 1 : r);
  auto expandedType = cast<RankedTensorType>(expanded.getType());
  auto partialType = RankedTensorType::get(keptShape(expandedType, expandedDims), acc);
  Value partial = reduceInto(b, loc, expanded, expandedDims, filled(partialType, init),
                             combine, extraInputs, map, d + 1);
  int64_t lanePos = d + 1;
  for (int64_t r : expandedDims)
    lanePos -= r < d + 1;
  Value result = reduceInto(b, loc, partial, {lanePos}, filled(accType, init), combine,
                            {}, {});
  if (rest > 0)
    result = reduceInto(b, loc, slice(blocks * lanes, rest), dims, result, combine,
                        extraInputs, map);
  return acc == elem ? result : convert(result, elem);
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
