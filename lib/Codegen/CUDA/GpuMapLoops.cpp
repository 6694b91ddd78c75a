//===- GpuMapLoops.cpp - A step on buffers as GPU kernel launches ---------===//
//
// After bufferization (and before the memory plan), an entry point is a
// sequence of linalg ops on buffers, copies, and scalar code (the step
// counter, the optimizer's bias corrections). On a GPU, the host code may
// only launch kernels: every op that reads or writes a buffer runs in one.
//
//   - each linalg op becomes loops (`linalgOpToParallelLoops`), its parallel
//     dimensions outermost (a generic is interchanged first, so that the
//     reduction loops run inside one thread, in order: the sums are the
//     CPU's, and a kernel needs no atomics);
//   - each top-level `scf.parallel` becomes a `gpu.launch` over its
//     flattened iteration space, one iteration per thread, the innermost
//     dimension fastest (neighbouring threads touch neighbouring elements);
//   - a run of other ops that touch memory (a serial loop, a scalar update)
//     becomes a single-thread kernel; a scalar it computes that later
//     kernels read goes through a one-element buffer (a "spill");
//   - an `scf.for` around parallel loops stays on the host and launches the
//     kernels of its body in each iteration.
//
// Views (subview, reshapes) are cloned into the kernels that use them, so
// that kernels take only whole buffers of static shape: bare pointers.
// Upstream has the pieces (linalg to loops; `gpu-map-parallel-loops` and
// `convert-parallel-loops-to-gpu` for scf.parallel) but maps at most three
// dimensions, needs a hand-tiled nest for threads and leaves scalar code on
// the host; this pass maps every nest to one flat grid and moves the rest.
//
//===----------------------------------------------------------------------===//

#include "BufferUses.h"
#include "Vectors.h"
#include "ftc/Codegen/Gemm.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace ftc {
#define GEN_PASS_DEF_GPUMAPLOOPS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Ops that stay on the host: they compute no values in memory.
bool isViewLike(Operation *op) {
  return isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::ReinterpretCastOp, memref::CastOp>(op);
}

/// A call the runtime runs on the stream itself (a product with cuBLASLt,
/// ftc-gpu-library-contractions): it stays on the host, in order with the
/// kernels around it.
bool isLibraryCall(Operation *op) {
  auto call = dyn_cast<func::CallOp>(op);
  return call && call.getCallee() == ftc::gemm::kGemmSymbol;
}

bool staysOnHost(Operation *op) {
  return isa<arith::ConstantOp, memref::ViewOp, memref::AllocOp, memref::DeallocOp,
             func::ReturnOp, gpu::LaunchOp, memref::GetGlobalOp,
             memref::ExtractAlignedPointerAsIndexOp, memref::ExtractStridedMetadataOp>(op) ||
         isViewLike(op) || isLibraryCall(op);
}

/// linalg ops as loops whose parallel dimensions are outermost.
LogicalResult lowerLinalg(func::FuncOp func) {
  IRRewriter rewriter(func.getContext());
  SmallVector<linalg::LinalgOp> ops;
  func.walk([&](linalg::LinalgOp op) { ops.push_back(op); });
  for (linalg::LinalgOp op : ops) {
    rewriter.setInsertionPoint(op);
    Operation *current = op;
    if (auto generic = dyn_cast<linalg::GenericOp>(current)) {
      SmallVector<unsigned> order;
      auto iterators = generic.getIteratorTypesArray();
      for (auto [i, kind] : llvm::enumerate(iterators))
        if (kind == utils::IteratorType::parallel)
          order.push_back(i);
      for (auto [i, kind] : llvm::enumerate(iterators))
        if (kind != utils::IteratorType::parallel)
          order.push_back(i);
      if (!llvm::equal(order, llvm::seq<unsigned>(0, order.size()))) {
        FailureOr<linalg::GenericOp> swapped =
            linalg::interchangeGenericOp(rewriter, generic, order);
        if (failed(swapped))
          return generic.emitError("cannot interchange its loops for the GPU");
        current = *swapped;
      }
    }
    if (failed(linalg::linalgOpToParallelLoops(rewriter, cast<linalg::LinalgOp>(current))))
      return current->emitError("cannot lower to loops for the GPU");
    rewriter.eraseOp(current);
  }
  return success();
}

/// A reduction's zero (or other constant) fill folded into it: the fill
/// of its result right before it (nothing between reading or writing that
/// buffer) is a kernel of its own, a launch that writes what the reduction
/// then reads back, for every partial sum of a split reduction. Where the
/// reduction writes every element of the result (its result's indices are
/// all of its parallel dimensions), it starts each element from the
/// constant instead: its body takes the constant where every reduced index
/// is 0, the result's value after that. The fill goes.
void foldFillsIntoReductions(func::FuncOp func) {
  SmallVector<linalg::GenericOp> reductions;
  func.walk([&](linalg::GenericOp op) {
    if (op.getNumReductionLoops() > 0 && op.getNumDpsInits() == 1 &&
        op.hasPureBufferSemantics())
      reductions.push_back(op);
  });
  for (linalg::GenericOp op : reductions) {
    OpOperand *init = op.getDpsInitOperand(0);
    AffineMap map = op.getMatchingIndexingMap(init);
    if (!map.isProjectedPermutation() ||
        static_cast<int64_t>(map.getNumResults()) != op.getNumParallelLoops())
      continue;
    linalg::FillOp fill =
        ftc::cuda::fillRightBefore(op, init->get(), /*throughReshapes=*/false);
    arith::ConstantOp constant =
        fill ? fill.getInputs()[0].getDefiningOp<arith::ConstantOp>() : nullptr;
    BlockArgument acc = op.getMatchingBlockArgument(init);
    if (!constant || constant.getType() != acc.getType())
      continue;
    Block *body = op.getBody();
    OpBuilder b = OpBuilder::atBlockBegin(body);
    Location loc = op.getLoc();
    Value first;
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    for (unsigned d : llvm::seq(op.getNumLoops())) {
      if (op.getIteratorTypesArray()[d] == utils::IteratorType::parallel)
        continue;
      Value atZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           linalg::IndexOp::create(b, loc, d), zero);
      first = first ? arith::AndIOp::create(b, loc, first, atZero) : atZero;
    }
    Value start = arith::ConstantOp::create(b, loc, constant.getValue());
    Value from = arith::SelectOp::create(b, loc, first, start, acc);
    acc.replaceAllUsesExcept(from, from.getDefiningOp());
    fill->erase();
  }
}

/// memref.copy as linalg.copy (which becomes a parallel kernel).
void copiesAsLinalg(func::FuncOp func) {
  SmallVector<memref::CopyOp> copies;
  func.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
  for (memref::CopyOp copy : copies) {
    OpBuilder b(copy);
    linalg::CopyOp::create(b, copy.getLoc(), copy.getSource(), copy.getTarget());
    copy.erase();
  }
}

/// A reduction's accumulator in a register: a loop whose body loads one
/// element, combines it with what it reads, and stores it back at the same
/// place (indices from outside the loop) carries the value instead, loaded
/// once before and stored once after. Loops of linalg ops are written with
/// the accumulator in memory; the GPU's compiler cannot keep it in a
/// register, since it cannot tell the buffers apart, and a row's sum then
/// stores to memory on every element it reads. Here the buffers are told
/// apart by what they view: the loop may read nothing else of the stored
/// buffer's allocation, and store nothing else. Innermost loops first, so
/// that a nest of reduction loops carries the value through all of them.
void accumulateInRegisters(Operation *root) {
  IRRewriter rewriter(root->getContext());
  // Indices out of the loops, and the load's the same values as the store's.
  SmallVector<scf::ForOp> loops;
  root->walk([&](scf::ForOp loop) { loops.push_back(loop); });
  for (scf::ForOp loop : loops)
    moveLoopInvariantCode(cast<LoopLikeOpInterface>(loop.getOperation()));
  DominanceInfo dominance(root);
  eliminateCommonSubExpressions(rewriter, dominance, root);
  // Collected again: CSE erases loops whose results nothing uses.
  loops.clear();
  root->walk([&](scf::ForOp loop) { loops.push_back(loop); });
  for (scf::ForOp loop : loops) {
    memref::StoreOp store;
    bool ok = true;
    loop.getBody()->walk([&](Operation *op) {
      if (auto s = dyn_cast<memref::StoreOp>(op)) {
        ok &= !store && s->getBlock() == loop.getBody();
        store = s;
      } else if (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(op) &&
                 !isa<scf::ForOp, scf::YieldOp>(op)) {
        ok = false;
      }
    });
    if (!ok || !store ||
        !llvm::all_of(store.getIndices(), [&](Value v) { return loop.isDefinedOutsideOfLoop(v); }))
      continue;
    Value buffer = store.getMemRef();
    Value bufferRoot = memref::skipViewLikeOps(cast<MemrefValue>(buffer));
    memref::LoadOp acc;
    loop.getBody()->walk([&](memref::LoadOp load) {
      if (memref::skipViewLikeOps(cast<MemrefValue>(load.getMemRef())) != bufferRoot)
        return;
      bool same = load.getMemRef() == buffer && load->getBlock() == loop.getBody() &&
                  load->isBeforeInBlock(store) &&
                  llvm::equal(load.getIndices(), store.getIndices());
      ok &= same && !acc;
      acc = load;
    });
    if (!ok || !acc)
      continue;
    rewriter.setInsertionPoint(loop);
    Value init = memref::LoadOp::create(rewriter, acc.getLoc(), buffer, store.getIndices());
    Value stored = store.getValueToStore();
    FailureOr<LoopLikeOpInterface> carried = loop.replaceWithAdditionalYields(
        rewriter, init, /*replaceInitOperandUsesInLoop=*/false,
        [&](OpBuilder &, Location, ArrayRef<BlockArgument>) {
          return SmallVector<Value>{stored};
        });
    if (failed(carried))
      continue;
    auto newLoop = cast<scf::ForOp>(carried->getOperation());
    rewriter.replaceAllUsesWith(acc.getResult(), newLoop.getRegionIterArgs().back());
    rewriter.setInsertionPointAfter(newLoop);
    memref::StoreOp::create(rewriter, store.getLoc(), newLoop.getResults().back(), buffer,
                            store.getIndices());
    rewriter.eraseOp(store);
    rewriter.eraseOp(acc);
  }
}

class Mapper {
public:
  Mapper(func::FuncOp func, int64_t threads) : func(func), threads(threads), vectors(func) {}

  LogicalResult run() {
    if (failed(mapBlock(func.getBody().front())))
      return failure();
    // Placeholders nothing on the host uses any more; one still used is a
    // value the host would need from the device.
    for (Operation *load : llvm::reverse(placeholders)) {
      if (load->use_empty()) {
        load->erase();
        continue;
      }
      return load->emitError("a value computed on the GPU is needed by the host code here")
                 .attachNote((*load->getUsers().begin())->getLoc())
             << "by " << **load->getUsers().begin();
    }
    return success();
  }

private:
  func::FuncOp func;
  int64_t threads;
  /// The buffers kernels may read and write as vectors (not the inputs,
  /// which a caller may pass from anywhere in device memory).
  ftc::cuda::VectorBuffers vectors;
  /// The host loads standing for scalars that kernels computed: a kernel
  /// that uses one loads the spill itself.
  SmallVector<Operation *> placeholders;
  llvm::DenseSet<Operation *> placeholderSet;

  bool fromDevice(Value v) {
    Operation *def = v.getDefiningOp();
    return def && placeholderSet.contains(def);
  }

  /// Whether `op` must run on the device: it touches memory, or uses a
  /// value computed there (by `group`, the kernel being gathered, or an
  /// earlier one).
  bool needsKernel(Operation *op, ArrayRef<Operation *> group) {
    if (staysOnHost(op))
      return false;
    if (!isMemoryEffectFree(op) || op->getNumRegions() > 0)
      return true;
    return llvm::any_of(op->getOperands(), [&](Value v) {
      return fromDevice(v) || llvm::is_contained(group, v.getDefiningOp());
    });
  }

  static bool containsParallel(Operation *op) {
    return op->walk([](scf::ParallelOp) { return WalkResult::interrupt(); }).wasInterrupted();
  }

  LogicalResult mapBlock(Block &block) {
    SmallVector<Operation *> group;
    SmallVector<Operation *> ops;
    for (Operation &op : block)
      ops.push_back(&op);
    auto flush = [&]() -> LogicalResult {
      if (group.empty())
        return success();
      LogicalResult result = serialKernel(group);
      group.clear();
      return result;
    };
    for (Operation *op : ops) {
      // A kernel an earlier pass built (a row kernel, attention) runs where
      // it is: what comes before it launches before it, and a scalar it
      // uses that a kernel computed it reads from the spill.
      if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
        if (failed(flush()))
          return failure();
        readSpills(launch);
        continue;
      }
      if (auto loop = dyn_cast<scf::ParallelOp>(op); loop && loop.getNumResults() == 0 &&
                                                     staticBounds(loop)) {
        if (failed(flush()) || failed(parallelKernel(loop)))
          return failure();
        continue;
      }
      if (auto loop = dyn_cast<scf::ForOp>(op); loop && containsParallel(loop)) {
        if (loop.getNumResults() != 0)
          return loop.emitError("a loop around parallel loops that carries values "
                                "cannot run on the host");
        if (failed(flush()) || failed(mapBlock(*loop.getBody())))
          return failure();
        continue;
      }
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        if (std::optional<ColumnLoop> column = columnLoop(loop)) {
          if (failed(flush()) || failed(columnKernel(loop, *column)))
            return failure();
          continue;
        }
      }
      // Kernels before a library call launch before it.
      if (isLibraryCall(op)) {
        if (failed(flush()))
          return failure();
        continue;
      }
      if (needsKernel(op, group))
        group.push_back(op);
    }
    return flush();
  }

  /// What columnLoop found: the inner loop and, where every access to the
  /// written buffer (of rank 2) is at one row computed outside the inner
  /// loop, that row and the buffer's row count.
  struct ColumnLoop {
    scf::ForOp inner;
    Value row;
    int64_t rows = 0;
  };

  /// A serial loop whose body runs one inner loop whose iterations touch
  /// disjoint elements: every buffer the inner loop writes is read and
  /// written, there and only there, at the inner induction variable as its
  /// last index, and nothing else in the outer loop reads it (a scatter-add,
  /// out[idx[p], c] += g[p, c]). Its inner loop is then a parallel one,
  /// each thread running the outer loop in order for its own column: the
  /// sums are the serial loop's, bit for bit.
  static std::optional<ColumnLoop> columnLoop(scf::ForOp outer) {
    if (outer.getNumResults() != 0 || containsParallel(outer))
      return std::nullopt;
    scf::ForOp inner;
    for (Operation &op : outer.getBody()->without_terminator()) {
      if (auto loop = dyn_cast<scf::ForOp>(op)) {
        if (inner)
          return std::nullopt;
        inner = loop;
        continue;
      }
      if (!isMemoryEffectFree(&op) && !isa<memref::LoadOp>(op))
        return std::nullopt;
    }
    if (!inner || inner.getNumResults() != 0 ||
        !tripCount(inner.getLowerBound(), inner.getUpperBound(), inner.getStep()))
      return std::nullopt;
    Value column = inner.getInductionVar();
    llvm::DenseSet<Value> written;
    WalkResult walk = inner.getBody()->walk([&](Operation *op) {
      if (auto store = dyn_cast<memref::StoreOp>(op)) {
        if (store.getIndices().empty() || store.getIndices().back() != column)
          return WalkResult::interrupt();
        written.insert(store.getMemRef());
        return WalkResult::advance();
      }
      if (isa<memref::LoadOp>(op) || isMemoryEffectFree(op) || isa<scf::YieldOp>(op))
        return WalkResult::advance();
      return WalkResult::interrupt();
    });
    if (walk.wasInterrupted() || written.empty())
      return std::nullopt;
    // Every access to a written buffer, anywhere in the outer loop, is at
    // the column (inside the inner loop).
    WalkResult reads = outer.getBody()->walk([&](memref::LoadOp load) {
      if (!written.contains(load.getMemRef()))
        return WalkResult::advance();
      if (!inner->isAncestor(load) || load.getIndices().empty() ||
          load.getIndices().back() != column)
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (reads.wasInterrupted())
      return std::nullopt;
    ColumnLoop found{inner, Value(), 0};
    // One rank-2 buffer, every access at the same row, computed before the
    // inner loop: the rows can be split among threads too.
    auto type = dyn_cast<MemRefType>((*written.begin()).getType());
    if (written.size() != 1 || !type || type.getRank() != 2 || type.isDynamicDim(0))
      return found;
    Value row;
    bool oneRow = true;
    inner.getBody()->walk([&](Operation *op) {
      Value buffer;
      ValueRange indices;
      if (auto load = dyn_cast<memref::LoadOp>(op))
        buffer = load.getMemRef(), indices = load.getIndices();
      else if (auto store = dyn_cast<memref::StoreOp>(op))
        buffer = store.getMemRef(), indices = store.getIndices();
      if (!buffer || !written.contains(buffer))
        return;
      if (row && indices.front() != row)
        oneRow = false;
      row = indices.front();
    });
    if (oneRow && row && !inner->isAncestor(row.getParentBlock()->getParentOp()) &&
        row.getParentBlock() != inner.getBody()) {
      found.row = row;
      found.rows = type.getDimSize(0);
    }
    return found;
  }

  /// A column loop as a kernel. Where its rows are known (a scatter-add
  /// into a table), the table's rows are split into `chunks` runs too:
  /// thread (chunk, column) runs, in order, the positions whose row is in
  /// its run. Each element still gets its additions in the serial order,
  /// by one thread, and no atomics are needed; a warp's threads share their
  /// chunk, so they take the same branches. About kColumnThreads threads:
  /// an embedding's 768 columns alone would leave most of a GPU idle.
  /// Which positions a run holds, a first kernel finds (positionMasks):
  /// a thread walks 32 positions' masks, not every position (gpt2-small's
  /// embedding: 256 masks instead of 8192 positions).
  static constexpr int64_t kColumnThreads = 65536;

  LogicalResult columnKernel(scf::ForOp outer, const ColumnLoop &found) {
    scf::ForOp inner = found.inner;
    int64_t lb = *getConstantIntValue(inner.getLowerBound());
    int64_t step = *getConstantIntValue(inner.getStep());
    int64_t columns = *tripCount(inner.getLowerBound(), inner.getUpperBound(), inner.getStep());
    std::optional<int64_t> positions =
        tripCount(outer.getLowerBound(), outer.getUpperBound(), outer.getStep());
    if (columns == 0 || positions == 0) {
      outer.erase();
      return success();
    }
    int64_t perChunk = found.rows, chunks = 1;
    if (found.row && found.rows > 1) {
      chunks = std::clamp<int64_t>(llvm::divideCeil(kColumnThreads, columns), 1, found.rows);
      perChunk = llvm::divideCeil(found.rows, chunks);
      chunks = llvm::divideCeil(found.rows, perChunk);
    }
    Location loc = outer.getLoc();
    // Runs of rows and positions known in number: the masks of the
    // positions of each run, computed first.
    Value masks;
    if (chunks > 1 && positions)
      masks = positionMasks(outer, found, chunks, perChunk, *positions);
    OpBuilder b(outer);
    Value linear = threadIndex(b, loc, chunks * columns);
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    IRMapping map;
    Value column = linear, chunk, first, last;
    if (chunks > 1) {
      column = arith::RemUIOp::create(b, loc, linear, c(columns));
      chunk = arith::DivUIOp::create(b, loc, linear, c(columns));
      std::tie(first, last) = runOf(b, loc, chunk, perChunk);
    }
    if (step != 1)
      column = arith::MulIOp::create(b, loc, column, c(step));
    if (lb != 0)
      column = arith::AddIOp::create(b, loc, column, c(lb));
    map.map(inner.getInductionVar(), column);
    for (Value v : capturedValues({outer.getOperation()}))
      importValue(b, v, map);
    // The outer loop's body at position `position`, with the inner loop's
    // body for this column (under `mine` where that is given).
    auto body = [&](OpBuilder &at, Value position, bool test) {
      map.map(outer.getInductionVar(), position);
      for (Operation &op : outer.getBody()->without_terminator()) {
        if (&op != inner.getOperation()) {
          at.clone(op, map);
          continue;
        }
        OpBuilder::InsertionGuard guard(at);
        if (test) {
          Value mine = inRun(at, loc, map.lookupOrDefault(found.row), first, last);
          auto ifMine = scf::IfOp::create(at, loc, mine, /*withElseRegion=*/false);
          at.setInsertionPointToStart(ifMine.thenBlock());
        }
        for (Operation &innerOp : inner.getBody()->without_terminator())
          at.clone(innerOp, map);
      }
    };
    if (masks) {
      // Each mask's positions, the lowest bit (the first position) first.
      auto words = scf::ForOp::create(b, loc, c(0), c(llvm::divideCeil(*positions, 32)), c(1));
      b.setInsertionPoint(words.getBody()->getTerminator());
      Value word = words.getInductionVar();
      Value bits = memref::LoadOp::create(b, loc, masks, ValueRange{chunk, word});
      Type i32 = b.getI32Type();
      scf::WhileOp::create(
          b, loc, TypeRange{i32}, ValueRange{bits},
          [&](OpBuilder &at, Location, ValueRange left) {
            Value zero = arith::ConstantIntOp::create(at, loc, i32, 0);
            Value more =
                arith::CmpIOp::create(at, loc, arith::CmpIPredicate::ne, left.front(), zero);
            scf::ConditionOp::create(at, loc, more, left);
          },
          [&](OpBuilder &at, Location, ValueRange left) {
            Value one = arith::ConstantIntOp::create(at, loc, i32, 1);
            Value bit = math::CountTrailingZerosOp::create(at, loc, left.front());
            Value rest = arith::AndIOp::create(
                at, loc, left.front(), arith::SubIOp::create(at, loc, left.front(), one));
            Value index = arith::AddIOp::create(
                at, loc,
                arith::MulIOp::create(at, loc, word,
                                      arith::ConstantIndexOp::create(at, loc, 32)),
                arith::IndexCastUIOp::create(at, loc, at.getIndexType(), bit));
            body(at, positionAt(at, loc, outer, map, index), /*test=*/false);
            scf::YieldOp::create(at, loc, rest);
          });
      // The masks freed after the walk's launch.
      auto launch = linear.getDefiningOp()->getParentOfType<gpu::LaunchOp>();
      OpBuilder after(launch);
      after.setInsertionPointAfter(launch);
      memref::DeallocOp::create(after, loc, masks);
    } else {
      // The outer loop, in order.
      auto loop = scf::ForOp::create(b, loc, map.lookupOrDefault(outer.getLowerBound()),
                                     map.lookupOrDefault(outer.getUpperBound()),
                                     map.lookupOrDefault(outer.getStep()));
      b.setInsertionPoint(loop.getBody()->getTerminator());
      body(b, loop.getInductionVar(), /*test=*/chunks > 1);
    }
    outer.erase();
    return success();
  }

  /// The first kernel of columnKernel: for each run of `perChunk` rows
  /// (`chunks` of them) and each 32 positions of `outer` (`positions` in
  /// all), a 32-bit mask whose bit b is set where position 32 w + b's row
  /// is in the run; a thread per mask. Returns the [chunks, words] masks
  /// (allocated before `outer`; the caller frees them).
  Value positionMasks(scf::ForOp outer, const ColumnLoop &found, int64_t chunks,
                      int64_t perChunk, int64_t positions) {
    Location loc = outer.getLoc();
    Operation *inner = found.inner;
    OpBuilder b(outer);
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    Type i32 = b.getI32Type();
    int64_t words = llvm::divideCeil(positions, 32);
    Value masks = memref::AllocOp::create(b, loc, MemRefType::get({chunks, words}, i32));
    Value linear = threadIndex(b, loc, chunks * words);
    Value chunk = arith::DivUIOp::create(b, loc, linear, c(words));
    Value word = arith::RemUIOp::create(b, loc, linear, c(words));
    auto [first, last] = runOf(b, loc, chunk, perChunk);
    IRMapping map;
    for (Value v : capturedValues({outer.getOperation()}))
      importValue(b, v, map);
    Value zero = arith::ConstantIntOp::create(b, loc, i32, 0);
    auto bits = scf::ForOp::create(b, loc, c(0), c(32), c(1), ValueRange{zero});
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(bits.getBody());
      Value bit = bits.getInductionVar();
      Value index = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, word, c(32)), bit);
      // The last word's bits past the end hold no position.
      Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, index, c(positions));
      auto ifInside = scf::IfOp::create(b, loc, TypeRange{i32}, inside, /*withElseRegion=*/true);
      b.setInsertionPointToStart(ifInside.thenBlock());
      map.map(outer.getInductionVar(), positionAt(b, loc, outer, map, index));
      for (Operation &op : outer.getBody()->without_terminator())
        if (&op != inner)
          b.clone(op, map);
      Value mine = inRun(b, loc, map.lookupOrDefault(found.row), first, last);
      Value flag = arith::ShLIOp::create(b, loc, arith::ConstantIntOp::create(b, loc, i32, 1),
                                         arith::IndexCastUIOp::create(b, loc, i32, bit));
      scf::YieldOp::create(b, loc, ValueRange{arith::SelectOp::create(b, loc, mine, flag, zero)});
      b.setInsertionPointToStart(ifInside.elseBlock());
      scf::YieldOp::create(b, loc, ValueRange{zero});
      b.setInsertionPointAfter(ifInside);
      scf::YieldOp::create(
          b, loc, ValueRange{arith::OrIOp::create(b, loc, bits.getRegionIterArg(0), ifInside.getResult(0))});
    }
    memref::StoreOp::create(b, loc, bits.getResult(0), masks, ValueRange{chunk, word});
    return masks;
  }

  /// The rows [first, last) of run `chunk` (of `perChunk` rows each).
  static std::pair<Value, Value> runOf(OpBuilder &b, Location loc, Value chunk,
                                       int64_t perChunk) {
    Value size = arith::ConstantIndexOp::create(b, loc, perChunk);
    Value first = arith::MulIOp::create(b, loc, chunk, size);
    return {first, arith::AddIOp::create(b, loc, first, size)};
  }

  /// Whether `row` is in the run [first, last).
  static Value inRun(OpBuilder &b, Location loc, Value row, Value first, Value last) {
    return arith::AndIOp::create(
        b, loc, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, row, first),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, row, last));
  }

  /// The induction variable of `outer`'s iteration `index`, in a kernel
  /// (`map` holds its bounds there).
  static Value positionAt(OpBuilder &b, Location loc, scf::ForOp outer, IRMapping &map,
                          Value index) {
    return arith::AddIOp::create(
        b, loc, map.lookupOrDefault(outer.getLowerBound()),
        arith::MulIOp::create(b, loc, index, map.lookupOrDefault(outer.getStep())));
  }

  /// The iterations of a loop with constant bounds and a positive step.
  static std::optional<int64_t> tripCount(Value lb, Value ub, Value step) {
    std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                           s = getConstantIntValue(step);
    if (!l || !u || !s || *s <= 0)
      return std::nullopt;
    return *u > *l ? (*u - *l + *s - 1) / *s : 0;
  }

  static std::optional<SmallVector<int64_t>> tripCounts(scf::ParallelOp loop) {
    SmallVector<int64_t> trips;
    for (auto [lb, ub, step] :
         llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
      std::optional<int64_t> trips1 = tripCount(lb, ub, step);
      if (!trips1)
        return std::nullopt;
      trips.push_back(*trips1);
    }
    return trips;
  }
  static bool staticBounds(scf::ParallelOp loop) { return tripCounts(loop).has_value(); }

  /// Values used inside `ops` (and their regions) but defined outside.
  static SetVector<Value> capturedValues(ArrayRef<Operation *> ops) {
    auto inside = [&](Value v) {
      Operation *owner = v.getDefiningOp();
      if (!owner)
        owner = v.getParentBlock()->getParentOp();
      return llvm::any_of(ops, [&](Operation *root) {
        return root == owner || root->isProperAncestor(owner);
      });
    };
    SetVector<Value> captured;
    for (Operation *root : ops)
      root->walk([&](Operation *op) {
        for (Value v : op->getOperands())
          if (!inside(v))
            captured.insert(v);
      });
    return captured;
  }

  /// Maps, inside a kernel being built at `b`, what the ops use from
  /// outside: a spilled scalar is loaded from its buffer, a view cloned
  /// (from whole buffers), anything else captured as is.
  void importValue(OpBuilder &b, Value v, IRMapping &map) {
    if (map.contains(v))
      return;
    Operation *def = v.getDefiningOp();
    if (def && (placeholderSet.contains(def) || isViewLike(def) ||
                isa<arith::ConstantOp>(def))) {
      for (Value operand : def->getOperands())
        importValue(b, operand, map);
      b.clone(*def, map);
    }
  }

  /// Makes `launch` (built before this pass) load each spilled scalar it
  /// uses at its start, as the kernels built here do.
  void readSpills(gpu::LaunchOp launch) {
    Block &body = launch.getBody().front();
    OpBuilder b(&body, body.begin());
    IRMapping map;
    for (Value v : capturedValues({launch.getOperation()}))
      if (fromDevice(v))
        importValue(b, v, map);
    for (Operation *load : placeholders)
      if (Value inside = map.lookupOrNull(load->getResult(0)))
        load->getResult(0).replaceUsesWithIf(inside, [&](OpOperand &use) {
          return launch->isProperAncestor(use.getOwner());
        });
  }

  gpu::LaunchOp createLaunch(OpBuilder &b, Location loc, int64_t blocks, int64_t blockThreads) {
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    Value one = c(1);
    auto launch = gpu::LaunchOp::create(b, loc, c(blocks), one, one, c(blockThreads), one, one);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(b, loc);
    return launch;
  }

  /// A launch of `total` threads at `b` (blocks of `threads`, the last
  /// partial): returns the thread's number, with `b` inside the guard that
  /// keeps the last block's extra threads idle.
  Value threadIndex(OpBuilder &b, Location loc, int64_t total) {
    int64_t blockThreads = std::min<int64_t>(threads, llvm::alignTo(total, 32));
    int64_t blocks = (total + blockThreads - 1) / blockThreads;
    gpu::LaunchOp launch = createLaunch(b, loc, blocks, blockThreads);
    b.setInsertionPointToStart(&launch.getBody().front());
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    Value linear = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, launch.getBlockIds().x, c(blockThreads)),
        launch.getThreadIds().x);
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, linear, c(total));
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
    b.setInsertionPointToStart(guard.thenBlock());
    return linear;
  }

  /// The load's or store's buffer and indices (null for other ops).
  static std::pair<Value, ValueRange> access(Operation *op) {
    if (auto load = dyn_cast<memref::LoadOp>(op))
      return {load.getMemRef(), load.getIndices()};
    if (auto store = dyn_cast<memref::StoreOp>(op))
      return {store.getMemRef(), store.getIndices()};
    return {Value(), ValueRange()};
  }

  /// The alignment of `op` (a load or a store) as one access to `width`
  /// iterations of the innermost dimension (induction variable `inner`):
  /// along its buffer's last dimension at `inner`, its other indices the
  /// same for all of them, at a layout VectorBuffers::alignment takes; 0 where it is
  /// no such access.
  int64_t vectorAccess(Operation *op, Value inner, int64_t width) {
    auto [memref, indices] = access(op);
    if (width == 1 || !memref || indices.empty() || innerIndex(indices.back()) != inner ||
        llvm::any_of(indices.drop_back(), [&](Value index) { return dependsOn(index, inner); }))
      return 0;
    return vectors.alignment(memref, width);
  }

  /// How many iterations of the innermost dimension (induction variable
  /// `inner`, `trips` of them from 0 step 1) a thread of the elementwise
  /// `body` runs: the widest of kVectorWidths at most `trips`, at which
  /// some access is a vector, and every vector at most 16 bytes; 1 where
  /// none is. (Where the width does not divide `trips`, each row's last
  /// thread runs the iterations left one at a time: parallelKernel.)
  int64_t vectorWidth(ArrayRef<Operation *> body, Value inner, int64_t trips) {
    if (llvm::any_of(body, [](Operation *op) { return op->getNumRegions() > 0; }))
      return 1;
    for (int64_t width : ftc::cuda::kVectorWidths) {
      if (trips < width)
        continue;
      bool some = false, fits = true;
      for (Operation *op : body) {
        if (!vectorAccess(op, inner, width))
          continue;
        some = true;
        fits &= cast<MemRefType>(access(op).first.getType()).getElementTypeBitWidth() * width <=
                128;
      }
      if (some && fits)
        return width;
    }
    return 1;
  }

  /// `index` without an identity affine.apply (linalg's loops index
  /// through them).
  static Value innerIndex(Value index) {
    if (auto apply = index.getDefiningOp<affine::AffineApplyOp>();
        apply && apply.getAffineMap().isIdentity() && apply.getMapOperands().size() == 1)
      return apply.getMapOperands()[0];
    return index;
  }

  /// Whether `value` is computed from `iv` (in the loop body it belongs to).
  static bool dependsOn(Value value, Value iv) {
    if (value == iv)
      return true;
    Operation *def = value.getDefiningOp();
    Block *body = cast<BlockArgument>(iv).getOwner();
    if (!def || def->getBlock() != body)
      return false;
    return llvm::any_of(def->getOperands(), [&](Value v) { return dependsOn(v, iv); });
  }

  /// The body of an elementwise nest, `width` iterations of its innermost
  /// dimension (induction variable `inner`, mapped to base + j in maps[j])
  /// at once: loads and stores along that dimension at `inner` as vectors
  /// where VectorBuffers::alignment allows, everything else once per iteration.
  /// (The iterations of a parallel loop are independent: running them op
  /// by op instead of one after the other is one of their orders.)
  void cloneWide(OpBuilder &b, Location loc, ArrayRef<Operation *> body, Value inner,
                 MutableArrayRef<IRMapping> maps) {
    int64_t width = maps.size();
    auto indicesOf = [&](ValueRange indices) {
      return llvm::map_to_vector(indices, [&](Value i) { return maps[0].lookupOrDefault(i); });
    };
    for (Operation *op : body) {
      int64_t align = vectorAccess(op, inner, width);
      if (auto load = dyn_cast<memref::LoadOp>(op); load && align) {
        auto type = VectorType::get({width}, load.getType());
        Value v = vector::LoadOp::create(b, loc, type, maps[0].lookupOrDefault(load.getMemRef()),
                                         indicesOf(load.getIndices()), /*nontemporal=*/false,
                                         llvm::MaybeAlign(align));
        for (int64_t j = 0; j < width; ++j)
          maps[j].map(load.getResult(), vector::ExtractOp::create(b, loc, v, j).getResult());
        continue;
      }
      if (auto store = dyn_cast<memref::StoreOp>(op); store && align) {
        auto type = VectorType::get({width}, store.getValueToStore().getType());
        SmallVector<Value> values;
        for (IRMapping &map : maps)
          values.push_back(map.lookupOrDefault(store.getValueToStore()));
        Value v = vector::FromElementsOp::create(b, loc, type, values);
        vector::StoreOp::create(b, loc, v, maps[0].lookupOrDefault(store.getMemRef()),
                                indicesOf(store.getIndices()), /*nontemporal=*/false,
                                llvm::MaybeAlign(align));
        continue;
      }
      for (IRMapping &map : maps)
        b.clone(*op, map);
    }
  }


  LogicalResult parallelKernel(scf::ParallelOp loop) {
    SmallVector<int64_t> trips = *tripCounts(loop);
    int64_t total = 1;
    for (int64_t t : trips)
      total *= t;
    if (total == 0) {
      loop.erase();
      return success();
    }
    SmallVector<Operation *> body;
    for (Operation &op : loop.getBody()->without_terminator())
      body.push_back(&op);
    // An elementwise body (no loops, no branches) whose innermost
    // dimension starts at 0 with step 1 and splits into vectors: a thread
    // per vector of iterations of it.
    int64_t innermost = static_cast<int64_t>(trips.size()) - 1;
    Value inner = loop.getInductionVars()[innermost];
    int64_t width = 1;
    if (getConstantIntValue(loop.getLowerBound()[innermost]) == 0 &&
        getConstantIntValue(loop.getStep()[innermost]) == 1)
      width = vectorWidth(body, inner, trips[innermost]);
    // A row of the innermost dimension that does not split into vectors
    // (the logits' 50,257 columns): its last thread's vector is partial.
    int64_t innerTrips = trips[innermost];
    bool ragged = innerTrips % width != 0;
    trips[innermost] = llvm::divideCeil(innerTrips, width);
    int64_t threadsTotal = total / innerTrips * trips[innermost];
    Location loc = loop.getLoc();
    OpBuilder b(loop);
    Value linear = threadIndex(b, loc, threadsTotal);
    auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
    SmallVector<IRMapping> maps(width);
    // The induction variables, the innermost dimension fastest.
    Value rest = linear;
    for (int64_t d = innermost; d >= 0; --d) {
      Value index = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, c(trips[d])).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(b, loc, rest, c(trips[d]));
      int64_t lb = *getConstantIntValue(loop.getLowerBound()[d]);
      int64_t step = *getConstantIntValue(loop.getStep()[d]);
      Value iv = index;
      if (d == innermost && width > 1)
        iv = arith::MulIOp::create(b, loc, iv, c(width));
      if (step != 1)
        iv = arith::MulIOp::create(b, loc, iv, c(step));
      if (lb != 0)
        iv = arith::AddIOp::create(b, loc, iv, c(lb));
      for (auto [j, map] : llvm::enumerate(maps))
        map.map(loop.getInductionVars()[d],
                d == innermost && j > 0 ? arith::AddIOp::create(b, loc, iv, c(j)).getResult()
                                        : iv);
    }
    // What the body uses from outside, in the kernel once.
    for (Value v : capturedValues(body))
      importValue(b, v, maps[0]);
    for (IRMapping &map : MutableArrayRef<IRMapping>(maps).drop_front())
      for (auto [from, to] : maps[0].getValueMap())
        if (from != inner)
          map.map(from, to);
    if (!ragged) {
      cloneWide(b, loc, body, inner, maps);
      loop.erase();
      return success();
    }
    // A whole vector as above; the partial one element by element, each
    // inside the row.
    Value first = maps[0].lookup(inner);
    Value whole = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule,
                                        arith::AddIOp::create(b, loc, first, c(width)),
                                        c(innerTrips));
    auto branch = scf::IfOp::create(b, loc, whole, /*withElseRegion=*/true);
    SmallVector<IRMapping> single(maps);
    b.setInsertionPointToStart(branch.thenBlock());
    cloneWide(b, loc, body, inner, maps);
    b.setInsertionPointToStart(branch.elseBlock());
    for (IRMapping &map : single) {
      Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, map.lookup(inner),
                                           c(innerTrips));
      auto element = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(element.thenBlock());
      cloneWide(b, loc, body, inner, MutableArrayRef<IRMapping>(map));
    }
    loop.erase();
    return success();
  }

  LogicalResult serialKernel(ArrayRef<Operation *> group) {
    Operation *last = group.back();
    Location loc = group.front()->getLoc();
    OpBuilder b(last);
    b.setInsertionPointAfter(last);
    gpu::LaunchOp launch = createLaunch(b, loc, 1, 1);
    // The group runs where its last op was: a buffer freed between its
    // first and its last op is freed after the launch instead (else the
    // launch would use it after its dealloc, and the memory plan would
    // give its bytes to another buffer). Only those: a group of one op has
    // nothing between (the walk once went on to the end of the block and
    // moved every later dealloc up here, before later uses and allocs).
    Operation *anchor = launch;
    for (Operation *op = group.front(); op != last;) {
      Operation *next = op->getNextNode();
      if (isa<memref::DeallocOp>(op)) {
        op->moveAfter(anchor);
        anchor = op;
      }
      op = next;
    }
    OpBuilder inner(&launch.getBody().front(), launch.getBody().front().begin());
    IRMapping map;
    for (Value v : capturedValues(group))
      importValue(inner, v, map);
    llvm::DenseSet<Operation *> members(group.begin(), group.end());
    // Scalars used after the group: stored to a spill in the kernel, read
    // back by the kernels that use them.
    SmallVector<std::pair<Value, Value>> spills;
    OpBuilder entry(&func.getBody().front(), func.getBody().front().begin());
    for (Operation *op : group) {
      inner.clone(*op, map);
      for (Value result : op->getResults()) {
        bool escapes = llvm::any_of(result.getUsers(), [&](Operation *user) {
          Operation *top = user;
          while (top && !members.contains(top))
            top = top->getParentOp();
          return !top;
        });
        if (!escapes)
          continue;
        if (isa<ShapedType>(result.getType()))
          return op->emitError("a kernel's result that is not a scalar is used after it");
        auto type = MemRefType::get({}, result.getType());
        Value spill = memref::AllocOp::create(entry, loc, type);
        memref::StoreOp::create(inner, loc, map.lookup(result), spill);
        spills.push_back({result, spill});
      }
    }
    // Freed at the end (before the return): one scalar each.
    Operation *ret = func.getBody().front().getTerminator();
    OpBuilder atEnd(ret);
    OpBuilder after(launch);
    after.setInsertionPointAfter(launch);
    for (auto [value, spill] : spills) {
      memref::DeallocOp::create(atEnd, loc, spill);
      auto load = memref::LoadOp::create(after, loc, spill);
      placeholders.push_back(load);
      placeholderSet.insert(load);
      value.replaceUsesWithIf(load.getResult(), [&](OpOperand &use) {
        Operation *top = use.getOwner();
        while (top && !members.contains(top))
          top = top->getParentOp();
        return !top;
      });
    }
    for (Operation *op : llvm::reverse(group))
      op->erase();
    return success();
  }
};

struct GpuMapLoopsPass : public ftc::impl::GpuMapLoopsBase<GpuMapLoopsPass> {
  using GpuMapLoopsBase::GpuMapLoopsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(module.getContext()));
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (!func.getBody().hasOneBlock())
        return (void)(func.emitError("a function of one block is expected"), signalPassFailure());
      copiesAsLinalg(func);
      foldFillsIntoReductions(func);
      if (failed(lowerLinalg(func)) ||
          failed(Mapper(func, threadsPerBlock).run()))
        return signalPassFailure();
      func.walk([&](gpu::LaunchOp launch) { accumulateInRegisters(launch); });
    }
  }
};

} // namespace
