//===- GpuPadProducts.cpp - Products' rows padded to 16 bytes -------------===//
//
// See ftc-gpu-pad-products in Passes.td. Runs on tensors: each padded
// operand is a tensor.pad (with zeros), which upstream's pattern fuses
// into the elementwise op producing it, so that op writes its result into
// the padded tensor directly; the product's result is read through a slice.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ftc {
#define GEN_PASS_DEF_GPUPADPRODUCTS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// The loop dimensions of the product `op` to pad to a multiple of
/// `multiple`: each the innermost dimension of some operand (its size is
/// that operand's row stride), not a multiple of `multiple`, and the only
/// dimension of its kind (m, n or k) larger than 1, so that each kind still
/// collapses into one stride per operand. Empty: nothing to pad.
SmallVector<unsigned> dimsToPad(linalg::LinalgOp op, int64_t multiple) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return {};
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return {};
  FailureOr<linalg::ContractionDimensions> dims = linalg::inferContractionDims(op);
  if (failed(dims))
    return {};
  SmallVector<unsigned> pad;
  for (ArrayRef<unsigned> kind : {ArrayRef<unsigned>(dims->m), ArrayRef<unsigned>(dims->n),
                                  ArrayRef<unsigned>(dims->k)}) {
    SmallVector<unsigned> large;
    for (unsigned d : kind)
      if (ranges[d] != 1)
        large.push_back(d);
    if (large.size() != 1 || ranges[large[0]] % multiple == 0)
      continue;
    unsigned d = large[0];
    bool innermost = llvm::any_of(op->getOpOperands(), [&](OpOperand &operand) {
      AffineMap map = op.getMatchingIndexingMap(&operand);
      return map.getNumResults() > 0 && map.getResults().back() == getAffineDimExpr(d, op.getContext());
    });
    if (innermost)
      pad.push_back(d);
  }
  return pad;
}

/// Padded operands, by operand and padded type: one pad of an operand two
/// products pad alike (the LM head's logits gradient: the input gradient's
/// k, the weight gradient's m).
using PadCache = llvm::DenseMap<std::pair<Value, Type>, Value>;

/// `op` on operands padded with zeros along `pad` (to a multiple of
/// `multiple`), its result sliced back to its shape.
void padProduct(RewriterBase &rewriter, linalg::LinalgOp op, ArrayRef<unsigned> pad,
                int64_t multiple, PadCache &cache) {
  Location loc = op.getLoc();
  SmallVector<Value> operands;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = cast<RankedTensorType>(operand.get().getType());
    AffineMap map = op.getMatchingIndexingMap(&operand);
    SmallVector<int64_t> shape(type.getShape());
    for (auto [r, expr] : llvm::enumerate(map.getResults()))
      if (llvm::is_contained(pad, cast<AffineDimExpr>(expr).getPosition()))
        shape[r] = llvm::alignTo(shape[r], multiple);
    if (ArrayRef<int64_t>(shape) == type.getShape()) {
      operands.push_back(operand.get());
      continue;
    }
    auto [it, inserted] = cache.try_emplace({operand.get(), type.clone(shape)}, nullptr);
    if (inserted) {
      // Right after the operand, for every product using it.
      if (Operation *def = operand.get().getDefiningOp())
        rewriter.setInsertionPointAfter(def);
      else
        rewriter.setInsertionPointToStart(cast<BlockArgument>(operand.get()).getOwner());
      Value zero =
          arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(type.getElementType()));
      it->second = tensor::createPadHighOp(type.clone(shape), operand.get(), zero,
                                           /*nofold=*/false, loc, rewriter);
    }
    operands.push_back(it->second);
  }
  rewriter.setInsertionPoint(op);
  Value init = operands.back();
  Operation *padded = mlir::clone(rewriter, op, TypeRange{init.getType()}, operands);
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  SmallVector<OpFoldResult> offsets(resultType.getRank(), rewriter.getIndexAttr(0)),
      strides(resultType.getRank(), rewriter.getIndexAttr(1)), sizes;
  for (int64_t size : resultType.getShape())
    sizes.push_back(rewriter.getIndexAttr(size));
  Value sliced = tensor::ExtractSliceOp::create(rewriter, loc, resultType, padded->getResult(0),
                                                offsets, sizes, strides);
  rewriter.replaceOp(op, sliced);
}

/// The fill of a padded tensor whose every element but the padding its
/// producer then writes (the pad fused into it: the fill's result read only
/// as that producer's destination slice and as the destination the slice
/// is inserted back into): the fill narrowed to the padding, one slab of
/// the one padded dimension. The logits' gradient of gpt2-small is 823 MB
/// of bf16, and filling it whole took 1 ms on an H200.
void fillOnlyPadding(RewriterBase &rewriter, linalg::FillOp fill) {
  if (!fill.hasPureTensorSemantics())
    return;
  Value full = fill.getResult(0);
  auto type = cast<RankedTensorType>(full.getType());
  tensor::ExtractSliceOp slice;
  tensor::InsertSliceOp insert;
  for (OpOperand &use : full.getUses()) {
    if (auto s = dyn_cast<tensor::ExtractSliceOp>(use.getOwner()); s && !slice)
      slice = s;
    else if (auto i = dyn_cast<tensor::InsertSliceOp>(use.getOwner());
             i && !insert && use.get() == i.getDest())
      insert = i;
    else
      return;
  }
  // The slice only the destination of an op that does not read it (its
  // elements other than the padding are then never read as zeros).
  if (!slice || !slice->hasOneUse())
    return;
  auto producer = dyn_cast<linalg::LinalgOp>(*slice->getUsers().begin());
  OpOperand *destination = producer ? &*slice->getUses().begin() : nullptr;
  if (!producer || !producer.isDpsInit(destination) ||
      producer.payloadUsesValueFromOperand(destination))
    return;
  if (!insert || !slice.hasUnitStride() || !insert.hasUnitStride() ||
      !llvm::all_of(slice.getStaticOffsets(), [](int64_t o) { return o == 0; }) ||
      slice.getStaticOffsets() != insert.getStaticOffsets() ||
      slice.getStaticSizes() != insert.getStaticSizes() ||
      ShapedType::isDynamicShape(slice.getStaticSizes()))
    return;
  // The one dimension the slice leaves out the end of.
  ArrayRef<int64_t> sizes = slice.getStaticSizes();
  int64_t padded = -1;
  for (int64_t d = 0; d < type.getRank(); ++d) {
    if (sizes[d] == type.getDimSize(d))
      continue;
    if (padded >= 0)
      return;
    padded = d;
  }
  if (padded < 0)
    return;
  Value empty = fill.getOutputs()[0];
  if (!empty.getDefiningOp<tensor::EmptyOp>())
    return;
  Location loc = fill.getLoc();
  rewriter.setInsertionPoint(fill);
  SmallVector<OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0)),
      padSizes, strides(type.getRank(), rewriter.getIndexAttr(1));
  for (int64_t d = 0; d < type.getRank(); ++d)
    padSizes.push_back(rewriter.getIndexAttr(d == padded ? type.getDimSize(d) - sizes[d]
                                                         : type.getDimSize(d)));
  offsets[padded] = rewriter.getIndexAttr(sizes[padded]);
  Value padRegion = tensor::ExtractSliceOp::create(rewriter, loc, empty, offsets, padSizes, strides);
  Value zeros = linalg::FillOp::create(rewriter, loc, fill.getInputs()[0], padRegion).getResult(0);
  Value withZeros = tensor::InsertSliceOp::create(rewriter, loc, zeros, empty, offsets, padSizes, strides);
  rewriter.replaceOp(fill, withZeros);
}

struct GpuPadProductsPass : public ftc::impl::GpuPadProductsBase<GpuPadProductsPass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<std::pair<linalg::LinalgOp, SmallVector<unsigned>>> products;
    func.walk([&](linalg::LinalgOp op) {
      SmallVector<unsigned> pad = dimsToPad(op, multiple);
      if (!pad.empty())
        products.push_back({op, std::move(pad)});
    });
    if (products.empty())
      return;
    IRRewriter rewriter(&getContext());
    PadCache cache;
    for (auto &[op, pad] : products)
      padProduct(rewriter, op, pad, multiple, cache);
    // Each pad fused into the elementwise op producing its operand: that
    // op's destination a slice of the zero-filled padded tensor, inserted
    // into it (in place after bufferization). No CSE here: it would share
    // the destinations ftc-unshare-destinations has just made distinct.
    RewritePatternSet patterns(&getContext());
    linalg::populateFuseTensorPadWithProducerLinalgOpPatterns(patterns);
    linalg::FillOp::getCanonicalizationPatterns(patterns, &getContext());
    tensor::PadOp::getCanonicalizationPatterns(patterns, &getContext());
    if (failed(applyPatternsGreedily(func, std::move(patterns))))
      return signalPassFailure();
    func.walk([&](linalg::FillOp fill) { fillOnlyPadding(rewriter, fill); });
  }
};

} // namespace
