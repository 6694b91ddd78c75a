//===- GpuSplitReductions.cpp - Reductions a GPU's threads share ----------===//
//
// See ftc-gpu-split-reductions in Passes.td. This pass decides which
// reductions to split and how, from where the reduced dimension lies in
// memory; the split is upstream's (linalg::splitReduction) except for what
// upstream does not take: a body that reads its indices (splitRow) and
// several reduced dimensions (splitOuterReduction).
//
//===----------------------------------------------------------------------===//

#include "Rows.h"

#include "ftc/Transforms/Passes.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace ftc {
#define GEN_PASS_DEF_GPUSPLITREDUCTIONS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// How to split `op`, or nothing.
std::optional<linalg::SplitReductionOptions> planSplit(linalg::GenericOp op, int64_t lanes,
                                                       int64_t minThreads, bool splitRows) {
  // A row's reduction is a warp's (ftc-gpu-row-kernels).
  if (!splitRows && (ftc::cuda::rowReduction(op) || ftc::cuda::rowPartials(op)))
    return std::nullopt;
  if (!op.hasPureTensorSemantics() || op.getNumReductionLoops() != 1 ||
      op.getNumDpsInits() != 1 ||
      !llvm::all_of(op.getIndexingMapsArray(),
                    [](AffineMap m) { return m.isProjectedPermutation(); }))
    return std::nullopt;
  // Products are cuBLASLt's (ftc-gpu-library-contractions).
  if (linalg::isaContractionOpInterface(op))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  SmallVector<unsigned> reductionDims;
  op.getReductionDims(reductionDims);
  unsigned red = reductionDims[0], last = op.getNumLoops() - 1;
  // A product in disguise (one elementwise fusion made of a product and
  // its neighbours, which cuBLASLt cannot take): an operand read along
  // the reduced dimension but the same for some output elements. Its
  // partial sums would be the whole output times the lanes (gpt2-tiny's
  // fused LM head: 512 MiB); its outputs are threads enough.
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (!map.isFunctionOfDim(red))
      continue;
    for (unsigned d = 0; d <= last; ++d)
      if (!map.isFunctionOfDim(d))
        return std::nullopt;
  }
  int64_t length = ranges[red], threads = 1;
  for (unsigned d = 0; d <= last; ++d)
    if (d != red)
      threads *= ranges[d];
  // Every input that reads the reduced dimension reads it, or (strided
  // case) the last loop, as its innermost dimension.
  bool contiguous = true, strided = true;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0)
      continue;
    unsigned inner = map.getDimPosition(map.getNumResults() - 1);
    bool readsRed = map.isFunctionOfDim(red);
    contiguous &= !readsRed || inner == red;
    strided &= inner == last;
  }
  AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  int64_t outRank = out.getNumResults();
  if (contiguous && red == last) {
    // A row's lanes: lane i sums elements i, i + lanes, ...; at least 8
    // each. The split needs lanes dividing the row: where `lanes` does not,
    // the divisor of the row nearest to it, from lanes / 2 to 2 lanes
    // (gpt2's vocabulary, 50257 = 29 x 1733: 29 lanes). A row no such
    // divisor cuts is left to one thread.
    int64_t ratio = 0;
    for (int64_t r = std::max<int64_t>(lanes / 2, 2); r <= 2 * lanes; ++r)
      if (length % r == 0 && (ratio == 0 || std::abs(r - lanes) < std::abs(ratio - lanes)))
        ratio = r;
    if (ratio == 0 || length < 8 * ratio)
      return std::nullopt;
    linalg::SplitReductionOptions o;
    o.ratio = ratio;
    o.index = static_cast<unsigned>(outRank);
    o.innerParallel = true;
    return o;
  }
  // (A body reading its indices is split by rows only: splitRow.)
  if (strided && red != last && outRank > 0 && !op.hasIndexSemantics() &&
      out.getDimPosition(outRank - 1) == last) {
    // Columns: runs of rows per thread, as many runs as make minThreads
    // threads, each run 16 rows or more.
    int64_t ratio = 1;
    while (threads * ratio < minThreads && length % (ratio * 2) == 0 &&
           length / (ratio * 2) >= 16)
      ratio *= 2;
    if (ratio < 2)
      return std::nullopt;
    linalg::SplitReductionOptions o;
    o.ratio = ratio;
    o.index = 0;
    o.innerParallel = false;
    return o;
  }
  return std::nullopt;
}

using ftc::cuda::combinerOf;

/// `partial` (the outputs' shape with one more dimension at `reduced`)
/// combined along that dimension, in order, into `init` by `combiner`.
linalg::GenericOp combinePartials(RewriterBase &rewriter, Location loc, Value partial, Value init,
                                  Operation *combiner, int64_t reduced) {
  MLIRContext *ctx = rewriter.getContext();
  int64_t rank = cast<RankedTensorType>(init.getType()).getRank();
  SmallVector<AffineMap> maps{AffineMap::getMultiDimIdentityMap(rank + 1, ctx),
                              AffineMap::getMultiDimIdentityMap(rank + 1, ctx).dropResult(reduced)};
  SmallVector<utils::IteratorType> iterators(rank + 1, utils::IteratorType::parallel);
  iterators[reduced] = utils::IteratorType::reduction;
  return linalg::GenericOp::create(
      rewriter, loc, init.getType(), partial, init, maps, iterators,
      [&](OpBuilder &b, Location l, ValueRange args) {
        Operation *c = b.clone(*combiner);
        c->setOperand(0, args[0]);
        c->setOperand(1, args[1]);
        linalg::YieldOp::create(b, l, c->getResult(0));
      });
}

/// A reduction over several dimensions with too few outputs for the GPU's
/// threads (a layer norm's weight gradient, reduced over batch and rows in
/// the lowering's blocked order: 32 x 768 outputs, each a sum of 256 rows)
/// keeps its outermost reduced dimension as outputs: partial results
/// [that dimension, outputs...] from the combiner's identity, then one
/// reduction of them into the original outputs, in order. Upstream's split
/// takes ops of one reduced dimension only.
LogicalResult splitOuterReduction(RewriterBase &rewriter, linalg::GenericOp op,
                                  int64_t minThreads) {
  if (!op.hasPureTensorSemantics() || op.getNumReductionLoops() < 2 ||
      op.getNumDpsInits() != 1 || op.getNumResults() != 1 || op.hasIndexSemantics() ||
      linalg::isaContractionOpInterface(op) ||
      !op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isProjectedPermutation())
    return failure();
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return failure();
  SmallVector<unsigned> reductionDims;
  op.getReductionDims(reductionDims);
  unsigned outer = reductionDims.front();
  int64_t threads = 1, work = 1;
  for (auto [d, range] : llvm::enumerate(ranges))
    (llvm::is_contained(reductionDims, d) ? work : threads) *= range;
  // Threads enough already, too little left to each, or partial results
  // larger than the largest input (a product in disguise).
  int64_t largest = 0;
  for (Value in : op.getDpsInputs())
    if (auto type = dyn_cast<RankedTensorType>(in.getType()))
      largest = std::max(largest, type.getNumElements());
  if (threads >= minThreads || work / ranges[outer] < 16 ||
      threads * ranges[outer] > largest)
    return failure();
  auto [combiner, identity] = combinerOf(op);
  if (!combiner)
    return failure();

  Location loc = op.getLoc();
  MLIRContext *ctx = op.getContext();
  Value init = op.getDpsInitOperand(0)->get();
  auto initType = cast<RankedTensorType>(init.getType());
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  // The partials: the outer reduced dimension first, then the outputs'.
  SmallVector<int64_t> partialShape{ranges[outer]};
  llvm::append_range(partialShape, initType.getShape());
  SmallVector<AffineExpr> partialExprs{getAffineDimExpr(outer, ctx)};
  llvm::append_range(partialExprs, outMap.getResults());
  Value empty = tensor::EmptyOp::create(rewriter, loc, partialShape, initType.getElementType());
  Value id = arith::ConstantOp::create(rewriter, loc, identity);
  Value filled = linalg::FillOp::create(rewriter, loc, id, empty).getResult(0);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  maps.back() = AffineMap::get(op.getNumLoops(), 0, partialExprs, ctx);
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  iterators[outer] = utils::IteratorType::parallel;
  auto partial = linalg::GenericOp::create(rewriter, loc, filled.getType(),
                                           op.getDpsInputs(), filled, maps, iterators);
  rewriter.cloneRegionBefore(op.getRegion(), partial.getRegion(), partial.getRegion().begin());

  // The partials into the outputs, in order of the outer dimension.
  linalg::GenericOp combined =
      combinePartials(rewriter, loc, partial.getResult(0), init, combiner, /*reduced=*/0);
  rewriter.replaceOp(op, combined.getResults());
  return success();
}

/// A row's split (the reduced dimension last and contiguous) written out
/// here, for a body that reads its indices (a causal mask fused into a
/// softmax's maximum): upstream's split takes no `linalg.index`. The same
/// split as upstream's innerParallel one: the row's dimension becomes
/// (block: reduced, lane: a new last parallel dimension), each input reads
/// element block * ratio + lane, the body's index of the row is that
/// expression, and the lanes' partial results are then reduced in order.
/// The blocks' count is given by an operand of that shape (the loop ranges
/// come from the operands' shapes), as the lowering's blocked sums do.
LogicalResult splitRow(RewriterBase &rewriter, linalg::GenericOp op, int64_t ratio) {
  auto [combiner, identity] = combinerOf(op);
  if (!combiner)
    return failure();
  MLIRContext *ctx = op.getContext();
  Location loc = op.getLoc();
  unsigned n = op.getNumLoops(), red = n - 1;
  int64_t blocks = op.getStaticLoopRanges()[red] / ratio;
  AffineExpr row = getAffineDimExpr(red, ctx) * ratio + getAffineDimExpr(n, ctx);
  SmallVector<AffineExpr> replacement;
  for (unsigned d = 0; d < n; ++d)
    replacement.push_back(d == red ? row : getAffineDimExpr(d, ctx));
  SmallVector<AffineMap> maps;
  for (OpOperand *in : op.getDpsInputOperands())
    maps.push_back(op.getMatchingIndexingMap(in).replaceDimsAndSymbols(replacement, {}, n + 1, 0));
  maps.push_back(AffineMap::get(n + 1, 0, getAffineDimExpr(red, ctx)));
  Value init = op.getDpsInitOperand(0)->get();
  auto initType = cast<RankedTensorType>(init.getType());
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  SmallVector<AffineExpr> partialExprs(outMap.getResults());
  partialExprs.push_back(getAffineDimExpr(n, ctx));
  maps.push_back(AffineMap::get(n + 1, 0, partialExprs, ctx));
  SmallVector<int64_t> partialShape(initType.getShape());
  partialShape.push_back(ratio);
  Value extent = tensor::EmptyOp::create(rewriter, loc, ArrayRef<int64_t>{blocks},
                                         initType.getElementType());
  Value empty = tensor::EmptyOp::create(rewriter, loc, partialShape, initType.getElementType());
  Value id = arith::ConstantOp::create(rewriter, loc, identity);
  Value filled = linalg::FillOp::create(rewriter, loc, id, empty).getResult(0);
  SmallVector<Value> inputs(op.getDpsInputs());
  inputs.push_back(extent);
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  iterators.push_back(utils::IteratorType::parallel);
  auto partial =
      linalg::GenericOp::create(rewriter, loc, filled.getType(), inputs, filled, maps, iterators);
  rewriter.cloneRegionBefore(op.getRegion(), partial.getRegion(), partial.getRegion().begin());
  Block &body = partial.getRegion().front();
  body.insertArgument(op.getNumDpsInputs(), initType.getElementType(), loc);
  // The row's index: block * ratio + lane.
  SmallVector<linalg::IndexOp> indices;
  body.walk([&](linalg::IndexOp index) {
    if (index.getDim() == red)
      indices.push_back(index);
  });
  for (linalg::IndexOp index : indices) {
    rewriter.setInsertionPoint(index);
    Value block = linalg::IndexOp::create(rewriter, loc, red);
    Value lane = linalg::IndexOp::create(rewriter, loc, n);
    Value scaled = arith::MulIOp::create(
        rewriter, loc, block, arith::ConstantIndexOp::create(rewriter, loc, ratio));
    Value rowIndex = arith::AddIOp::create(rewriter, loc, scaled, lane);
    rewriter.replaceOp(index, rowIndex);
  }
  // The lanes into the outputs, in order.
  rewriter.setInsertionPoint(op);
  linalg::GenericOp combined = combinePartials(rewriter, loc, partial.getResult(0), init,
                                               combiner, /*reduced=*/initType.getRank());
  rewriter.replaceOp(op, combined.getResults());
  return success();
}

struct GpuSplitReductionsPass
    : public ftc::impl::GpuSplitReductionsBase<GpuSplitReductionsPass> {
  using Base::Base;
  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    SmallVector<linalg::GenericOp> nests;
    getOperation().walk([&](linalg::GenericOp op) { nests.push_back(op); });
    for (linalg::GenericOp op : nests) {
      rewriter.setInsertionPoint(op);
      if (splitRows || !ftc::cuda::rowPartials(op))
        (void)splitOuterReduction(rewriter, op, minThreads);
    }
    SmallVector<linalg::GenericOp> reductions;
    getOperation().walk([&](linalg::GenericOp op) {
      if (planSplit(op, lanes, minThreads, splitRows))
        reductions.push_back(op);
    });
    for (linalg::GenericOp op : reductions) {
      linalg::SplitReductionOptions options = *planSplit(op, lanes, minThreads, splitRows);
      rewriter.setInsertionPoint(op);
      // A combiner without an identity (or a body upstream cannot read):
      // the reduction stays as it is.
      if (op.hasIndexSemantics())
        (void)splitRow(rewriter, op, options.ratio);
      else
        (void)linalg::splitReduction(
            rewriter, op, [&](linalg::LinalgOp) { return options; });
    }
  }
};

} // namespace
