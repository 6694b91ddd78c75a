//===- Elementwise.cpp - elementwise train ops to linalg.generic ----------===//
//
// Each elementwise op becomes one linalg.generic over its result, reading
// its operands with numpy broadcasting (fused later by linalg's elementwise
// fusion); constants and fills become arith.constant / linalg.fill.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilder.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Support/Nf4.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

Value floatConstant(OpBuilder &b, Location l, Type type, double value) {
  return arith::ConstantOp::create(b, l, b.getFloatAttr(type, value));
}

/// An op that becomes one elementwise generic over its result type, reading
/// its operands with broadcasting; `scalar` builds the body from the
/// operands' elements.
template <typename Op> struct ElementwisePattern : OpConversionPattern<Op> {
  using OpConversionPattern<Op>::OpConversionPattern;

  virtual Value scalar(OpBuilder &b, Location l, ValueRange a, Op op) const = 0;
  /// What the generic computes, where a later pass looks for it (the
  /// `ftc.activation` attribute), else null.
  virtual StringAttr activation(Op) const { return nullptr; }

  LogicalResult matchAndRewrite(Op op, typename Op::Adaptor adaptor,
                                ConversionPatternRewriter &rewriter) const final {
    LinalgBuilder L(rewriter, op.getLoc());
    Value result = L.elementwise(cast<RankedTensorType>(op.getType()), adaptor.getOperands(),
                                 [&](OpBuilder &b, Location l, ValueRange a) {
                                   return scalar(b, l, a, op);
                                 });
    if (StringAttr name = activation(op))
      result.getDefiningOp()->setAttr(ftc::kActivationAttr, name);
    rewriter.replaceOp(op, result);
    return success();
  }
};

template <typename Op, typename ScalarOp>
struct UnaryPattern : ElementwisePattern<Op> {
  using ElementwisePattern<Op>::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, Op) const override {
    return ScalarOp::create(b, l, a[0]);
  }
};

template <typename Op, typename ScalarOp>
struct BinaryPattern : ElementwisePattern<Op> {
  using ElementwisePattern<Op>::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, Op) const override {
    return ScalarOp::create(b, l, a[0], a[1]);
  }
};

// max(x, 0)
struct ReluPattern : ElementwisePattern<ReluOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, ReluOp) const override {
    Value zero = floatConstant(b, l, a[0].getType(), 0.0);
    return arith::MaximumFOp::create(b, l, a[0], zero);
  }
};

// 1 / (1 + exp(-x))
struct SigmoidPattern : ElementwisePattern<SigmoidOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, SigmoidOp) const override {
    Value one = floatConstant(b, l, a[0].getType(), 1.0);
    Value e = math::ExpOp::create(b, l, arith::NegFOp::create(b, l, a[0]));
    return arith::DivFOp::create(b, l, one, arith::AddFOp::create(b, l, one, e));
  }
};

// g where x > 0, else 0
struct ReluGradPattern : ElementwisePattern<ReluGradOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, ReluGradOp) const override {
    Value zero = floatConstant(b, l, a[0].getType(), 0.0);
    Value pos = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, a[1], zero);
    return arith::SelectOp::create(b, l, pos, a[0], zero);
  }
};

// a == b ? 1 : 0
struct EqualPattern : ElementwisePattern<EqualOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, EqualOp) const override {
    Type t = a[0].getType();
    Value eq = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
    return arith::SelectOp::create(b, l, eq, floatConstant(b, l, t, 1.0),
                                   floatConstant(b, l, t, 0.0));
  }
};

struct CastPattern : ElementwisePattern<CastOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, CastOp op) const override {
    return convertScalar(b, l, a[0], op.getType().getElementType());
  }
};

struct BroadcastPattern : ElementwisePattern<BroadcastOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &, Location, ValueRange a, BroadcastOp) const override {
    return a[0];
  }
};

/// gelu (exact or tanh) and its derivative at x.
Value geluScalar(OpBuilder &b, Location l, Value x, bool tanh, bool derivative) {
  Type t = x.getType();
  auto c = [&](double v) { return floatConstant(b, l, t, v); };
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

struct GeluPattern : ElementwisePattern<GeluOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, GeluOp op) const override {
    return geluScalar(b, l, a[0], op.getTanh(), /*derivative=*/false);
  }
  StringAttr activation(GeluOp op) const override {
    return op.getTanh() ? StringAttr::get(op.getContext(), ftc::kGeluTanh) : nullptr;
  }
};

// g * gelu'(x)
struct GeluGradPattern : ElementwisePattern<GeluGradOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, GeluGradOp op) const override {
    return arith::MulFOp::create(b, l, a[0],
                                 geluScalar(b, l, a[1], op.getTanh(), /*derivative=*/true));
  }
  StringAttr activation(GeluGradOp op) const override {
    return op.getTanh() ? StringAttr::get(op.getContext(), ftc::kGeluTanhGrad) : nullptr;
  }
};

// x[..., i, j] where j <= i, else -inf (or 0 with `zero`)
struct CausalMaskPattern : ElementwisePattern<CausalMaskOp> {
  using ElementwisePattern::ElementwisePattern;
  Value scalar(OpBuilder &b, Location l, ValueRange a, CausalMaskOp op) const override {
    int64_t rank = op.getType().getRank();
    double fill = op.getZero() ? 0.0 : -std::numeric_limits<double>::infinity();
    Value i = linalg::IndexOp::create(b, l, rank - 2);
    Value j = linalg::IndexOp::create(b, l, rank - 1);
    Value above = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, j, i);
    Value masked = floatConstant(b, l, a[0].getType(), fill);
    return arith::SelectOp::create(b, l, above, masked, a[0]);
  }
};

struct ConstantPattern : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConstantOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, cast<TypedAttr>(op.getValue()));
    return success();
  }
};

// A rank-0 fill is a constant; others a linalg.fill.
struct FillPattern : OpConversionPattern<FillOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(FillOp op, OpAdaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    double v = op.getValue().convertToDouble();
    if (type.getRank() == 0) {
      rewriter.replaceOpWithNewOp<arith::ConstantOp>(
          op, DenseElementsAttr::get(type, rewriter.getFloatAttr(type.getElementType(), v)));
      return success();
    }
    rewriter.replaceOp(op, LinalgBuilder(rewriter, op.getLoc()).filled(type, v));
    return success();
  }
};


// bf16: one widening generic. NF4: a generic over the result whose body
// reads the element's byte, nibble and block scale by its row-major index
// (i / 2, i % 2, i / 64), and the code table, with tensor.extract. The copy
// number goes on the generic (`ftc.instance`), so CSE keeps copies apart.
struct DequantizePattern : OpConversionPattern<DequantizeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DequantizeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Location loc = op.getLoc();
    LinalgBuilder L(rewriter, loc);
    Value result;
    if (adaptor.getScales().empty()) {
      result = L.elementwise(type, adaptor.getStored(), [&](OpBuilder &b, Location l, ValueRange a) {
        return arith::ExtFOp::create(b, l, type.getElementType(), a[0]).getResult();
      });
    } else {
      Value table = arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(RankedTensorType::get({16}, rewriter.getF32Type()),
                                 ArrayRef<float>(ftc::nf4::kTable)));
      Value codes = adaptor.getStored();
      ValueRange scales = adaptor.getScales();
      Value init = tensor::EmptyOp::create(rewriter, loc, type.getShape(), type.getElementType());
      int64_t rank = type.getRank();
      SmallVector<AffineMap> maps{rewriter.getMultiDimIdentityMap(rank)};
      SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
      result = linalg::GenericOp::create(
                   rewriter, loc, TypeRange{type}, ValueRange{}, ValueRange{init}, maps,
                   iterators,
                   [&](OpBuilder &b, Location l, ValueRange) {
                     auto index = [&](int64_t v) {
                       return arith::ConstantIndexOp::create(b, l, v).getResult();
                     };
                     Value flat = linalg::IndexOp::create(b, l, 0);
                     for (int64_t d = 1; d < rank; ++d)
                       flat = arith::AddIOp::create(
                           b, l, arith::MulIOp::create(b, l, flat, index(type.getDimSize(d))),
                           linalg::IndexOp::create(b, l, d));
                     Value byte = tensor::ExtractOp::create(
                         b, l, codes, ValueRange{arith::DivUIOp::create(b, l, flat, index(2))});
                     Value word = arith::ExtUIOp::create(b, l, b.getI32Type(), byte);
                     // Even elements in the high nibble: shift by 4 * (1 - i % 2).
                     Value odd = arith::IndexCastOp::create(
                         b, l, b.getI32Type(), arith::RemUIOp::create(b, l, flat, index(2)));
                     Value four = arith::ConstantIntOp::create(b, l, b.getI32Type(), 4);
                     Value shift = arith::SubIOp::create(
                         b, l, four, arith::MulIOp::create(b, l, odd, four));
                     Value nibble = arith::AndIOp::create(
                         b, l, arith::ShRUIOp::create(b, l, word, shift),
                         arith::ConstantIntOp::create(b, l, b.getI32Type(), 15));
                     Value code = tensor::ExtractOp::create(
                         b, l, table,
                         ValueRange{arith::IndexCastOp::create(b, l, b.getIndexType(), nibble)});
                     Value block = arith::DivUIOp::create(b, l, flat, index(ftc::nf4::kBlock));
                     Value scale;
                     if (scales.size() == 1) {
                       scale = tensor::ExtractOp::create(b, l, scales[0], ValueRange{block});
                     } else {
                       // map[c_b] * nested[b / 256] + offset
                       Value c = arith::ExtUIOp::create(
                           b, l, b.getI32Type(),
                           tensor::ExtractOp::create(b, l, scales[0], ValueRange{block}));
                       Value mapped = tensor::ExtractOp::create(
                           b, l, scales[2],
                           ValueRange{arith::IndexCastOp::create(b, l, b.getIndexType(), c)});
                       Value nested = tensor::ExtractOp::create(
                           b, l, scales[1],
                           ValueRange{arith::DivUIOp::create(b, l, block, index(ftc::nf4::kNestedBlock))});
                       Value offset = tensor::ExtractOp::create(b, l, scales[3], ValueRange{index(0)});
                       scale = arith::AddFOp::create(
                           b, l, arith::MulFOp::create(b, l, mapped, nested), offset);
                     }
                     linalg::YieldOp::create(b, l,
                                             ValueRange{arith::MulFOp::create(b, l, code, scale)});
                   })
                   .getResult(0);
    }
    if (auto instance = op.getInstanceAttr())
      result.getDefiningOp()->setAttr("ftc.instance", instance);
    rewriter.replaceOp(op, result);
    return success();
  }
};

// The value itself: the gradient is already built.
struct StopGradientPattern : OpConversionPattern<StopGradientOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(StopGradientOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, adaptor.getInput());
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateElementwisePatterns(RewritePatternSet &patterns) {
  patterns.add<ConstantPattern, FillPattern,
               BinaryPattern<AddOp, arith::AddFOp>, BinaryPattern<SubOp, arith::SubFOp>,
               BinaryPattern<MulOp, arith::MulFOp>, BinaryPattern<DivOp, arith::DivFOp>,
               UnaryPattern<NegOp, arith::NegFOp>, UnaryPattern<ExpOp, math::ExpOp>,
               UnaryPattern<LogOp, math::LogOp>, UnaryPattern<TanhOp, math::TanhOp>,
               UnaryPattern<SqrtOp, math::SqrtOp>, StopGradientPattern, DequantizePattern,
               ReluPattern, SigmoidPattern, ReluGradPattern, EqualPattern, CastPattern,
               BroadcastPattern, GeluPattern, GeluGradPattern, CausalMaskPattern>(
      patterns.getContext());
}
