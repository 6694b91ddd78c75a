//===- GpuRowKernels.cpp - A warp per row: layer norms, softmaxes ---------===//
//
// See ftc-gpu-row-kernels in Passes.td. Upstream maps a linalg op to
// threads one output element each (what ftc-gpu-map-loops does); a row
// reduction then gives one thread a whole row, or is split into partial
// sums that cost kernels and memory of their own. Upstream has no kernel
// in which a warp walks a row for several ops in turn, each reading what
// the last wrote, nor one in which a block runs a column's staged sums:
// this pass builds both from the ops on buffers.
//
//===----------------------------------------------------------------------===//

#include "BufferUses.h"
#include "Rows.h"
#include "Vectors.h"

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

namespace ftc {
#define GEN_PASS_DEF_GPUROWKERNELS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

constexpr int64_t kLanes = 32;

/// How an op of a row kernel iterates: its first `outer` loops index the
/// row (their sizes multiply to the kernel's rows), then reduced loops
/// each lane walks in order (`serial`: the blocks of a blocked sum's first
/// half), then at most one loop along the row, parallel or reduced.
struct RowNest {
  linalg::LinalgOp op;
  unsigned outer = 0;
  unsigned serial = 0;
  int64_t length = 0; // the loop along the row; 0 where there is none
  bool reduction = false;
};

/// Whether `op`'s body stores to memory itself (writes the access checks
/// of a kernel's ops would not see).
bool storesInBody(linalg::LinalgOp op) {
  return op.getBlock()->walk([](memref::StoreOp) { return WalkResult::interrupt(); })
      .wasInterrupted();
}

std::optional<RowNest> rowNestOf(linalg::LinalgOp op, int64_t rows) {
  if (!op.hasPureBufferSemantics() || op->getNumRegions() != 1 ||
      linalg::isaContractionOpInterface(op))
    return std::nullopt;
  // The body's own stores would be writes nobody checked.
  if (storesInBody(op))
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  unsigned n = op.getNumLoops();
  if (op.getNumReductionLoops() > 0) {
    if (ftc::cuda::rowReduction(op) == rows)
      return RowNest{op, n - 1, 0, ranges[n - 1], true};
    if (ftc::cuda::rowPartials(op) == rows) {
      unsigned serial = op.getNumReductionLoops();
      return RowNest{op, n - 1 - serial, serial, ranges[n - 1], false};
    }
    return std::nullopt;
  }
  int64_t all = 1;
  for (int64_t r : ranges)
    all *= r;
  if (all == rows)
    return RowNest{op, n, 0, 0, false};
  if (n >= 1 && ranges[n - 1] > 1 && all / ranges[n - 1] == rows)
    return RowNest{op, n - 1, 0, ranges[n - 1], false};
  return std::nullopt;
}

bool isFiller(Operation *op) {
  return isa<memref::AllocOp, memref::DeallocOp, memref::GetGlobalOp, arith::ConstantOp,
             ViewLikeOpInterface>(op);
}

/// One buffer an op of a row kernel reads or writes, and whether each
/// row's warp touches only that row's part of it: the buffer seen through
/// reshapes alone, indexed by the op's row loops in its leading
/// dimensions, in order, and by the loop along the row (or constants) in
/// the others. Row r's warp then touches elements [r L, (r + 1) L) of the
/// buffer (L its size over the rows) and no other row's.
struct Access {
  Value buffer;
  bool write = false;
  bool ownRow = false;
};

/// Whether `view` shows a buffer through reshapes alone, in its identity
/// layout: element i of its row-major order is the buffer's element i.
bool plainView(Value view) {
  auto type = dyn_cast<MemRefType>(view.getType());
  return type && type.getLayout().isIdentity() &&
         memref::skipViewLikeOps(cast<MemrefValue>(view)) == ftc::cuda::beforeReshapes(view);
}

bool ownRow(Value view, AffineMap map, const RowNest &nest) {
  if (!plainView(view))
    return false;
  auto type = cast<MemRefType>(view.getType());
  linalg::LinalgOp op = nest.op;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (map.getNumResults() < nest.outer)
    return false;
  for (auto [i, e] : llvm::enumerate(map.getResults())) {
    if (i < nest.outer) {
      auto dim = dyn_cast<AffineDimExpr>(e);
      if (!dim || dim.getPosition() != i || type.getDimSize(i) != ranges[i])
        return false;
      continue;
    }
    for (unsigned d = 0; d < nest.outer; ++d)
      if (e.isFunctionOfDim(d))
        return false;
  }
  return true;
}

/// The buffers `op` reads and writes; `own(view, map)` says whether an
/// operand's accesses stay in the part of the buffer that the thread (or
/// warp) running them owns.
SmallVector<Access> accessesOf(linalg::LinalgOp op, function_ref<bool(Value, AffineMap)> own) {
  SmallVector<Access> accesses;
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    Value buffer = memref::skipViewLikeOps(cast<MemrefValue>(operand.get()));
    bool owned = own(operand.get(), op.getMatchingIndexingMap(&operand));
    bool init = op.isDpsInit(&operand);
    // An output is read too where the body reads it (a sum's start).
    if (!init || !op.getMatchingBlockArgument(&operand).use_empty())
      accesses.push_back({buffer, false, owned});
    if (init)
      accesses.push_back({buffer, true, owned});
  }
  // Loads in the body (an embedding's gather) at indices of their own.
  op.getBlock()->walk([&](memref::LoadOp load) {
    accesses.push_back({memref::skipViewLikeOps(cast<MemrefValue>(load.getMemRef())), false,
                        false});
  });
  return accesses;
}

SmallVector<Access> accessesOf(const RowNest &nest) {
  return accessesOf(nest.op, [&](Value view, AffineMap map) { return ownRow(view, map, nest); });
}

/// What the ops of one kernel touch.
struct Footprint {
  llvm::DenseMap<Value, bool> written; // buffer -> written by one of them
  llvm::DenseMap<Value, bool> foreign; // buffer -> one reaches another's part

  /// Whether an op with `accesses` can join: each buffer one of them
  /// writes is touched by every one only in its own part.
  bool admits(ArrayRef<Access> accesses) const {
    for (const Access &a : accesses) {
      bool writtenHere = written.lookup(a.buffer) ||
                         llvm::any_of(accesses, [&](const Access &o) {
                           return o.write && o.buffer == a.buffer;
                         });
      if (writtenHere && !a.ownRow)
        return false;
      if (a.write && foreign.lookup(a.buffer))
        return false;
    }
    return true;
  }

  void add(ArrayRef<Access> accesses) {
    for (const Access &a : accesses) {
      written[a.buffer] |= a.write;
      foreign[a.buffer] |= !a.ownRow;
    }
  }
};

/// The ops one row kernel runs, in order, and what they touch.
struct RowGroup {
  int64_t rows = 0;
  SmallVector<RowNest> members;
  Footprint footprint;

  bool admits(const RowNest &nest) const { return footprint.admits(accessesOf(nest)); }
  void add(const RowNest &nest) {
    footprint.add(accessesOf(nest));
    members.push_back(nest);
  }
};

/// The ops of a group, by their accesses, without those at its ends that
/// share nothing with the rest: a first op whose outputs no later op
/// reads, a last op that reads nothing an earlier op wrote (a bias
/// broadcast beside a layer norm, better as a vectorized kernel of its
/// own). The ops `keep` marks (reductions) stay. [begin, end) of them.
std::pair<size_t, size_t> connected(ArrayRef<SmallVector<Access>> accesses,
                                    ArrayRef<bool> keep) {
  size_t begin = 0, end = accesses.size();
  auto readBy = [&](Value buffer, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i)
      for (const Access &a : accesses[i])
        if (!a.write && a.buffer == buffer)
          return true;
    return false;
  };
  bool changed = true;
  while (changed && begin < end) {
    changed = false;
    if (!keep[begin] && llvm::none_of(accesses[begin], [&](const Access &a) {
          return a.write && readBy(a.buffer, begin + 1, end);
        })) {
      ++begin;
      changed = true;
    }
    if (begin < end && !keep[end - 1]) {
      bool linked = false;
      for (size_t i = begin; i + 1 < end && !linked; ++i)
        for (const Access &a : accesses[i])
          linked |= a.write && readBy(a.buffer, end - 1, end);
      if (!linked) {
        --end;
        changed = true;
      }
    }
  }
  return {begin, end};
}

SmallVector<RowNest> trimmed(ArrayRef<RowNest> members) {
  SmallVector<SmallVector<Access>> accesses;
  SmallVector<bool> keep;
  for (const RowNest &n : members) {
    accesses.push_back(accessesOf(n));
    keep.push_back(n.reduction || n.serial > 0);
  }
  auto [begin, end] = connected(accesses, keep);
  return SmallVector<RowNest>(members.begin() + begin, members.begin() + end);
}

/// Code for a warp's lanes. On the GPU a lane is a thread; emulated
/// (`--cuda-emulate`), a launch thread is a whole warp, which runs its
/// lanes one after the other: the same arithmetic, in the same order.
class Lanes {
public:
  Lanes(OpBuilder &b, Location loc, bool emulate, Value lane)
      : b(b), loc(loc), emulate(emulate), gpuLane(lane) {}

  OpBuilder &b;
  Location loc;
  bool emulate;
  Value gpuLane;

  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  /// `body(lane)` for each lane.
  void each(function_ref<void(Value)> body) {
    if (!emulate)
      return body(gpuLane);
    auto loop = scf::ForOp::create(b, loc, index(0), index(kLanes), index(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  }

  /// `body()` by lane 0 alone.
  void first(function_ref<void()> body) {
    if (emulate)
      return body();
    Value isFirst = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, gpuLane, index(0));
    auto branch = scf::IfOp::create(b, loc, isFirst, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    body();
  }

  /// Every lane's `partial(lane)` combined by `combine` in a butterfly
  /// (lane l with lane l ^ 16, then ^ 8, ..., ^ 1): the total, the same in
  /// every lane.
  Value butterfly(Type type, TypedAttr identity, function_ref<Value(Value)> partial,
                  function_ref<Value(Value, Value)> combine) {
    if (!emulate) {
      Value acc = partial(gpuLane);
      for (int64_t mask = kLanes / 2; mask >= 1; mask /= 2)
        acc = combine(acc, shuffleXor(acc, mask));
      return acc;
    }
    auto vectorType = VectorType::get({kLanes}, type);
    Value init = arith::ConstantOp::create(
        b, loc, vectorType, DenseElementsAttr::get(vectorType, cast<Attribute>(identity)));
    auto loop = scf::ForOp::create(b, loc, index(0), index(kLanes), index(1), init);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(loop.getBody());
      Value lane = loop.getInductionVar();
      Value p = partial(lane);
      Value inserted = vector::InsertOp::create(b, loc, p, loop.getRegionIterArg(0),
                                                ArrayRef<OpFoldResult>{lane});
      scf::YieldOp::create(b, loc, inserted);
    }
    Value all = loop.getResult(0);
    for (int64_t mask = kLanes / 2; mask >= 1; mask /= 2) {
      SmallVector<int64_t> perm;
      for (int64_t l = 0; l < kLanes; ++l)
        perm.push_back(l ^ mask);
      all = combine(all, vector::ShuffleOp::create(b, loc, all, all, perm));
    }
    return vector::ExtractOp::create(b, loc, all, ArrayRef<int64_t>{0});
  }

  /// The lanes' writes so far seen by every lane.
  void sync() {
    if (emulate)
      return;
    Value all = arith::ConstantIntOp::create(b, loc, b.getI32Type(), -1);
    NVVM::SyncWarpOp::create(b, loc, all);
  }

private:
  Value shuffleXor(Value x, int64_t mask) {
    Type type = x.getType();
    if (type.isBF16() || type.isF16())
      x = arith::ExtFOp::create(b, loc, b.getF32Type(), x);
    Value offset = arith::ConstantIntOp::create(b, loc, b.getI32Type(), mask);
    Value width = arith::ConstantIntOp::create(b, loc, b.getI32Type(), kLanes);
    Value y = gpu::ShuffleOp::create(b, loc, x, offset, width, gpu::ShuffleMode::XOR)
                  .getShuffleResult();
    if (y.getType() != type)
      y = arith::TruncFOp::create(b, loc, type, y);
    return y;
  }
};

/// How many ops on a group looks for one to pull up into it.
constexpr size_t kLookahead = 32;

/// A float sum no longer than this a lane adds alone, in order.
constexpr int64_t kSerialLength = 1024;

/// Whether `combiner` gives the same result in any order: a maximum or
/// minimum, integer arithmetic; not a float sum or product.
bool exactCombiner(Operation *combiner) {
  return isa<arith::MaximumFOp, arith::MinimumFOp, arith::MaxNumFOp, arith::MinNumFOp,
             arith::AddIOp, arith::MulIOp, arith::MaxSIOp, arith::MinSIOp, arith::MaxUIOp,
             arith::MinUIOp, arith::AndIOp, arith::OrIOp, arith::XOrIOp>(combiner);
}

/// `combiner` (a binary op of the body) applied to (acc, x) with acc in
/// the place of the body's accumulator, on scalars or vectors.
Value combineWith(OpBuilder &b, Location loc, Operation *combiner, Value accumulatorArg, Value acc,
                  Value x) {
  Value lhs = combiner->getOperand(0) == accumulatorArg ? acc : x;
  Value rhs = combiner->getOperand(0) == accumulatorArg ? x : acc;
  OperationState state(loc, combiner->getName());
  state.addOperands({lhs, rhs});
  state.addTypes(acc.getType());
  state.addAttributes(combiner->getAttrs());
  return b.create(state)->getResult(0);
}

/// The indices of `operand`'s element at the loop indices `loops`.
SmallVector<Value> indicesAt(OpBuilder &b, Location loc, linalg::LinalgOp op, OpOperand *operand,
                             ArrayRef<Value> loops) {
  AffineMap map = op.getMatchingIndexingMap(operand);
  SmallVector<Value> indices;
  for (AffineExpr e : map.getResults()) {
    if (auto dim = dyn_cast<AffineDimExpr>(e))
      indices.push_back(loops[dim.getPosition()]);
    else if (auto cst = dyn_cast<AffineConstantExpr>(e))
      indices.push_back(arith::ConstantIndexOp::create(b, loc, cst.getValue()));
    else
      indices.push_back(affine::AffineApplyOp::create(
          b, loc, AffineMap::get(map.getNumDims(), 0, e), loops));
  }
  return indices;
}

/// The element of `operand` at the loop indices `loops`.
Value loadAt(OpBuilder &b, Location loc, linalg::LinalgOp op, OpOperand *operand,
             ArrayRef<Value> loops) {
  Value v = operand->get();
  if (!isa<MemRefType>(v.getType()))
    return v;
  return memref::LoadOp::create(b, loc, v, indicesAt(b, loc, op, operand, loops));
}

void storeAt(OpBuilder &b, Location loc, linalg::LinalgOp op, OpOperand *operand, Value value,
             ArrayRef<Value> loops) {
  memref::StoreOp::create(b, loc, value, operand->get(), indicesAt(b, loc, op, operand, loops));
}

/// The body of `op` at the loop indices `loops`, its outputs' block
/// arguments `inits`: the values it yields.
SmallVector<Value> bodyAt(OpBuilder &b, Location loc, linalg::LinalgOp op, ArrayRef<Value> loops,
                          ValueRange inits) {
  Block *body = op.getBlock();
  IRMapping map;
  for (OpOperand *in : op.getDpsInputOperands()) {
    BlockArgument arg = op.getMatchingBlockArgument(in);
    if (!arg.use_empty())
      map.map(arg, loadAt(b, loc, op, in, loops));
  }
  for (auto [arg, init] : llvm::zip(op.getRegionOutputArgs(), inits))
    if (init)
      map.map(arg, init);
  for (Operation &inner : body->without_terminator()) {
    if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
      map.map(index.getResult(), loops[index.getDim()]);
      continue;
    }
    b.clone(inner, map);
  }
  SmallVector<Value> yielded;
  for (Value v : body->getTerminator()->getOperands())
    yielded.push_back(map.lookupOrDefault(v));
  return yielded;
}

/// `op`'s body at `indices`, walked over its loops `serial` (nested in
/// that order, each from 0, `indices` updated in place) with the outputs'
/// values `acc` carried from one step to the next: the values of the last.
SmallVector<Value> serialBody(OpBuilder &b, Location loc, linalg::LinalgOp op,
                              SmallVectorImpl<Value> &indices, ArrayRef<unsigned> serial,
                              ValueRange acc) {
  if (serial.empty())
    return bodyAt(b, loc, op, indices, acc);
  unsigned dim = serial.front();
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  auto loop = scf::ForOp::create(b, loc, c(0), c(op.getStaticLoopRanges()[dim]), c(1), acc);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value outer = indices[dim];
  indices[dim] = loop.getInductionVar();
  scf::YieldOp::create(b, loc,
                       serialBody(b, loc, op, indices, serial.drop_front(), loop.getRegionIterArgs()));
  indices[dim] = outer;
  return SmallVector<Value>(loop.getResults());
}

/// Whether `operand` of `op` is indexed by loop `d`.
bool indexedBy(linalg::LinalgOp op, OpOperand *operand, unsigned d) {
  return llvm::any_of(op.getMatchingIndexingMap(operand).getResults(),
                      [&](AffineExpr e) { return e.isFunctionOfDim(d); });
}

/// Elements of the row one step of a lane reads and writes as vectors in
/// `nest`'s op (ftc::cuda::kVectorWidths, each vector at most 16 bytes),
/// or 1: an op along the row (no serial loops) whose every operand
/// indexed by the row loop is indexed by it last and only there, at a
/// layout VectorBuffers takes, every output so indexed unless the op
/// reduces the row, and at least one vector per row.
int64_t rowWidth(const RowNest &nest, const ftc::cuda::VectorBuffers &vectors) {
  linalg::LinalgOp op = nest.op;
  if (nest.length == 0 || nest.serial != 0)
    return 1;
  unsigned d = nest.outer;
  SmallVector<OpOperand *> along;
  for (OpOperand &operand : op->getOpOperands()) {
    bool init = op.isDpsInit(&operand);
    if (!init && op.getMatchingBlockArgument(&operand).use_empty())
      continue;
    if (!isa<MemRefType>(operand.get().getType())) {
      if (init)
        return 1;
      continue;
    }
    if (!indexedBy(op, &operand, d)) {
      if (init && !nest.reduction)
        return 1;
      continue;
    }
    ArrayRef<AffineExpr> results = op.getMatchingIndexingMap(&operand).getResults();
    auto last = dyn_cast<AffineDimExpr>(results.back());
    if (!last || last.getPosition() != d ||
        llvm::any_of(results.drop_back(), [&](AffineExpr e) { return e.isFunctionOfDim(d); }))
      return 1;
    along.push_back(&operand);
  }
  if (along.empty())
    return 1;
  for (int64_t width : ftc::cuda::kVectorWidths) {
    if (nest.length < width)
      continue;
    if (llvm::all_of(along, [&](OpOperand *o) {
          auto type = cast<MemRefType>(o->get().getType());
          return type.getElementTypeBitWidth() * width <= 128 &&
                 vectors.alignment(o->get(), width) != 0;
        }))
      return width;
  }
  return 1;
}

/// `op`'s body for the `width` elements of the row from `loops[d]` on (d
/// the row loop), at the other loop indices `loops`: an operand along the
/// row read as one vector, element j the j-th body's, any other once. The
/// bodies in order; with `acc` (a reduction of the row), the output's
/// value carried from each to the next, the last one's returned; else the
/// outputs written as one vector each. (A parallel loop's iterations are
/// independent: running them op by op is one of their orders.)
Value wideBodyAt(OpBuilder &b, Location loc, linalg::LinalgOp op, ArrayRef<Value> loops,
                 unsigned d, int64_t width, const ftc::cuda::VectorBuffers &vectors, Value acc) {
  auto vectorOf = [&](OpOperand *operand) {
    return VectorType::get({width}, cast<MemRefType>(operand->get().getType()).getElementType());
  };
  auto align = [&](OpOperand *operand) {
    return llvm::MaybeAlign(vectors.alignment(operand->get(), width));
  };
  SmallVector<IRMapping> maps(width);
  for (OpOperand &operand : op->getOpOperands()) {
    BlockArgument arg = op.getMatchingBlockArgument(&operand);
    if (arg.use_empty() || (acc && op.isDpsInit(&operand)))
      continue;
    if (isa<MemRefType>(operand.get().getType()) && indexedBy(op, &operand, d)) {
      Value v = vector::LoadOp::create(b, loc, vectorOf(&operand), operand.get(),
                                       indicesAt(b, loc, op, &operand, loops),
                                       /*nontemporal=*/false, align(&operand));
      for (auto [j, map] : llvm::enumerate(maps))
        map.map(arg, vector::ExtractOp::create(b, loc, v, static_cast<int64_t>(j)).getResult());
      continue;
    }
    Value x = loadAt(b, loc, op, &operand, loops);
    for (IRMapping &map : maps)
      map.map(arg, x);
  }
  Block *body = op.getBlock();
  Operation *yield = body->getTerminator();
  for (auto [j, map] : llvm::enumerate(maps)) {
    SmallVector<Value> at(loops);
    if (j > 0)
      at[d] = arith::AddIOp::create(b, loc, loops[d],
                                    arith::ConstantIndexOp::create(b, loc, j));
    if (acc)
      map.map(op.getRegionOutputArgs()[0], acc);
    for (Operation &inner : body->without_terminator()) {
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        map.map(index.getResult(), at[index.getDim()]);
        continue;
      }
      b.clone(inner, map);
    }
    if (acc)
      acc = map.lookupOrDefault(yield->getOperand(0));
  }
  if (acc)
    return acc;
  for (auto [i, init] : llvm::enumerate(op.getDpsInitsMutable())) {
    SmallVector<Value> values;
    for (IRMapping &map : maps)
      values.push_back(map.lookupOrDefault(yield->getOperand(i)));
    Value v = vector::FromElementsOp::create(b, loc, vectorOf(&init), values);
    vector::StoreOp::create(b, loc, v, init.get(), indicesAt(b, loc, op, &init, loops),
                            /*nontemporal=*/false, align(&init));
  }
  return Value();
}

/// The code of one op for the warp's row (`outerIndices` its row loops).
void emitMember(Lanes &lanes, const RowNest &nest, ArrayRef<Value> outerIndices,
                const ftc::cuda::VectorBuffers &vectors) {
  OpBuilder &b = lanes.b;
  linalg::LinalgOp op = nest.op;
  Location loc = op.getLoc();
  auto inits = [&](ArrayRef<Value> loops) {
    SmallVector<Value> values;
    for (OpOperand &init : op.getDpsInitsMutable())
      values.push_back(op.getMatchingBlockArgument(&init).use_empty()
                           ? Value()
                           : loadAt(b, loc, op, &init, loops));
    return values;
  };
  auto store = [&](ArrayRef<Value> values, ArrayRef<Value> loops) {
    for (auto [init, v] : llvm::zip(op.getDpsInitsMutable(), values))
      storeAt(b, loc, op, &init, v, loops);
  };
  SmallVector<Value> loops(outerIndices);
  if (nest.length == 0) {
    // One element per row: lane 0's.
    lanes.first([&] { store(bodyAt(b, loc, op, loops, inits(loops)), loops); });
    return;
  }
  // Elements start, start + stride, ... of the row, before `end` (the
  // row's end unless given).
  auto alongRow = [&](Value start, int64_t stride, ValueRange iterArgs,
                      function_ref<SmallVector<Value>(ArrayRef<Value>, ValueRange)> step,
                      int64_t end = -1) {
    auto loop = scf::ForOp::create(b, loc, start, lanes.index(end < 0 ? nest.length : end),
                                   lanes.index(stride), iterArgs);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> at(loops);
    at.push_back(loop.getInductionVar());
    SmallVector<Value> next = step(at, loop.getRegionIterArgs());
    if (!iterArgs.empty())
      scf::YieldOp::create(b, loc, next);
    return loop;
  };
  // Where the op's operands along the row are read and written as
  // vectors of `width` elements: lane l takes vectors l, l + 32, ... of
  // the row's first `whole` elements, then (a row that does not split into
  // vectors) elements whole + l, whole + l + 32, ... one at a time.
  int64_t width = rowWidth(nest, vectors);
  int64_t whole = nest.length - nest.length % width;
  auto wideStart = [&](Value lane) -> Value {
    return arith::MulIOp::create(b, loc, lane, lanes.index(width));
  };
  auto tailStart = [&](Value lane) -> Value {
    return arith::AddIOp::create(b, loc, lane, lanes.index(whole));
  };
  if (!nest.reduction) {
    // Lane l: elements l, l + 32, ... of the row (vectors, above); each
    // through the serial loops, in order, where there are some.
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    lanes.each([&](Value lane) {
      if (width > 1) {
        alongRow(
            wideStart(lane), kLanes * width, {},
            [&](ArrayRef<Value> at, ValueRange) {
              wideBodyAt(b, loc, op, at, nest.outer, width, vectors, Value());
              return SmallVector<Value>();
            },
            whole);
        if (whole < nest.length)
          alongRow(tailStart(lane), kLanes, {}, [&](ArrayRef<Value> at, ValueRange) {
            store(bodyAt(b, loc, op, at, inits(at)), at);
            return SmallVector<Value>();
          });
        return;
      }
      alongRow(lane, kLanes, {}, [&](ArrayRef<Value> at, ValueRange) {
        if (nest.serial == 0) {
          store(bodyAt(b, loc, op, at, inits(at)), at);
          return SmallVector<Value>();
        }
        // The loop indices with the serial ones (zero where the outputs
        // are read and written: their maps skip them).
        Value zero = lanes.index(0);
        SmallVector<Value> all(at.drop_back());
        SmallVector<unsigned> serial;
        for (unsigned i = 0; i < nest.serial; ++i) {
          serial.push_back(nest.outer + i);
          all.push_back(zero);
        }
        all.push_back(at.back());
        SmallVector<Value> acc;
        for (OpOperand &init : op.getDpsInitsMutable())
          acc.push_back(loadAt(b, loc, op, &init, all));
        store(serialBody(b, loc, op, all, serial, acc), all);
        return SmallVector<Value>();
      });
    });
    return;
  }
  Operation *combiner;
  TypedAttr identity;
  std::tie(combiner, identity) = ftc::cuda::combinerOf(op);
  Value accArg = op.getRegionOutputArgs()[0];
  OpOperand *out = op.getDpsInitOperand(0);
  if (!exactCombiner(combiner) && nest.length <= kSerialLength) {
    // A float sum: lane 0 adds the row in order, from the output's value,
    // as the op reads (and the CPU's code adds it): the lowering already
    // cut long sums into blocks (LinalgBuilder::reduce), whose lanes are
    // this row. The GPU's sums are then the CPU's, bit for bit.
    lanes.first([&] {
      Value init = loadAt(b, loc, op, out, loops);
      auto loop = alongRow(lanes.index(0), 1, init, [&](ArrayRef<Value> at, ValueRange acc) {
        return bodyAt(b, loc, op, at, acc);
      });
      storeAt(b, loc, op, out, loop.getResult(0), loops);
    });
    return;
  }
  // Lane l combines elements l, l + 32, ... in order from the identity
  // (its vectors, then the rest, where the combiner is exact: any order
  // gives the same result); the lanes' results are combined in a
  // butterfly, then into the output.
  bool wide = width > 1 && exactCombiner(combiner);
  Value total = lanes.butterfly(
      accArg.getType(), identity,
      [&](Value lane) {
        Value acc = arith::ConstantOp::create(b, loc, identity);
        auto one = [&](ArrayRef<Value> at, ValueRange carried) {
          return bodyAt(b, loc, op, at, carried);
        };
        if (!wide)
          return alongRow(lane, kLanes, acc, one).getResult(0);
        acc = alongRow(
                  wideStart(lane), kLanes * width, acc,
                  [&](ArrayRef<Value> at, ValueRange carried) {
                    return SmallVector<Value>{
                        wideBodyAt(b, loc, op, at, nest.outer, width, vectors, carried[0])};
                  },
                  whole)
                  .getResult(0);
        if (whole < nest.length)
          acc = alongRow(tailStart(lane), kLanes, acc, one).getResult(0);
        return acc;
      },
      [&](Value acc, Value x) { return combineWith(b, loc, combiner, accArg, acc, x); });
  lanes.first([&] {
    Value init = loadAt(b, loc, op, out, loops);
    storeAt(b, loc, op, out, combineWith(b, loc, combiner, accArg, init, total), loops);
  });
}

/// A gpu.launch of `blocks` one-dimensional blocks of `threads` right after
/// `last` (the last op of a kernel's, `first` its first), its body empty
/// but for its terminator; the deallocations between `first` and `last`
/// (of buffers the kernel's earlier ops used) move after it.
gpu::LaunchOp launchAfter(Operation *first, Operation *last, int64_t blocks, int64_t threads) {
  OpBuilder b(last);
  b.setInsertionPointAfter(last);
  Location loc = last->getLoc();
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value one = c(1);
  auto launch = gpu::LaunchOp::create(b, loc, c(blocks), one, one, c(threads), one, one);
  SmallVector<Operation *> deallocs;
  for (Operation *op = first; op != last; op = op->getNextNode())
    if (isa<memref::DeallocOp>(op))
      deallocs.push_back(op);
  for (Operation *d : llvm::reverse(deallocs))
    d->moveAfter(launch);
  b.setInsertionPointToStart(&launch.getBody().front());
  gpu::TerminatorOp::create(b, loc);
  return launch;
}

/// The group's ops as one gpu.launch at the place of its last op: blocks
/// of `warps` warps, a warp per row. Allocations and views between the
/// ops stay before it, deallocations between them move after it.
void emitGroup(ArrayRef<RowNest> members, int64_t rows, int64_t warps, bool emulate,
               const ftc::cuda::VectorBuffers &vectors) {
  Operation *last = members.back().op;
  Location loc = last->getLoc();
  gpu::LaunchOp launch = launchAfter(members.front().op, last, (rows + warps - 1) / warps,
                                     emulate ? warps : warps * kLanes);
  OpBuilder b(launch.getBody().front().getTerminator());
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value block = launch.getBlockIds().x, thread = launch.getThreadIds().x;
  Value warp = emulate ? thread : Value(arith::DivUIOp::create(b, loc, thread, c(kLanes)));
  Value lane = emulate ? Value() : Value(arith::RemUIOp::create(b, loc, thread, c(kLanes)));
  Value row = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, block, c(warps)), warp);
  if (rows % warps != 0) {
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, c(rows));
    auto guard = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
    b.setInsertionPointToStart(guard.thenBlock());
  }
  Lanes lanes(b, loc, emulate, lane);
  for (auto [i, nest] : llvm::enumerate(members)) {
    if (i > 0)
      lanes.sync();
    linalg::LinalgOp op = nest.op;
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    SmallVector<Value> outer(nest.outer);
    Value rest = row;
    for (int64_t d = static_cast<int64_t>(nest.outer) - 1; d >= 0; --d) {
      if (d == 0) {
        outer[d] = rest;
        break;
      }
      outer[d] = arith::RemUIOp::create(b, loc, rest, c(ranges[d]));
      rest = arith::DivUIOp::create(b, loc, rest, c(ranges[d]));
    }
    emitMember(lanes, nest, outer, vectors);
  }
  for (const RowNest &nest : members)
    nest.op->erase();
}

/// The buffers `op` reads and writes (any op: an op this pass does not
/// know reads and writes every buffer it names, in its regions too).
void buffersOf(Operation *op, llvm::DenseSet<Value> &reads, llvm::DenseSet<Value> &writes) {
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op);
      linalgOp && linalgOp.hasPureBufferSemantics()) {
    for (const Access &a : accessesOf(RowNest{linalgOp}))
      (a.write ? writes : reads).insert(a.buffer);
    return;
  }
  op->walk([&](Operation *inner) {
    for (Value v : inner->getOperands())
      if (auto memref = dyn_cast<MemrefValue>(v)) {
        Value root = memref::skipViewLikeOps(memref);
        reads.insert(root);
        writes.insert(root);
      }
  });
}

/// Whether `op` can move up to before `before` (in the same block): it
/// touches no buffer the ops between write, writes none they read, and
/// what defines its operands there is a filler that can move up with it
/// (collected into `defs`, in order).
bool canHoist(Operation *op, Operation *before, SmallVectorImpl<Operation *> &defs) {
  llvm::DenseSet<Value> reads, writes;
  buffersOf(op, reads, writes);
  for (Operation *x = before; x != op; x = x->getNextNode()) {
    if (isFiller(x))
      continue;
    // What this pass can see the buffers of: linalg ops, kernels, the
    // addresses taken for a product. A call (a product on cuBLASLt, which
    // takes addresses, not buffers) or any other op: not past it.
    if (!isa<linalg::LinalgOp, gpu::LaunchOp, memref::ExtractAlignedPointerAsIndexOp>(x))
      return false;
    llvm::DenseSet<Value> xReads, xWrites;
    buffersOf(x, xReads, xWrites);
    for (Value v : writes)
      if (xReads.contains(v) || xWrites.contains(v))
        return false;
    for (Value v : reads)
      if (xWrites.contains(v))
        return false;
  }
  // The operands' definitions between `before` and `op`.
  SmallVector<Value> pending(op->getOperands());
  llvm::SetVector<Operation *> found;
  while (!pending.empty()) {
    Value v = pending.pop_back_val();
    Operation *def = v.getDefiningOp();
    if (!def || def->getBlock() != op->getBlock() || def->isBeforeInBlock(before))
      continue;
    if (!isa<memref::AllocOp, memref::GetGlobalOp, arith::ConstantOp, ViewLikeOpInterface>(def))
      return false;
    if (found.insert(def))
      llvm::append_range(pending, def->getOperands());
  }
  defs.assign(found.begin(), found.end());
  llvm::sort(defs, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  return true;
}

/// The row kernels of one block, found in order: a run of consecutive ops
/// (fillers aside) that iterate the same rows, each touching a buffer one
/// of them writes only in the warp's own row, with a row reduction among
/// them.
void rowKernels(Block &block, int64_t warps, bool emulate,
                const ftc::cuda::VectorBuffers &vectors) {
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    if (!isFiller(&op))
      ops.push_back(&op);
  // The rows of the first reduction at or after `i` that every op from
  // `i` to it iterates.
  auto seedRows = [&](size_t i) -> std::optional<int64_t> {
    for (size_t j = i; j < ops.size() && j < i + 8; ++j) {
      auto op = dyn_cast<linalg::LinalgOp>(ops[j]);
      if (!op)
        return std::nullopt;
      std::optional<int64_t> rows = ftc::cuda::rowReduction(op);
      if (!rows)
        rows = ftc::cuda::rowPartials(op);
      if (!rows || !op.hasPureBufferSemantics())
        continue;
      for (size_t k = i; k <= j; ++k)
        if (!rowNestOf(cast<linalg::LinalgOp>(ops[k]), *rows))
          return std::nullopt;
      return rows;
    }
    return std::nullopt;
  };
  SmallVector<SmallVector<RowNest>> groups;
  SmallVector<int64_t> groupRows;
  RowGroup current;
  auto close = [&] {
    bool reduces = llvm::any_of(current.members,
                                [](const RowNest &n) { return n.reduction || n.serial > 0; });
    if (reduces) {
      groups.push_back(trimmed(current.members));
      groupRows.push_back(current.rows);
    }
    current = RowGroup();
  };
  llvm::DenseSet<Operation *> taken;
  // Ops a few places on that read what the group wrote and are
  // independent of the ops between (a layer norm's input gradient after
  // its weight's gradient sums), moved up into the group.
  auto pullLater = [&](size_t i) {
    for (size_t j = i + 1; j < ops.size() && j < i + 1 + kLookahead; ++j) {
      auto later = dyn_cast<linalg::LinalgOp>(ops[j]);
      if (!later || taken.contains(later))
        continue;
      std::optional<RowNest> nest = rowNestOf(later, current.rows);
      if (!nest || !current.admits(*nest) ||
          llvm::none_of(accessesOf(*nest), [&](const Access &a) {
            return !a.write && current.footprint.written.lookup(a.buffer);
          }))
        continue;
      SmallVector<Operation *> defs;
      if (!canHoist(later, ops[i], defs))
        continue;
      for (Operation *def : defs)
        def->moveBefore(ops[i]);
      later->moveBefore(ops[i]);
      current.add(*nest);
      taken.insert(later);
    }
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    if (taken.contains(ops[i]))
      continue;
    auto op = dyn_cast<linalg::LinalgOp>(ops[i]);
    if (op && !current.members.empty()) {
      if (std::optional<RowNest> nest = rowNestOf(op, current.rows);
          nest && current.admits(*nest)) {
        current.add(*nest);
        continue;
      }
    }
    if (!current.members.empty())
      pullLater(i);
    close();
    if (!op)
      continue;
    if (std::optional<int64_t> rows = seedRows(i)) {
      RowNest nest = *rowNestOf(op, *rows);
      current.rows = *rows;
      if (current.admits(nest))
        current.add(nest);
      else
        current = RowGroup();
    }
  }
  close();
  for (auto [members, rows] : llvm::zip(groups, groupRows))
    emitGroup(members, rows, warps, emulate, vectors);
}

//===----------------------------------------------------------------------===//
// Column kernels: a column's sum in stages (a bias gradient: the lowering's
// blocked partial sums over 8192 rows, upstream's split of them, the rest)
// as one kernel, a block per tile of columns.
//===----------------------------------------------------------------------===//

/// Threads of a column kernel's block: kColumnThreads / tile groups of
/// `tile` neighbouring columns each.
constexpr int64_t kColumnThreads = 256;

/// The columns of a column kernel's block.
int64_t columnTile(int64_t columns) { return columns % 16 == 0 ? 16 : 32; }

/// An op joins a column kernel only where it has few outputs per column:
/// at most kColumnShare per thread of the column's groups (partial sums
/// of partial sums, their fills, a gradient's accumulation). One with more
/// (the first partial sums of a bias gradient, 256 for each of 768
/// columns, each over 32 of its 8192 rows: 196,608 sums, which would be
/// 12,288 threads' in 48 blocks, on a GPU of 132 SMs) is a kernel of its
/// own with a thread per output (ftc-gpu-map-loops): neighbouring threads
/// neighbouring columns, each sum the same, in the same order.
constexpr int64_t kColumnShare = 2;

/// Whether `op` is a column kernel's: on buffers, static, its last loop
/// parallel over `columns` columns that each output is indexed by last
/// (and by no other index), few outputs for each column (kColumnShare).
bool columnOp(linalg::LinalgOp op, int64_t columns) {
  if (!op.hasPureBufferSemantics() || op->getNumRegions() != 1 ||
      linalg::isaContractionOpInterface(op) || op.getNumLoops() == 0)
    return false;
  if (storesInBody(op))
    return false;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return false;
  unsigned last = op.getNumLoops() - 1;
  if (op.getIteratorTypesArray()[last] != utils::IteratorType::parallel || ranges[last] != columns)
    return false;
  for (OpOperand &init : op.getDpsInitsMutable()) {
    AffineMap map = op.getMatchingIndexingMap(&init);
    if (map.getNumResults() == 0 || map.getResults().back() != getAffineDimExpr(last, op.getContext()))
      return false;
    for (AffineExpr e : map.getResults().drop_back())
      if (e.isFunctionOfDim(last))
        return false;
  }
  int64_t outputs = 1;
  for (auto [range, iterator] : llvm::zip(ranges, op.getIteratorTypesArray()))
    if (iterator == utils::IteratorType::parallel)
      outputs *= range;
  return outputs <= columns * (kColumnThreads / columnTile(columns)) * kColumnShare;
}

/// Whether an operand of a column op stays in its column: the buffer,
/// through reshapes alone, indexed by the column loop last (its rows of
/// `columns` elements) and by other loops elsewhere.
bool ownColumn(Value view, AffineMap map, unsigned column, int64_t columns) {
  if (!plainView(view) || map.getNumResults() == 0)
    return false;
  auto type = cast<MemRefType>(view.getType());
  if (type.getShape().back() != columns ||
      map.getResults().back() != getAffineDimExpr(column, map.getContext()))
    return false;
  return llvm::none_of(map.getResults().drop_back(),
                       [&](AffineExpr e) { return e.isFunctionOfDim(column); });
}

SmallVector<Access> columnAccessesOf(linalg::LinalgOp op) {
  unsigned column = op.getNumLoops() - 1;
  int64_t columns = op.getStaticLoopRanges()[column];
  return accessesOf(op, [&](Value view, AffineMap map) {
    return ownColumn(view, map, column, columns);
  });
}

/// One column kernel: a block per `tile` columns, each column's thread
/// groups sharing out an op's other parallel iterations (each walking its
/// reduced loops in order: the same sums as the op's thread per element),
/// a block barrier between ops. Emulated, a launch thread is a column that
/// runs its groups' iterations one after the other.
void emitColumns(ArrayRef<linalg::LinalgOp> members, int64_t columns, bool emulate) {
  Operation *last = members.back();
  Location loc = last->getLoc();
  int64_t tile = columnTile(columns);
  int64_t groups = kColumnThreads / tile;
  gpu::LaunchOp launch = launchAfter(members.front(), last, (columns + tile - 1) / tile,
                                     emulate ? tile : kColumnThreads);
  OpBuilder b(launch.getBody().front().getTerminator());
  auto c = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  Value block = launch.getBlockIds().x, thread = launch.getThreadIds().x;
  Value inTile = emulate ? thread : Value(arith::RemUIOp::create(b, loc, thread, c(tile)));
  Value group = emulate ? c(0) : Value(arith::DivUIOp::create(b, loc, thread, c(tile)));
  Value column = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, block, c(tile)), inTile);
  Value inside = columns % tile == 0
                     ? Value()
                     : Value(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, column,
                                                   c(columns)));
  for (auto [i, member] : llvm::enumerate(members)) {
    linalg::LinalgOp op = member;
    if (i > 0 && !emulate)
      gpu::BarrierOp::create(b, loc);
    OpBuilder::InsertionGuard guard(b);
    if (inside) {
      auto branch = scf::IfOp::create(b, loc, inside, /*withElseRegion=*/false);
      b.setInsertionPointToStart(branch.thenBlock());
    }
    Location opLoc = op.getLoc();
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
    unsigned last = op.getNumLoops() - 1;
    SmallVector<unsigned> parallel, serial;
    int64_t count = 1;
    for (unsigned d = 0; d < last; ++d) {
      if (iterators[d] == utils::IteratorType::parallel) {
        parallel.push_back(d);
        count *= ranges[d];
      } else {
        serial.push_back(d);
      }
    }
    // Iterations group, group + groups, ... of the other parallel loops.
    auto loop = scf::ForOp::create(b, opLoc, group, c(count), c(emulate ? 1 : groups));
    b.setInsertionPointToStart(loop.getBody());
    SmallVector<Value> indices(op.getNumLoops(), c(0));
    indices[last] = column;
    Value rest = loop.getInductionVar();
    for (unsigned d : llvm::reverse(parallel)) {
      indices[d] = arith::RemUIOp::create(b, opLoc, rest, c(ranges[d]));
      rest = arith::DivUIOp::create(b, opLoc, rest, c(ranges[d]));
    }
    SmallVector<Value> acc;
    for (OpOperand &init : op.getDpsInitsMutable())
      acc.push_back(serial.empty() && op.getMatchingBlockArgument(&init).use_empty()
                        ? Value()
                        : loadAt(b, opLoc, op, &init, indices));
    SmallVector<Value> results = serial.empty() ? bodyAt(b, opLoc, op, indices, acc)
                                                : serialBody(b, opLoc, op, indices, serial, acc);
    for (auto [init, v] : llvm::zip(op.getDpsInitsMutable(), results))
      storeAt(b, opLoc, op, &init, v, indices);
  }
  for (linalg::LinalgOp op : members)
    op->erase();
}

/// The column kernels of one block: runs of consecutive column ops of the
/// same columns (fillers aside), each touching a buffer one of them writes
/// only in its own columns, two of them reductions or more.
void columnKernels(Block &block, bool emulate) {
  SmallVector<linalg::LinalgOp> ops;
  SmallVector<Operation *> all;
  for (Operation &op : block)
    if (!isFiller(&op))
      all.push_back(&op);
  auto columnsOf = [](linalg::LinalgOp op) -> int64_t {
    return op.getStaticLoopRanges()[op.getNumLoops() - 1];
  };
  // The columns of the first reduction at or after `i` that every op from
  // `i` to it iterates.
  auto seed = [&](size_t i) -> std::optional<int64_t> {
    for (size_t j = i; j < all.size() && j < i + 8; ++j) {
      auto op = dyn_cast<linalg::LinalgOp>(all[j]);
      if (!op || op.getNumLoops() == 0 || !columnOp(op, columnsOf(op)))
        return std::nullopt;
      if (op.getNumReductionLoops() == 0)
        continue;
      for (size_t k = i; k < j; ++k)
        if (!columnOp(cast<linalg::LinalgOp>(all[k]), columnsOf(op)))
          return std::nullopt;
      return columnsOf(op);
    }
    return std::nullopt;
  };
  struct Group {
    int64_t columns = 0;
    SmallVector<linalg::LinalgOp> members;
    SmallVector<SmallVector<Access>> accesses;
    Footprint footprint;
  };
  SmallVector<Group> groups;
  Group current;
  auto close = [&] {
    SmallVector<bool> keep;
    for (linalg::LinalgOp op : current.members)
      keep.push_back(op.getNumReductionLoops() > 0);
    auto [begin, end] = connected(current.accesses, keep);
    if (llvm::count(ArrayRef(keep).slice(begin, end - begin), true) >= 2) {
      Group g;
      g.columns = current.columns;
      g.members.assign(current.members.begin() + begin, current.members.begin() + end);
      groups.push_back(std::move(g));
    }
    current = Group();
  };
  for (size_t i = 0; i < all.size(); ++i) {
    auto op = dyn_cast<linalg::LinalgOp>(all[i]);
    if (op && !current.members.empty() && columnOp(op, current.columns)) {
      SmallVector<Access> accesses = columnAccessesOf(op);
      if (current.footprint.admits(accesses)) {
        current.footprint.add(accesses);
        current.members.push_back(op);
        current.accesses.push_back(std::move(accesses));
        continue;
      }
    }
    close();
    if (!op)
      continue;
    if (std::optional<int64_t> columns = seed(i)) {
      SmallVector<Access> accesses = columnAccessesOf(op);
      if (Footprint().admits(accesses)) {
        current.columns = *columns;
        current.footprint.add(accesses);
        current.members.push_back(op);
        current.accesses.push_back(std::move(accesses));
      }
    }
  }
  close();
  for (Group &g : groups)
    emitColumns(g.members, g.columns, emulate);
}

struct GpuRowKernelsPass : public ftc::impl::GpuRowKernelsBase<GpuRowKernelsPass> {
  using Base::Base;
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (func.isExternal())
        return;
      ftc::cuda::VectorBuffers vectors(func);
      for (Block &block : func.getBody()) {
        rowKernels(block, warpsPerBlock, emulate, vectors);
        columnKernels(block, emulate);
      }
    });
  }
};

} // namespace
