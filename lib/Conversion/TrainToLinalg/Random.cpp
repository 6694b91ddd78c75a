//===- Random.cpp - dropout to a counter-based mask in linalg.generic -----===//
//
// Dropout draws its mask from a counter-based generator (splitmix64) keyed by
// the RNG buffer ftc-bind-abi passes (seed, step, training): no state is
// carried between elements, so the mask is one elementwise generic and the
// same (seed, step, stream) always gives the same mask.
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilder.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <cmath>

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

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
struct DropoutPattern : OpConversionPattern<DropoutOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(DropoutOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    double p = op.getP().convertToDouble();
    if (p == 0.0) {
      rewriter.replaceOp(op, adaptor.getInput());
      return success();
    }
    // ftc-convert-train-to-linalg reports this case before converting.
    if (!adaptor.getRng())
      return rewriter.notifyMatchFailure(op, "no RNG buffer (run ftc-bind-abi first)");
    LinalgBuilder L(rewriter, op.getLoc());
    OpBuilder &b = rewriter;
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    auto index = [&](int64_t i) {
      return arith::ConstantIndexOp::create(b, loc, i).getResult();
    };
    auto i64 = [&](int64_t v) {
      return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)).getResult();
    };
    Value rng = adaptor.getRng();
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
    Value result = L.elementwise(type, adaptor.getInput(), [&](OpBuilder &nb, Location nl,
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
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateRandomPatterns(RewritePatternSet &patterns) {
  patterns.add<DropoutPattern>(patterns.getContext());
}
