//===- GpuElideCopies.cpp - Copies between buffers as views ---------------===//
//
// See ftc-gpu-elide-copies in Passes.td. After bufferization a step copies
// buffers where the tensors it came from changed layout: attention's q, k
// and v transposed out of the qkv product's result into [batch, head, T,
// D] buffers, its output transposed back, the gradients transposed and
// copied into the slices of one dqkv buffer, a product's 16-bit result
// copied where it was once rounded. On a GPU each copy is a kernel reading
// and writing the whole buffer. The ops at either end read and write
// strided buffers as well (kernels index a memref through its layout), so
// a copy can go: its destination read as a view of its source, or its
// source written as a view of its destination.
//
// Upstream's empty-tensor elimination does the second on tensors for an
// insert_slice; it does not see through the reshapes and transposes here,
// and nothing upstream forwards a copy's source to its readers on buffers.
//
//===----------------------------------------------------------------------===//

#include "BufferUses.h"
#include "ftc/Codegen/Gemm.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"

namespace ftc {
#define GEN_PASS_DEF_GPUELIDECOPIES
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// A copy of `src` into `dst`, dst[i] = src[perm applied to i] (a
/// transpose's permutation; the identity for a plain copy).
struct Copy {
  Operation *op;
  Value src, dst;
  SmallVector<int64_t> perm;
  bool identity() const { return llvm::equal(perm, llvm::seq<int64_t>(0, perm.size())); }
};

std::optional<Copy> asCopy(Operation *op) {
  auto identityOf = [](Value v) {
    return llvm::to_vector(llvm::seq<int64_t>(0, cast<MemRefType>(v.getType()).getRank()));
  };
  if (auto t = dyn_cast<linalg::TransposeOp>(op); t && t.hasPureBufferSemantics())
    return Copy{op, t.getInput(), t.getInit(), llvm::to_vector(t.getPermutation())};
  if (auto c = dyn_cast<memref::CopyOp>(op))
    return Copy{op, c.getSource(), c.getTarget(), identityOf(c.getSource())};
  if (auto c = dyn_cast<linalg::CopyOp>(op); c && c.hasPureBufferSemantics())
    return Copy{op, c.getInputs()[0], c.getOutputs()[0], identityOf(c.getInputs()[0])};
  auto g = dyn_cast<linalg::GenericOp>(op);
  if (!g || !g.hasPureBufferSemantics() || g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1 ||
      g.getNumLoops() != g.getNumParallelLoops() ||
      !llvm::all_of(g.getIndexingMapsArray(), [](AffineMap m) { return m.isIdentity(); }))
    return std::nullopt;
  Block *body = g.getBody();
  if (body->getOperations().size() != 1 ||
      body->getTerminator()->getOperand(0) != body->getArgument(0))
    return std::nullopt;
  Value src = g.getDpsInputOperand(0)->get(), dst = g.getDpsInitOperand(0)->get();
  if (getElementTypeOrSelf(src.getType()) != getElementTypeOrSelf(dst.getType()))
    return std::nullopt;
  return Copy{op, src, dst, identityOf(src)};
}

/// The views this pass sees through (and makes): they neither read nor
/// write.
bool isView(Operation *op) {
  return isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
             memref::TransposeOp, memref::CastOp>(op);
}

/// Whether `use` only reads its buffer, through its layout (a destination-
/// style op's input, a load): a reader that takes a view of any strides.
bool readsThroughLayout(OpOperand &use) {
  Operation *user = use.getOwner();
  if (isa<memref::LoadOp>(user))
    return true;
  auto dps = dyn_cast<DestinationStyleOpInterface>(user);
  return dps && dps.hasPureBufferSemantics() && !dps.isDpsInit(&use);
}

/// Whether `address` (a buffer's, plus offsets) is only ever a product's
/// A or B operand (ftcrt_gemm's second and third arguments): read.
bool onlyProductOperand(Value address) {
  return llvm::all_of(address.getUses(), [](OpOperand &use) {
    Operation *user = use.getOwner();
    if (isa<arith::AddIOp>(user))
      return onlyProductOperand(user->getResult(0));
    auto call = dyn_cast<func::CallOp>(user);
    return call && call.getCallee() == ftc::gemm::kGemmSymbol &&
           (use.getOperandNumber() == 1 || use.getOperandNumber() == 2);
  });
}

/// Whether `use` may write its buffer (conservatively: anything but a read,
/// a view or a deallocation; an address taken for a library call, unless
/// only as a product's operand).
bool mayWrite(OpOperand &use) {
  Operation *user = use.getOwner();
  if (isView(user) || isa<memref::DeallocOp, memref::ExtractStridedMetadataOp>(user))
    return false;
  if (auto copy = dyn_cast<memref::CopyOp>(user))
    return use.get() == copy.getTarget();
  if (isa<memref::ExtractAlignedPointerAsIndexOp>(user))
    return !onlyProductOperand(user->getResult(0));
  return !readsThroughLayout(use);
}

/// The region of its allocation `value` views: a box (offsets, sizes) where
/// it is a static unit-stride subview of the allocation itself, reshaped
/// or not after; nothing (all of it) otherwise.
struct Footprint {
  Value root;
  std::optional<std::pair<SmallVector<int64_t>, SmallVector<int64_t>>> box;
  bool overlaps(const Footprint &other) const {
    if (root != other.root)
      return false;
    if (!box || !other.box)
      return true;
    for (size_t d = 0; d < box->first.size(); ++d) {
      int64_t a0 = box->first[d], a1 = a0 + box->second[d];
      int64_t b0 = other.box->first[d], b1 = b0 + other.box->second[d];
      if (a1 <= b0 || b1 <= a0)
        return false;
    }
    return true;
  }
};

Footprint footprintOf(Value value) {
  Footprint f{memref::skipViewLikeOps(cast<MemrefValue>(value)), std::nullopt};
  auto sub = ftc::cuda::beforeReshapes(value).getDefiningOp<memref::SubViewOp>();
  if (!sub || sub.getSource() != f.root || !sub.hasUnitStride() ||
      ShapedType::isDynamicShape(sub.getStaticOffsets()) ||
      ShapedType::isDynamicShape(sub.getStaticSizes()) ||
      sub.getStaticSizes().size() != sub.getStaticOffsets().size())
    return f;
  f.box = {llvm::to_vector(sub.getStaticOffsets()), llvm::to_vector(sub.getStaticSizes())};
  return f;
}

/// Every use of `root` and of the views made of it.
SmallVector<OpOperand *> usesThroughViews(Value root) {
  SmallVector<OpOperand *> uses;
  SmallVector<Value> work{root};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      uses.push_back(&use);
      if (isView(use.getOwner()))
        work.push_back(use.getOwner()->getResult(0));
    }
  }
  return uses;
}

/// The op of `block` that holds `op` (itself or an ancestor).
Operation *inBlock(Block *block, Operation *op) { return block->findAncestorOpInBlock(*op); }

/// Whether an op after `from` and before `to` (in their block; up to and
/// including `to` where `throughTo`) uses `region` (writes it, where
/// `writesOnly`).
bool touchedBetween(Operation *from, Operation *to, const Footprint &region, bool writesOnly,
                    bool throughTo = false) {
  for (OpOperand *use : usesThroughViews(region.root)) {
    Operation *at = inBlock(from->getBlock(), use->getOwner());
    if (!at || !from->isBeforeInBlock(at) || (to->isBeforeInBlock(at) || (at == to && !throughTo)))
      continue;
    if (isView(use->getOwner()) || isa<memref::DeallocOp>(use->getOwner()))
      continue;
    if (writesOnly && !mayWrite(*use))
      continue;
    if (footprintOf(use->get()).overlaps(region))
      return true;
  }
  return false;
}

/// The last op of the block (besides deallocations) using `root` or a view
/// of it; null if none.
Operation *lastUse(Block *block, Value root) {
  Operation *last = nullptr;
  for (OpOperand *use : usesThroughViews(root)) {
    if (isa<memref::DeallocOp>(use->getOwner()))
      continue;
    Operation *at = inBlock(block, use->getOwner());
    if (at && (!last || last->isBeforeInBlock(at)))
      last = at;
  }
  return last;
}

/// The ops that define `value` (views of an allocation, the allocation),
/// moved before `before` where they come after it; false where one has
/// other operands or is no such op.
bool defineBefore(Value value, Operation *before) {
  SmallVector<Operation *> chain;
  while (Operation *def = value.getDefiningOp()) {
    if (def->getBlock() != before->getBlock())
      return false;
    if (def->isBeforeInBlock(before))
      break;
    if (auto alloc = dyn_cast<memref::AllocOp>(def)) {
      if (!alloc.getDynamicSizes().empty() || !alloc.getSymbolOperands().empty())
        return false;
      chain.push_back(def);
      break;
    }
    if (!isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp>(def))
      return false;
    if (auto sub = dyn_cast<memref::SubViewOp>(def); sub && sub->getNumOperands() != 1)
      return false;
    chain.push_back(def);
    value = def->getOperand(0);
  }
  for (Operation *def : llvm::reverse(chain))
    def->moveBefore(before);
  return true;
}

/// The copy's destination read as a view of its source: the destination
/// is an allocation the copy alone writes, read only through layouts (or
/// the view has its very type), and the source is written by nothing while
/// the destination is read.
bool forwardSource(Copy &copy) {
  Block *block = copy.op->getBlock();
  auto dst = copy.dst.getDefiningOp<memref::AllocOp>();
  if (!dst || dst->getBlock() != block || !dst.getType().getLayout().isIdentity())
    return false;
  Value src = copy.src;
  // A plain copy: the destination becomes the source, of its very type; a
  // transpose: a transposed view of it (of any strides).
  bool sameType = copy.identity() && src.getType() == copy.dst.getType();
  if (copy.identity() && !sameType)
    return false;
  if (!copy.identity() && !cast<MemRefType>(src.getType()).getLayout().isIdentity() &&
      !isa<StridedLayoutAttr>(cast<MemRefType>(src.getType()).getLayout()))
    return false;
  // The destination's readers, through the views made of it too (a plain
  // copy's: the views stay, of the source): the last of them is where the
  // source must live to.
  Operation *last = nullptr;
  for (OpOperand *use : usesThroughViews(copy.dst)) {
    Operation *user = use->getOwner();
    if (user == copy.op || isa<memref::DeallocOp>(user))
      continue;
    Operation *at = inBlock(block, user);
    if (!at || !copy.op->isBeforeInBlock(at) ||
        (use->get() == copy.dst && !sameType && !readsThroughLayout(*use)))
      return false;
    if (isView(user))
      continue;
    if (mayWrite(*use))
      return false;
    if (!last || last->isBeforeInBlock(at))
      last = at;
  }
  if (!last)
    return false;
  Footprint source = footprintOf(src);
  if (touchedBetween(copy.op, last, source, /*writesOnly=*/true, /*throughTo=*/true))
    return false;
  OpBuilder b(copy.op);
  Value view = src;
  if (!copy.identity())
    view = memref::TransposeOp::create(
        b, copy.op->getLoc(), src,
        AffineMapAttr::get(AffineMap::getPermutationMap(copy.perm, b.getContext())));
  for (OpOperand &use : llvm::make_early_inc_range(copy.dst.getUses()))
    if (use.getOwner() != copy.op && !isa<memref::DeallocOp>(use.getOwner()))
      use.set(view);
  ftc::cuda::freeAfter(source.root, last);
  for (Operation *user : llvm::make_early_inc_range(copy.dst.getUsers()))
    if (isa<memref::DeallocOp>(user))
      user->erase();
  copy.op->erase();
  dst->erase();
  return true;
}

/// The copy's source written as a view of its destination: the source is
/// an allocation (read by the copy as it is or collapsed) that one op
/// writes, read after that only through layouts; nothing touches the
/// destination's region between that write and the copy, or writes it
/// while the source is read.
bool writeInPlace(Copy &copy) {
  Block *block = copy.op->getBlock();
  Value read = copy.src;
  auto collapse = read.getDefiningOp<memref::CollapseShapeOp>();
  if (collapse) {
    if (!copy.identity())
      return false;
    read = collapse.getSrc();
  }
  auto src = read.getDefiningOp<memref::AllocOp>();
  if (!src || src->getBlock() != block || !src.getType().getLayout().isIdentity())
    return false;
  // Its uses: the copy (through the collapse), deallocations, one writer
  // (a destination-style op), readers through layouts; directly or through
  // a transpose of it (an earlier rewrite's: a gradient written transposed).
  Operation *writer = nullptr;
  SmallVector<memref::TransposeOp> transposes;
  auto classify = [&](OpOperand &use) {
    Operation *user = use.getOwner();
    auto dps = dyn_cast<DestinationStyleOpInterface>(user);
    if (dps && dps.isDpsInit(&use) && user->getBlock() == block) {
      if (writer)
        return false;
      writer = user;
      return true;
    }
    return readsThroughLayout(use);
  };
  for (OpOperand &use : src->getUses()) {
    Operation *user = use.getOwner();
    if (user == collapse.getOperation() || isa<memref::DeallocOp>(user))
      continue;
    if (user == copy.op) // read as it is
      continue;
    if (auto t = dyn_cast<memref::TransposeOp>(user)) {
      transposes.push_back(t);
      for (OpOperand &inner : t->getUses())
        if (!classify(inner))
          return false;
      continue;
    }
    if (!classify(use))
      return false;
  }
  if (collapse && !collapse->hasOneUse())
    return false;
  if (!writer || !writer->isBeforeInBlock(copy.op))
    return false;
  for (OpOperand *use : usesThroughViews(src)) {
    Operation *at = inBlock(block, use->getOwner());
    if (at != writer && !isView(use->getOwner()) && !isa<memref::DeallocOp>(use->getOwner()) &&
        at && at->isBeforeInBlock(writer))
      return false;
  }
  Footprint target = footprintOf(copy.dst);
  if (touchedBetween(writer, copy.op, target, /*writesOnly=*/false))
    return false;
  Operation *last = lastUse(block, src);
  if (last && last != copy.op && copy.op->isBeforeInBlock(last) &&
      touchedBetween(copy.op, last, target, /*writesOnly=*/true, /*throughTo=*/true))
    return false;
  // The transposes of the source are made before the writer; the new view
  // goes before the first of them.
  Operation *before = writer;
  for (memref::TransposeOp t : transposes)
    if (t->isBeforeInBlock(before))
      before = t;
  if (!defineBefore(copy.dst, before))
    return false;
  OpBuilder b(before);
  Location loc = copy.op->getLoc();
  Value view = copy.dst;
  if (collapse) {
    view = memref::ExpandShapeOp::create(b, loc, src.getType().getShape(), view,
                                         collapse.getReassociationIndices());
  } else if (!copy.identity()) {
    SmallVector<int64_t> inverse(copy.perm.size());
    for (auto [i, p] : llvm::enumerate(copy.perm))
      inverse[p] = i;
    view = memref::TransposeOp::create(
        b, loc, view, AffineMapAttr::get(AffineMap::getPermutationMap(inverse, b.getContext())));
  }
  if (cast<MemRefType>(view.getType()).getShape() != src.getType().getShape()) {
    view.getDefiningOp()->erase();
    return false;
  }
  Operation *lastRead = last && copy.op->isBeforeInBlock(last) ? last : copy.op;
  copy.op->erase();
  if (collapse)
    collapse->erase();
  for (memref::TransposeOp t : transposes) {
    OpBuilder tb(t);
    Value moved = memref::TransposeOp::create(tb, t.getLoc(), view, t.getPermutationAttr());
    t.getResult().replaceAllUsesWith(moved);
    t->erase();
  }
  for (OpOperand &use : llvm::make_early_inc_range(src->getUses()))
    if (!isa<memref::DeallocOp>(use.getOwner()))
      use.set(view);
  for (Operation *user : llvm::make_early_inc_range(src->getUsers()))
    user->erase(); // the deallocations
  src->erase();
  if (lastRead != copy.op)
    ftc::cuda::freeAfter(target.root, lastRead);
  return true;
}

struct GpuElideCopiesPass : public ftc::impl::GpuElideCopiesBase<GpuElideCopiesPass> {
  void runOnOperation() override {
    getOperation().walk([](func::FuncOp func) {
      if (func.isExternal())
        return;
      for (bool changed = true; changed;) {
        changed = false;
        SmallVector<Copy> copies;
        for (Operation &op : func.getBody().front())
          if (std::optional<Copy> copy = asCopy(&op))
            copies.push_back(*copy);
        for (Copy &copy : copies) {
          if (forwardSource(copy) || writeInPlace(copy)) {
            changed = true;
            break; // the other copies' facts may have changed
          }
        }
      }
    });
  }
};

} // namespace
