//===- TileAndFuse.cpp - Elementwise and reduction ops in fused blocks ----===//
//
// After the products are scheduled, what is left at the function's top level
// is elementwise and reduction generics. Each of them, from the last one
// back, is tiled into parallel blocks of its outer parallel loops with
// upstream's scf::tileConsumerAndFuseProducersUsingSCF, which pulls the ops
// that produce its operands into the same block: the row statistics of a
// softmax or layer norm are computed in the block that normalizes the row,
// so each row is read from memory once and finished while in cache.
//
// Written here: what to fuse and the block sizes, and two repairs that keep
// every block writing in place (a destination elementwise fusion emptied,
// and an allocation per use of each empty tensor, placed at its user).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineExprVisitor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/Support/DebugLog.h"
#include "llvm/Support/InterleavedRange.h"

#define DEBUG_TYPE "ftc-cpu-tile-and-fuse"

namespace ftc {
#define GEN_PASS_DEF_CPUTILEANDFUSE
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// A generic (or fill) at the function's top level on static tensors: the
/// ops this pass tiles and fuses.
bool isCandidate(Operation *op) {
  auto linalgOp = dyn_cast_or_null<linalg::LinalgOp>(op);
  if (!linalgOp || !isa<linalg::GenericOp, linalg::FillOp>(op))
    return false;
  // At the function's top level, or in a top-level scf.if (apply's guarded
  // updates).
  Operation *parent = op->getParentOp();
  if (isa<scf::IfOp>(parent))
    parent = parent->getParentOp();
  return isa<func::FuncOp>(parent) && linalgOp.hasPureTensorSemantics() &&
         !linalgOp.hasDynamicShape();
}

/// The block of `op`'s loops: outer parallel loops are narrowed, outermost
/// first, until a block has at most `target` iterations; each tile divides
/// its loop, reduction loops are never tiled. Empty when the whole op is one
/// block.
SmallVector<int64_t> blockSizes(linalg::LinalgOp op, int64_t target) {
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  int64_t volume = 1;
  for (int64_t r : ranges)
    volume *= r;
  if (volume <= target)
    return {};
  SmallVector<int64_t> sizes(ranges.size(), 0);
  for (auto [d, range] : llvm::enumerate(ranges)) {
    if (iterators[d] != utils::IteratorType::parallel || range == 1)
      continue;
    int64_t others = volume / range;
    if (others >= target) {
      sizes[d] = 1;
      volume = others;
      continue;
    }
    int64_t tile = std::max<int64_t>(1, target / others);
    while (range % tile != 0)
      --tile;
    // A few blocks in an even number: 768 columns in 4 blocks of 192, not
    // 3 of 256 (2 on one thread of 2, 1 on the other).
    sizes[d] = ftc::cpu::evenBlocks(range, tile);
    break;
  }
  if (llvm::all_of(sizes, [](int64_t s) { return s == 0; }))
    return {};
  return sizes;
}

/// An offset as sum_i coefficients[i] * iv_i + constant over the induction
/// variables of a loop.
struct Linear {
  SmallVector<int64_t> coefficients;
  int64_t constant = 0;
};

/// `offset` as a linear function of the induction variables of `loop`, when
/// it is a constant, an induction variable or an affine.apply linear in them
/// (no division or modulo) and constants; nullopt otherwise.
std::optional<Linear> linearInIvs(OpFoldResult offset, scf::ForallOp loop) {
  SmallVector<Value> ivs = loop.getInductionVars();
  Linear linear{SmallVector<int64_t>(ivs.size(), 0), 0};
  if (std::optional<int64_t> constant = getConstantIntValue(offset)) {
    linear.constant = *constant;
    return linear;
  }
  // The value itself (coefficient 1), or the operands of its affine.apply
  // with their coefficients in the flattened map ([dims, symbols, constant]).
  auto value = cast<Value>(offset);
  SmallVector<Value> operands{value};
  SmallVector<int64_t> terms{1};
  if (auto apply = value.getDefiningOp<affine::AffineApplyOp>()) {
    AffineMap map = apply.getAffineMap();
    SimpleAffineExprFlattener flattener(map.getNumDims(), map.getNumSymbols());
    if (failed(flattener.walkPostOrder(map.getResult(0))) || flattener.numLocals != 0)
      return std::nullopt;
    operands = llvm::to_vector(apply.getOperands());
    terms.assign(flattener.operandExprStack.back().begin(),
                 std::prev(flattener.operandExprStack.back().end()));
    linear.constant = flattener.operandExprStack.back().back();
  }
  for (auto [operand, c] : llvm::zip_equal(operands, terms)) {
    if (c == 0)
      continue;
    if (std::optional<int64_t> constant = getConstantIntValue(operand)) {
      linear.constant += c * *constant;
      continue;
    }
    auto *iv = llvm::find(ivs, operand);
    if (iv == ivs.end())
      return std::nullopt;
    linear.coefficients[iv - ivs.begin()] += c;
  }
  return linear;
}

/// A loop's bounds, where all are constants.
struct Bounds {
  SmallVector<int64_t> lower, upper, steps;
};

std::optional<Bounds> constantBounds(scf::ForallOp loop) {
  std::optional<SmallVector<int64_t>> lower = getConstantIntValues(loop.getMixedLowerBound());
  std::optional<SmallVector<int64_t>> upper = getConstantIntValues(loop.getMixedUpperBound());
  std::optional<SmallVector<int64_t>> steps = getConstantIntValues(loop.getMixedStep());
  if (!lower || !upper || !steps)
    return std::nullopt;
  return Bounds{std::move(*lower), std::move(*upper), std::move(*steps)};
}

/// Whether the parts of `slice`'s source that the blocks of `loop` read are
/// disjoint: only then may its producer be computed in the blocks, each part
/// once. Along each dimension the offset is a constant (every block reads
/// the same range) or c * iv (+ a constant) for a single induction variable
/// iv with a size of at most c times iv's step, and every induction variable
/// with more than one iteration moves some dimension so. A slice that is all
/// of the source (a bias every row reads) would recompute the producer in
/// every block; one whose blocks overlap (a column sum split into partial
/// sums of interleaved rows, d1 * 16 + d2, tiled along d2: each block's
/// bounding box spans most rows) would compute the overlap twice, twice
/// accumulated where the producer is a reduction continued from a result of
/// the loop.
bool isDisjointPart(tensor::ExtractSliceOp slice, scf::ForallOp loop) {
  std::optional<Bounds> bounds = constantBounds(loop);
  if (!bounds)
    return false;
  ArrayRef<int64_t> steps = bounds->steps;
  SmallVector<bool> moves(steps.size(), false);
  for (auto [offset, size] : llvm::zip(slice.getMixedOffsets(), slice.getMixedSizes())) {
    std::optional<int64_t> extent = getConstantIntValue(size);
    std::optional<Linear> linear = linearInIvs(offset, loop);
    if (!extent || !linear)
      return false;
    int64_t moving = -1;
    for (auto [i, c] : llvm::enumerate(linear->coefficients)) {
      if (c == 0)
        continue;
      if (moving >= 0 || c < 0 || *extent > c * steps[i])
        return false;
      moving = i;
    }
    if (moving >= 0)
      moves[moving] = true;
  }
  for (auto [i, step] : llvm::enumerate(steps))
    if (!moves[i] && bounds->lower[i] + step < bounds->upper[i])
      return false;
  return true;
}

/// Whether the blocks of `loop` read all of `slice`'s source together, one
/// disjoint part each (isDisjointPart): along each dimension the whole
/// extent (offset 0), or the offset c * iv moving by exactly the size from
/// 0 to the end. Only then can the loop's result stand for the producer
/// everywhere (`yieldProducerReplacement`); a blocked row sum's first part
/// reads 64 of 77 columns, and the other 13 would be missing for the
/// producer's other readers.
bool coversSource(tensor::ExtractSliceOp slice, scf::ForallOp loop) {
  std::optional<Bounds> bounds = constantBounds(loop);
  RankedTensorType source = slice.getSourceType();
  if (!bounds || !source.hasStaticShape())
    return false;
  ArrayRef<int64_t> lower = bounds->lower, upper = bounds->upper, steps = bounds->steps;
  for (auto [d, offset, size] :
       llvm::enumerate(slice.getMixedOffsets(), slice.getMixedSizes())) {
    std::optional<int64_t> extent = getConstantIntValue(size);
    std::optional<Linear> linear = linearInIvs(offset, loop);
    if (!extent || !linear)
      return false;
    int64_t begin = linear->constant, end = linear->constant + *extent;
    for (auto [i, c] : llvm::enumerate(linear->coefficients)) {
      if (c == 0)
        continue;
      if (*extent != c * steps[i])
        return false; // gaps between the blocks' parts
      int64_t last = lower[i] + (upper[i] - lower[i] - 1) / steps[i] * steps[i];
      begin += c * lower[i];
      end += c * last;
    }
    if (begin != 0 || end != source.getDimSize(d))
      return false;
  }
  return true;
}

LogicalResult tileAndFuse(RewriterBase &rewriter, linalg::LinalgOp root, int64_t target,
                          const DenseSet<Operation *> &erased) {
  SmallVector<int64_t> sizes = blockSizes(root, target);
  if (sizes.empty())
    return success();
  scf::SCFTilingOptions tiling;
  tiling.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  tiling.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  scf::SCFTileAndFuseOptions options;
  options.setTilingOptions(tiling);
  // Every fused generic writes its part of a result of the loop
  // (`yieldProducerReplacement`), never a temporary of the block: a
  // temporary written in a parallel block would be privatized by
  // bufferization, an allocation per block. Each is fused once; a second
  // read of it in the block is redirected below. A producer is fused only if
  // every op reading it is the root, fused already, or after the loop (it
  // then reads the loop's result): one that an op before the loop still
  // needed would be computed and stored twice.
  DenseSet<Operation *> fused;
  options.setFusionControlFn(
      [&](tensor::ExtractSliceOp slice, OpResult producer,
          bool isDestination) -> std::optional<scf::SCFTileAndFuseOptions::ControlFnResult> {
        Operation *op = producer.getOwner();
        // Producers of the consumer's own block only: none from outside a
        // guarded update into it.
        auto loop = slice->getParentOfType<scf::ForallOp>();
        if (!isCandidate(op) || op->getBlock() != root->getBlock() ||
            !isDisjointPart(slice, loop))
          return std::nullopt;
        // A fill (the start of a reduction) is redone in the block.
        if (isa<linalg::FillOp>(op))
          return scf::SCFTileAndFuseOptions::ControlFnResult{false};
        // The destination of an op of the block (a sum continued from
        // another's result) is computed into the loop's result itself.
        auto readAsInit = [&](OpOperand &use) {
          auto dps = dyn_cast<DestinationStyleOpInterface>(use.getOwner());
          return dps && dps.isDpsInit(&use);
        };
        if (isDestination ||
            (producer.hasOneUse() && readAsInit(*producer.getUses().begin()))) {
          fused.insert(op);
          return scf::SCFTileAndFuseOptions::ControlFnResult{false};
        }
        if (fused.contains(op))
          return std::nullopt;
        // Read elsewhere too, the loop's result stands for it: all of it.
        if (!producer.hasOneUse() && !coversSource(slice, loop))
          return std::nullopt;
        for (Operation *user : producer.getUsers()) {
          if (loop->isAncestor(user) || user == root.getOperation() ||
              fused.contains(user))
            continue;
          if (loop->getBlock()->findAncestorOpInBlock(*user)->isBeforeInBlock(loop))
            return std::nullopt;
        }
        fused.insert(op);
        return scf::SCFTileAndFuseOptions::ControlFnResult{true};
      });
  FailureOr<scf::SCFTileAndFuseResult> result = scf::tileConsumerAndFuseProducersUsingSCF(
      rewriter, cast<TilingInterface>(root.getOperation()), options);
  if (failed(result))
    return root->emitError("cannot tile into parallel blocks");
  LDBG() << "blocks of " << llvm::interleaved(sizes) << ", "
         << result->fusedProducers.size() << " producers fused";
  auto loop = cast<scf::ForallOp>(result->loops.front().getOperation());
  Block &body = *loop.getBody();

  // A second read of a fused producer in the block (a softmax's row max is
  // read by the sum of exponentials and by the output) takes the part the
  // block computed, not the original.
  for (auto [original, replacement] : result->replacements) {
    auto loopResult = dyn_cast<OpResult>(replacement);
    if (!loopResult || loopResult.getOwner() != loop)
      continue;
    BlockArgument shared = loop.getTiedBlockArgument(
        &loop.getOutputsMutable()[loopResult.getResultNumber()]);
    for (Operation *user : shared.getUsers()) {
      auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(user);
      if (!insert)
        continue;
      Operation *part = insert.getSource().getDefiningOp();
      auto after = [&](Operation *reader) {
        Operation *top = body.findAncestorOpInBlock(*reader);
        return top && part->isBeforeInBlock(top);
      };
      for (Operation *reader : llvm::to_vector(original.getUsers())) {
        auto slice = dyn_cast<tensor::ExtractSliceOp>(reader);
        if (!slice || !loop->isAncestor(slice) || !part ||
            !llvm::all_of(slice->getUsers(), after) ||
            !llvm::equal(slice.getMixedOffsets(), insert.getMixedOffsets(),
                         isEqualConstantIntOrValue) ||
            !llvm::equal(slice.getMixedSizes(), insert.getMixedSizes(),
                         isEqualConstantIntOrValue) ||
            slice.getType() != insert.getSourceType())
          continue;
        rewriter.replaceOp(slice, insert.getSource());
      }
    }
  }
  // Upstream leaves the slices it fused through in the block, dead; they
  // would keep the original producers alive.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
    if (isOpTriviallyDead(&op))
      rewriter.eraseOp(&op);
  // The loop's results replace the originals after the loop; ops before it
  // (of the group, not fused after all) keep reading the originals.
  for (auto [original, replacement] : result->replacements)
    rewriter.replaceUsesWithIf(original, replacement, [&](OpOperand &use) {
      Operation *top = loop->getBlock()->findAncestorOpInBlock(*use.getOwner());
      return top && top != loop && loop->isBeforeInBlock(top);
    });
  // The originals now unused.
  if (root->use_empty())
    rewriter.eraseOp(root);
  // Until none is left: one may be read only by another.
  SmallVector<Operation *> producers = result->fusedProducers.takeVector();
  for (bool changed = true; changed;) {
    changed = false;
    for (Operation *producer : producers)
      if (!erased.contains(producer) && producer->use_empty()) {
        rewriter.eraseOp(producer);
        changed = true;
      }
  }
  return success();
}

/// An op of a parallel block that writes its part of a loop result into an
/// empty tensor (elementwise fusion replaces the destination an op does not
/// read, such as a product's fused epilogue's, with one) writes it into the
/// loop's result again: into a fresh tensor, bufferization would allocate
/// one per block.
void writeBlocksInPlace(RewriterBase &rewriter, func::FuncOp func) {
  func.walk([&](tensor::ParallelInsertSliceOp insert) {
    auto op = insert.getSource().getDefiningOp<DestinationStyleOpInterface>();
    if (!op || op->getBlock() != insert->getParentOp()->getBlock())
      return;
    OpOperand *init = op.getTiedOpOperand(cast<OpResult>(insert.getSource()));
    auto empty = init->get().getDefiningOp<tensor::EmptyOp>();
    if (!empty || empty.getType() != insert.getSourceType())
      return;
    for (Value v : insert->getOperands()) {
      Operation *def = v.getDefiningOp();
      if (v != insert.getSource() && v != insert.getDest() && def &&
          def->getBlock() == op->getBlock() && !def->isBeforeInBlock(op))
        return;
    }
    rewriter.setInsertionPoint(op);
    Value part = tensor::ExtractSliceOp::create(
        rewriter, insert.getLoc(), insert.getSourceType(), insert.getDest(),
        insert.getMixedOffsets(), insert.getMixedSizes(), insert.getMixedStrides());
    rewriter.modifyOpInPlace(op, [&] { init->set(part); });
  });
}

struct CpuTileAndFusePass : public ftc::impl::CpuTileAndFuseBase<CpuTileAndFusePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    IRRewriter repair(&getContext());
    writeBlocksInPlace(repair, func);
    // Ops fused into a block are erased; the walk below skips them.
    struct Erasures : RewriterBase::Listener {
      DenseSet<Operation *> erased;
      void notifyOperationErased(Operation *op) override { erased.insert(op); }
    } erasures;
    IRRewriter rewriter(&getContext(), &erasures);
    // From the last op back, so that each op is a consumer before it can be
    // a producer: a fused producer is gone (or inside a block) by the time
    // the walk reaches it.
    // Also the ops of a top-level scf.if's then-block: apply's update of
    // each parameter runs under its optim.owned flag (ftc-optimizer).
    SmallVector<Operation *> ops;
    for (Operation &op : func.getBody().front()) {
      ops.push_back(&op);
      if (auto guard = dyn_cast<scf::IfOp>(op))
        for (Operation &inner : guard.getThenRegion().front())
          ops.push_back(&inner);
    }
    for (Operation *op : llvm::reverse(ops)) {
      if (erasures.erased.contains(op) || !isa<linalg::GenericOp>(op) ||
          !isCandidate(op))
        continue;
      if (op->use_empty()) {
        rewriter.eraseOp(op);
        continue;
      }
      rewriter.setInsertionPoint(op);
      if (failed(tileAndFuse(rewriter, cast<linalg::LinalgOp>(op), blockElements,
                             erasures.erased)))
        return signalPassFailure();
    }
    // One buffer per use of each empty tensor, allocated outside the blocks:
    // canonicalization would shrink an empty tensor sliced in a block to an
    // allocation in the block (a heap allocation per block), and two
    // temporaries of a block sliced from one buffer (CSE merges empty
    // tensors) would conflict, which bufferization resolves with a copy per
    // block. An allocation is neither merged nor moved.
    SmallVector<tensor::EmptyOp> empties;
    for (Operation &op : func.getBody().front())
      if (auto empty = dyn_cast<tensor::EmptyOp>(op))
        empties.push_back(empty);
    // Each allocated right before the op (at the function's top level) that
    // uses it, as bufferization would place it: CSE left the merged empty
    // tensor at its first use, which would make every buffer live from there.
    Block &top = func.getBody().front();
    for (tensor::EmptyOp empty : empties) {
      for (OpOperand &use : llvm::make_early_inc_range(empty->getUses())) {
        rewriter.setInsertionPoint(top.findAncestorOpInBlock(*use.getOwner()));
        auto alloc = bufferization::AllocTensorOp::create(rewriter, empty.getLoc(),
                                                          empty.getType(), ValueRange{});
        rewriter.modifyOpInPlace(use.getOwner(), [&] { use.set(alloc); });
      }
      rewriter.eraseOp(empty);
    }
  }
};

} // namespace
