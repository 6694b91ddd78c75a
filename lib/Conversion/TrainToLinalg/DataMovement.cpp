//===- DataMovement.cpp - reshapes, slices and gathers to tensor/linalg ---===//
//
// Reshapes become tensor.collapse_shape / expand_shape, transposes
// linalg.transpose, slices and pieces tensor.extract_slice / insert_slice,
// embedding a gather (a generic reading the table with tensor.extract) and
// its gradient a scatter-add in position order (scf.for).
//
//===----------------------------------------------------------------------===//

#include "LinalgBuilder.h"

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace ftc::train;
using namespace ftc::train_to_linalg;

namespace {

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

struct ReshapePattern : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    rewriter.replaceOp(op, L.reshape(adaptor.getInput(), cast<RankedTensorType>(op.getType())));
    return success();
  }
};

struct TransposePattern : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    rewriter.replaceOp(op, linalg::TransposeOp::create(rewriter, op.getLoc(),
                                                       adaptor.getInput(), L.empty(type),
                                                       op.getPermutation())
                               .getResult()[0]);
    return success();
  }
};

struct SlicePattern : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(op.getType());
    Window w = windowAlong(rewriter, type, op.getDim(), op.getStart());
    rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(op, type, adaptor.getInput(),
                                                        w.offsets, w.sizes, w.strides);
    return success();
  }
};

// Consecutive pieces along `dim`.
struct SplitPattern : OpConversionPattern<SplitOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(SplitOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    SmallVector<Value> pieces;
    int64_t offset = 0;
    for (Value piece : op.getResults()) {
      RankedTensorType t = tensorType(piece);
      Window w = windowAlong(rewriter, t, op.getDim(), offset);
      pieces.push_back(tensor::ExtractSliceOp::create(rewriter, op.getLoc(), t,
                                                      adaptor.getInput(), w.offsets,
                                                      w.sizes, w.strides));
      offset += t.getDimSize(op.getDim());
    }
    rewriter.replaceOp(op, pieces);
    return success();
  }
};

// Each input inserted at its offset along `dim` into an empty tensor.
struct ConcatPattern : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    Value acc = L.empty(cast<RankedTensorType>(op.getType()));
    int64_t offset = 0;
    for (Value in : adaptor.getInputs()) {
      Window w = windowAlong(rewriter, tensorType(in), op.getDim(), offset);
      acc = tensor::InsertSliceOp::create(rewriter, op.getLoc(), in, acc, w.offsets,
                                          w.sizes, w.strides);
      offset += tensorType(in).getDimSize(op.getDim());
    }
    rewriter.replaceOp(op, acc);
    return success();
  }
};

// The input inserted at `start` along `dim` into zeros.
struct PadPattern : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(PadOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    Window w = windowAlong(rewriter, tensorType(adaptor.getInput()), op.getDim(),
                           op.getStart());
    rewriter.replaceOpWithNewOp<tensor::InsertSliceOp>(op, adaptor.getInput(),
                                                       L.filled(type, 0.0), w.offsets,
                                                       w.sizes, w.strides);
    return success();
  }
};

// result[n..., d] = table[indices[n...], d]: a generic over the result
// reading the index at the leading loop indices.
struct EmbeddingPattern : OpConversionPattern<EmbeddingOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(EmbeddingOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    Value table = adaptor.getTable();
    int64_t rank = type.getRank(), inRank = tensorType(adaptor.getIndices()).getRank();
    SmallVector<AffineExpr> exprs;
    for (int64_t d = 0; d < inRank; ++d)
      exprs.push_back(rewriter.getAffineDimExpr(d));
    SmallVector<AffineMap> maps{AffineMap::get(rank, 0, exprs, rewriter.getContext()),
                                rewriter.getMultiDimIdentityMap(rank)};
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    auto generic = linalg::GenericOp::create(
        rewriter, op.getLoc(), type, ValueRange{adaptor.getIndices()}, L.empty(type), maps,
        iterators, [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value row = arith::IndexCastOp::create(nb, nl, nb.getIndexType(), a[0]);
          Value col = linalg::IndexOp::create(nb, nl, rank - 1);
          linalg::YieldOp::create(
              nb, nl, tensor::ExtractOp::create(nb, nl, table, ValueRange{row, col})
                          .getResult());
        });
    rewriter.replaceOp(op, generic.getResult(0));
    return success();
  }
};

// A scatter-add in position order: out[idx[p], :] += g[p, :].
struct EmbeddingGradPattern : OpConversionPattern<EmbeddingGradOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult matchAndRewrite(EmbeddingGradOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    LinalgBuilder L(rewriter, op.getLoc());
    auto type = cast<RankedTensorType>(op.getType());
    Location loc = op.getLoc();
    int64_t d = type.getDimSize(1);
    Value g = L.reshape(adaptor.getGrad(), asRows(adaptor.getGrad()));
    int64_t positions = tensorType(g).getDimSize(0);
    Value idx = L.reshape(adaptor.getIndices(),
                          RankedTensorType::get(
                              {positions}, tensorType(adaptor.getIndices()).getElementType()));
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value step = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto outer = scf::ForOp::create(
        rewriter, loc, zero, arith::ConstantIndexOp::create(rewriter, loc, positions), step,
        ValueRange{L.filled(type, 0.0)},
        [&](OpBuilder &ob, Location ol, Value p, ValueRange acc) {
          Value row = arith::IndexCastOp::create(
              ob, ol, ob.getIndexType(),
              tensor::ExtractOp::create(ob, ol, idx, ValueRange{p}));
          auto inner = scf::ForOp::create(
              ob, ol, zero, arith::ConstantIndexOp::create(ob, ol, d), step, acc,
              [&](OpBuilder &ib, Location il, Value c, ValueRange acc2) {
                Value sum = arith::AddFOp::create(
                    ib, il, tensor::ExtractOp::create(ib, il, acc2[0], ValueRange{row, c}),
                    tensor::ExtractOp::create(ib, il, g, ValueRange{p, c}));
                scf::YieldOp::create(
                    ib, il,
                    tensor::InsertOp::create(ib, il, sum, acc2[0], ValueRange{row, c})
                        .getResult());
              });
          scf::YieldOp::create(ob, ol, inner.getResults());
        });
    rewriter.replaceOp(op, outer.getResult(0));
    return success();
  }
};

} // namespace

void ftc::train_to_linalg::populateDataMovementPatterns(RewritePatternSet &patterns) {
  patterns.add<ReshapePattern, TransposePattern, SlicePattern, SplitPattern, ConcatPattern,
               PadPattern, EmbeddingPattern, EmbeddingGradPattern>(patterns.getContext());
}
