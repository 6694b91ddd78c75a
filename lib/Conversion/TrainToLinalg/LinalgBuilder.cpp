//===- LinalgBuilder.cpp - shared builders of the train-to-linalg patterns ===//

#include "LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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

Value LinalgBuilder::reduce(Value input, ArrayRef<int64_t> dims, double init,
                            function_ref<Value(OpBuilder &, Location, Value, Value)> combine,
                            ValueRange extraInputs, Body map, bool wide) {
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

Value LinalgBuilder::sum(Value input, ArrayRef<int64_t> dims, ValueRange extraInputs,
                         Body map) {
  return reduce(input, dims, 0.0,
                [](OpBuilder &nb, Location nl, Value a, Value e) -> Value {
                  return arith::AddFOp::create(nb, nl, a, e);
                },
                extraInputs, map, /*wide=*/true);
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
