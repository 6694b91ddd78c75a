//===- Contractions.cpp - matmul and linear to linalg.contract ------------===//
//
// Matrix products become linalg.contract over dims (batch..., m, n, k), the
// operands' indexing maps saying which of them is transposed: no operand is
// copied into another layout here (the target's codegen picks loop orders
// and layouts). The accumulator is a zero-filled tensor, so each result
// element sums a[.., m, k] * b[.., k, n] over k in increasing order from
// zero, as the reference BLAS does.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilder.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

/// op(lhs) x op(rhs) over equal leading batch dimensions, as a
/// linalg.contract accumulating into `init` (zeros of `resultType` if null).
/// 16-bit floats (bf16, f16) are multiplied and summed in f32, as PyTorch's
/// CPU and GPU kernels do under autocast, and the sum rounded once to the
/// result's type: the contraction reads the 16-bit operands into an f32
/// accumulator, a mixed-type linalg.contract.
Value contract(LinalgBuilder &L, Value lhs, Value rhs, bool transposeLhs,
               bool transposeRhs, RankedTensorType resultType, Value init = {}) {
  Type elem = resultType.getElementType();
  if (elem.isBF16() || elem.isF16()) {
    auto wide = RankedTensorType::get(resultType.getShape(), L.b.getF32Type());
    auto convert = [&](Value v, RankedTensorType to) {
      return L.elementwise(to, ValueRange{v}, [&](OpBuilder &b, Location l, ValueRange a) {
        return convertScalar(b, l, a[0], to.getElementType());
      });
    };
    Value sum = contract(L, lhs, rhs, transposeLhs, transposeRhs, wide,
                         init ? convert(init, wide) : Value());
    return convert(sum, resultType);
  }
  int64_t batch = resultType.getRank() - 2;
  int64_t m = batch, n = batch + 1, k = batch + 2;
  // (batch..., x, y) over the dims (batch..., m, n, k).
  auto map = [&](int64_t x, int64_t y) {
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < batch; ++i)
      exprs.push_back(L.b.getAffineDimExpr(i));
    exprs.push_back(L.b.getAffineDimExpr(x));
    exprs.push_back(L.b.getAffineDimExpr(y));
    return AffineMap::get(batch + 3, 0, exprs, L.b.getContext());
  };
  SmallVector<AffineMap> maps{transposeLhs ? map(k, m) : map(m, k),
                              transposeRhs ? map(n, k) : map(k, n), map(m, n)};
  return linalg::ContractOp::create(L.b, L.loc, TypeRange{resultType},
                                    ValueRange{lhs, rhs},
                                    ValueRange{init ? init : L.filled(resultType, 0.0)},
                                    L.b.getAffineMapArrayAttr(maps))
      .getResult(0);
}

struct MatmulPattern : OpConversionPattern<MatmulOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(MatmulOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, contract(L, adaptor.getLhs(), adaptor.getRhs(),
                                    op.getTransposeLhs(), op.getTransposeRhs(),
                                    cast<RankedTensorType>(op.getType())));
    return success();
  }
};

// y = x W^T (+ b), over x flattened to [M, in]; W [out, in] read transposed
// by the contraction's map. The bias is the accumulator's start (each row
// of y starts as b, the products are added to it), so that no pass over y
// adds it after: b + sum_k x w instead of PyTorch's sum_k x w + b, a
// reassociation the numerical contract allows.
struct LinearPattern : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    RankedTensorType x = tensorType(adaptor.getInput());
    auto result = cast<RankedTensorType>(op.getType());
    int64_t in = x.getShape().back(), out = result.getShape().back();
    int64_t rows = x.getNumElements() / in;
    Type elem = x.getElementType();
    Value x2 = L.reshape(adaptor.getInput(), RankedTensorType::get({rows, in}, elem));
    auto yType = RankedTensorType::get({rows, out}, elem);
    Value init;
    if (adaptor.getBias())
      init = L.elementwise(yType, ValueRange{adaptor.getBias()},
                           [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    Value y = contract(L, x2, adaptor.getWeight(), /*transposeLhs=*/false,
                       /*transposeRhs=*/true, yType, init);
    rewriter.replaceOp(op, L.reshape(y, result));
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateContractionsPatterns(RewritePatternSet &patterns) {
  patterns.add<MatmulPattern, LinearPattern>(patterns.getContext());
}
