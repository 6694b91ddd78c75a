//===- GpuFuseLaunches.cpp - Independent kernels as one launch -------------===//
//
// See ftc-gpu-fuse-launches in Passes.td. A kernel launch costs a few
// microseconds of the driver's and the GPU's time however little the kernel
// does: the optimizer's one kernel per parameter (148 for GPT-2 small) is
// launch overhead more than work. Upstream has no horizontal fusion of
// gpu.launch ops; this pass merges runs of independent ones.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#include <functional>

namespace ftc {
#define GEN_PASS_DEF_GPUFUSELAUNCHES
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// What a kernel reads and writes, by buffer.
struct Access {
  llvm::DenseMap<Value, bool> buffers; // root -> written
};

/// The buffers `launch` reads and writes, or nothing where an op inside
/// has effects this pass cannot attribute to a buffer.
std::optional<Access> accessOf(gpu::LaunchOp launch) {
  Access access;
  WalkResult walk = launch.getBody().walk([&](Operation *op) {
    if (op == launch.getOperation() || isMemoryEffectFree(op) ||
        isa<gpu::TerminatorOp, scf::YieldOp>(op))
      return WalkResult::advance();
    auto iface = dyn_cast<MemoryEffectOpInterface>(op);
    if (!iface)
      return op->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ? WalkResult::advance()
                                                                 : WalkResult::interrupt();
    SmallVector<MemoryEffects::EffectInstance> effects;
    iface.getEffects(effects);
    for (const MemoryEffects::EffectInstance &e : effects) {
      Value v = e.getValue();
      if (!v || !isa<MemoryEffects::Read, MemoryEffects::Write>(e.getEffect()))
        return WalkResult::interrupt();
      // By the buffer (a value from outside the kernel, or an allocation)
      // it views.
      if (auto memref = dyn_cast<MemrefValue>(v))
        v = memref::skipViewLikeOps(memref);
      bool &written = access.buffers[v];
      written |= isa<MemoryEffects::Write>(e.getEffect());
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return std::nullopt;
  return access;
}

std::optional<int64_t> constant(Value v) { return getConstantIntValue(v); }

/// A launch this pass can merge: a one-dimensional grid and block of
/// constant sizes, no shared memory, no async tokens, a body of one block.
struct Candidate {
  gpu::LaunchOp launch;
  int64_t blocks = 0, threads = 0;
  Access access;
  /// The values from outside the kernel it uses, but constants (which
  /// outlining sinks into the kernel): its parameters.
  llvm::SetVector<Value> captured;
};

/// A kernel's parameters take at most 4352 bytes (PTX before 8.1): 8 each
/// (a bare pointer or an index), with room to spare.
constexpr size_t kMaxParameters = 400;

std::optional<Candidate> candidate(gpu::LaunchOp launch) {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.getDynamicSharedMemorySize() || launch.hasClusterSize() ||
      !launch.getWorkgroupAttributions().empty() ||
      !launch.getPrivateAttributions().empty() || !launch.getBody().hasOneBlock())
    return std::nullopt;
  std::optional<int64_t> gx = constant(launch.getGridSizeX()),
                         gy = constant(launch.getGridSizeY()),
                         gz = constant(launch.getGridSizeZ()),
                         bx = constant(launch.getBlockSizeX()),
                         by = constant(launch.getBlockSizeY()),
                         bz = constant(launch.getBlockSizeZ());
  if (!gx || !bx || gy != 1 || gz != 1 || by != 1 || bz != 1)
    return std::nullopt;
  std::optional<Access> access = accessOf(launch);
  if (!access)
    return std::nullopt;
  Candidate c{launch, *gx, *bx, std::move(*access), {}};
  launch.getBody().walk([&](Operation *op) {
    for (Value v : op->getOperands())
      if (!launch.getBody().isAncestor(v.getParentRegion()) &&
          !matchPattern(v, m_Constant()))
        c.captured.insert(v);
  });
  return c;
}

bool independent(const Candidate &c, ArrayRef<Candidate> group) {
  for (const Candidate &g : group)
    for (auto [root, written] : c.access.buffers) {
      auto it = g.access.buffers.find(root);
      if (it != g.access.buffers.end() && (written || it->second))
        return false;
    }
  return true;
}

/// The parameters of `group` and `c` as one kernel.
size_t parameters(ArrayRef<Candidate> group, const Candidate &c) {
  llvm::SetVector<Value> all(c.captured.begin(), c.captured.end());
  for (const Candidate &g : group)
    all.insert(g.captured.begin(), g.captured.end());
  return all.size();
}

/// The group as one launch, where its first member was: the pure host ops
/// and allocations between the members (the later ones' sizes and
/// outputs) move up before it; the deallocations stay (a buffer freed
/// between two members is one an earlier member used, not a later one).
void merge(ArrayRef<Candidate> group) {
  gpu::LaunchOp first = group.front().launch, last = group.back().launch;
  for (Operation *op = first->getNextNode(); op != last.getOperation();) {
    Operation *next = op->getNextNode();
    if (!isa<gpu::LaunchOp, memref::DeallocOp>(op))
      op->moveBefore(first);
    op = next;
  }
  Location loc = first.getLoc();
  OpBuilder b(first);
  auto c = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v).getResult(); };
  int64_t total = 0;
  for (const Candidate &m : group)
    total += m.blocks;
  // Blocks of the largest member's threads; a member of smaller blocks
  // (an elementwise kernel of few vectors) keeps its threads per block,
  // the others of its blocks idle.
  int64_t threads = 0;
  for (const Candidate &m : group)
    threads = std::max(threads, m.threads);
  Value one = c(1);
  auto fused = gpu::LaunchOp::create(b, loc, c(total), one, one, c(threads), one, one);
  Block &body = fused.getBody().front();
  b.setInsertionPointToStart(&body);
  Value block = fused.getBlockIds().x;
  SmallVector<int64_t> offsets = {0};
  for (const Candidate &m : group)
    offsets.push_back(offsets.back() + m.blocks);
  // Member i's body, its block ids less offsets[i].
  auto emitMember = [&](OpBuilder &inner, size_t i) {
    gpu::LaunchOp old = group[i].launch;
    IRMapping map;
    auto mapDims = [&](gpu::KernelDim3 from, gpu::KernelDim3 to) {
      map.map(from.x, to.x);
      map.map(from.y, to.y);
      map.map(from.z, to.z);
    };
    mapDims(old.getBlockIds(), fused.getBlockIds());
    mapDims(old.getThreadIds(), fused.getThreadIds());
    mapDims(old.getGridSize(), fused.getGridSize());
    mapDims(old.getBlockSize(), fused.getBlockSize());
    Value lo = arith::ConstantIndexOp::create(inner, loc, offsets[i]);
    map.map(old.getBlockIds().x, arith::SubIOp::create(inner, loc, block, lo).getResult());
    map.map(old.getGridSize().x,
            arith::ConstantIndexOp::create(inner, loc, group[i].blocks).getResult());
    map.map(old.getBlockSize().x,
            arith::ConstantIndexOp::create(inner, loc, group[i].threads).getResult());
    OpBuilder::InsertionGuard guard(inner);
    if (group[i].threads < threads) {
      Value mine = arith::CmpIOp::create(
          inner, loc, arith::CmpIPredicate::ult, fused.getThreadIds().x,
          arith::ConstantIndexOp::create(inner, loc, group[i].threads));
      auto ifMine = scf::IfOp::create(inner, loc, mine, /*withElseRegion=*/false);
      inner.setInsertionPointToStart(ifMine.thenBlock());
    }
    for (Operation &op : old.getBody().front().without_terminator())
      inner.clone(op, map);
  };
  // Members [first, last) by bisection on the block id: a block finds its
  // member in log2(members) comparisons (gpt2-small's 148 updates: 8, not
  // up to 148 in a chain).
  std::function<void(OpBuilder &, size_t, size_t)> dispatch = [&](OpBuilder &inner,
                                                                  size_t first, size_t last) {
    if (last - first == 1)
      return emitMember(inner, first);
    size_t mid = (first + last) / 2;
    Value below = arith::CmpIOp::create(
        inner, loc, arith::CmpIPredicate::ult, block,
        arith::ConstantIndexOp::create(inner, loc, offsets[mid]));
    auto branch = scf::IfOp::create(inner, loc, below, /*withElseRegion=*/true);
    OpBuilder thenBuilder = OpBuilder::atBlockBegin(branch.thenBlock());
    dispatch(thenBuilder, first, mid);
    OpBuilder elseBuilder = OpBuilder::atBlockBegin(branch.elseBlock());
    dispatch(elseBuilder, mid, last);
  };
  dispatch(b, 0, group.size());
  gpu::TerminatorOp::create(b, loc);
  for (const Candidate &m : group)
    m.launch->erase();
}

void fuseBlock(Block &block) {
  SmallVector<Candidate> group;
  auto flush = [&] {
    if (group.size() >= 2)
      merge(group);
    group.clear();
  };
  for (Operation &op : llvm::make_early_inc_range(block)) {
    if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
      std::optional<Candidate> c = candidate(launch);
      if (!c) {
        flush();
        continue;
      }
      if (!group.empty() &&
          (!independent(*c, group) ||
           parameters(group, *c) > kMaxParameters))
        flush();
      group.push_back(std::move(*c));
      continue;
    }
    // Host loops around kernels: their bodies on their own.
    if (!group.empty() && op.getNumRegions() > 0)
      flush();
    for (Region &region : op.getRegions())
      for (Block &inner : region)
        fuseBlock(inner);
    // Pure host ops (the next launch's sizes), allocations (the next
    // launch's outputs: the step's 16-bit weight copies) and deallocations
    // between launches: see merge(). Anything else ends the run.
    if (!(isMemoryEffectFree(&op) && op.getNumRegions() == 0) &&
        !isa<memref::AllocOp, memref::DeallocOp>(op))
      flush();
  }
  flush();
}

struct GpuFuseLaunchesPass : public ftc::impl::GpuFuseLaunchesBase<GpuFuseLaunchesPass> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      if (!func.isExternal())
        fuseBlock(func.getBody().front());
    });
  }
};

} // namespace
