//===- GpuSplitReductions.cpp - Reductions a GPU's threads share ----------===//
//
// See ftc-gpu-split-reductions in Passes.td. The split itself is upstream's
// (linalg::splitReduction); this pass decides which reductions to split and
// how, from where the reduced dimension lies in memory.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

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
                                                       int64_t minThreads) {
  if (!op.hasPureTensorSemantics() || op.getNumReductionLoops() != 1 ||
      op.getNumDpsInits() != 1 || op.hasIndexSemantics() ||
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
    // each.
    if (length % lanes != 0 || length < 8 * lanes)
      return std::nullopt;
    linalg::SplitReductionOptions o;
    o.ratio = lanes;
    o.index = static_cast<unsigned>(outRank);
    o.innerParallel = true;
    return o;
  }
  if (strided && red != last && outRank > 0 &&
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

struct GpuSplitReductionsPass
    : public ftc::impl::GpuSplitReductionsBase<GpuSplitReductionsPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<linalg::GenericOp> reductions;
    getOperation().walk([&](linalg::GenericOp op) {
      if (planSplit(op, lanes, minThreads))
        reductions.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (linalg::GenericOp op : reductions) {
      linalg::SplitReductionOptions options = *planSplit(op, lanes, minThreads);
      rewriter.setInsertionPoint(op);
      // A combiner without an identity (or a body upstream cannot read):
      // the reduction stays as it is.
      (void)linalg::splitReduction(
          rewriter, op, [&](linalg::LinalgOp) { return options; });
    }
  }
};

} // namespace
