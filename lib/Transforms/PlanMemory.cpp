//===- PlanMemory.cpp - Every temporary at a fixed offset of one arena ----===//
//
// After bufferization and deallocation, each entry point allocates its
// temporaries with memref.alloc and frees them with memref.dealloc (right
// after the last use: optimize-allocation-liveness). This pass gives every such buffer
// a fixed byte offset in one workspace, so that a step allocates nothing:
// two buffers share bytes only when their lifetimes [alloc, dealloc] do not
// overlap. The workspace becomes one more ABI buffer (kind "workspace"),
// allocated once with the state; its size is known here, at compile time.
//
// Upstream has liveness analyses and passes that move deallocations
// (optimize-allocation-liveness) but no static placement of allocations
// into one buffer; this pass is that placement: greedy, largest first, each
// at the lowest offset free during its whole lifetime.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/DebugLog.h"

#define DEBUG_TYPE "ftc-plan-memory"

namespace ftc {
#define GEN_PASS_DEF_PLANMEMORY
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Offsets are multiples of a cache line.
constexpr int64_t kAlignment = 64;

/// A temporary: its allocation, its one deallocation, its lifetime in the
/// order of the function's top-level ops, and its place.
struct Temporary {
  memref::AllocOp alloc;
  memref::DeallocOp dealloc;
  int64_t begin, end, bytes, offset = -1;
};

int64_t bytesOf(MemRefType type) {
  // A byte per element below 8 bits (an i1 flag): the LLVM lowering's
  // storage of i1.
  return type.getNumElements() * llvm::divideCeil(type.getElementTypeBitWidth(), 8);
}

/// The last top-level op of `body` that uses `alloc`'s bytes: through views
/// of it, and through its address (a library call's operand), at any depth
/// (a kernel's body); its deallocations aside.
Operation *lastUser(Block &body, memref::AllocOp alloc) {
  Operation *last = nullptr;
  SmallVector<Value> work{alloc.getResult()};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (isa<memref::DeallocOp>(user))
        continue;
      if (Operation *at = body.findAncestorOpInBlock(*user);
          at && (!last || last->isBeforeInBlock(at)))
        last = at;
      // What carries the bytes on: a view, the address (and offsets of it).
      if (auto view = dyn_cast<ViewLikeOpInterface>(user); view && view.getViewSource() == v)
        llvm::append_range(work, user->getResults());
      else if (isa<memref::ExtractAlignedPointerAsIndexOp, arith::AddIOp, arith::IndexCastOp>(
                   user))
        llvm::append_range(work, user->getResults());
      else if (auto meta = dyn_cast<memref::ExtractStridedMetadataOp>(user))
        work.push_back(meta.getBaseBuffer());
    }
  }
  return last;
}

/// The temporaries of `func` the arena can hold: top-level allocations of
/// static, identity-layout buffers freed by exactly one top-level dealloc.
/// A buffer used after its deallocation (an earlier pass's error) fails:
/// the plan would hand its bytes to another buffer while it is read.
FailureOr<SmallVector<Temporary>> collectTemporaries(func::FuncOp func) {
  Block &body = func.getBody().front();
  llvm::DenseMap<Operation *, int64_t> position;
  int64_t index = 0;
  for (Operation &op : body)
    position[&op] = index++;
  SmallVector<Temporary> temporaries;
  for (auto alloc : body.getOps<memref::AllocOp>()) {
    MemRefType type = alloc.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity() ||
        !type.getElementType().isIntOrFloat() || (type.getElementTypeBitWidth() % 8 != 0 && type.getElementTypeBitWidth() != 1) ||
        type.getMemorySpace())
      continue;
    memref::DeallocOp dealloc;
    bool other = false;
    for (Operation *user : alloc->getUsers())
      if (auto d = dyn_cast<memref::DeallocOp>(user)) {
        other |= dealloc || d->getBlock() != &body;
        dealloc = d;
      }
    if (!dealloc || other)
      continue;
    if (Operation *last = lastUser(body, alloc); last && dealloc->isBeforeInBlock(last)) {
      InFlightDiagnostic diag =
          last->emitError("internal error: a buffer is used after its deallocation (ftc's "
                          "bug; please report it)");
      diag.attachNote(alloc.getLoc()) << "the buffer";
      diag.attachNote(dealloc.getLoc()) << "its deallocation";
      return failure();
    }
    temporaries.push_back({alloc, dealloc, position[alloc], position[dealloc],
                           static_cast<int64_t>(llvm::alignTo(bytesOf(type), kAlignment))});
  }
  return temporaries;
}

/// Places each temporary at the lowest offset not used by another one alive
/// at the same time, largest first; returns the bytes needed.
int64_t place(MutableArrayRef<Temporary> temporaries) {
  SmallVector<Temporary *> order;
  for (Temporary &t : temporaries)
    order.push_back(&t);
  llvm::stable_sort(order, [](Temporary *a, Temporary *b) {
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->begin < b->begin;
  });
  int64_t total = 0;
  SmallVector<Temporary *> placed;
  for (Temporary *t : order) {
    SmallVector<std::pair<int64_t, int64_t>> busy; // [offset, offset + bytes)
    for (Temporary *p : placed)
      if (p->begin <= t->end && t->begin <= p->end)
        busy.push_back({p->offset, p->offset + p->bytes});
    llvm::sort(busy);
    int64_t offset = 0;
    for (auto [lo, hi] : busy) {
      if (offset + t->bytes <= lo)
        break;
      offset = std::max(offset, hi);
    }
    t->offset = offset;
    total = std::max(total, offset + t->bytes);
    placed.push_back(t);
  }
  return total;
}

struct PlanMemoryPass : public ftc::impl::PlanMemoryBase<PlanMemoryPass> {
  using PlanMemoryBase::PlanMemoryBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto abi = module->getAttrOfType<ArrayAttr>("ftc.abi");
    if (!abi) {
      module.emitError("no buffer layout (ftc.abi): run ftc-bind-abi before ftc-plan-memory");
      return signalPassFailure();
    }
    SmallVector<std::pair<func::FuncOp, SmallVector<Temporary>>> plans;
    int64_t workspace = 0;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func->hasAttr("ftc.entry") || func.isExternal())
        continue;
      FailureOr<SmallVector<Temporary>> collected = collectTemporaries(func);
      if (failed(collected))
        return signalPassFailure();
      SmallVector<Temporary> temporaries = std::move(*collected);
      workspace = std::max(workspace, place(temporaries));
      LDBG() << func.getSymName() << ": " << temporaries.size() << " temporaries";
      plans.push_back({func, std::move(temporaries)});
    }

    // The workspace joins the layout; every entry point takes it last.
    OpBuilder b(module.getContext());
    auto bytes = std::max<int64_t>(workspace, kAlignment);
    SmallVector<Attribute> entries(abi.begin(), abi.end());
    entries.push_back(b.getDictionaryAttr(
        {b.getNamedAttr("kind", b.getStringAttr("workspace")),
         b.getNamedAttr("name", b.getStringAttr("workspace")),
         b.getNamedAttr("type", TypeAttr::get(RankedTensorType::get(
                                    {bytes}, b.getIntegerType(8))))}));
    module->setAttr("ftc.abi", b.getArrayAttr(entries));
    auto workspaceType = MemRefType::get({bytes}, b.getIntegerType(8));
    for (auto &[func, temporaries] : plans) {
      SmallVector<int64_t> indices(
          func->getAttrOfType<DenseI64ArrayAttr>("ftc.abi_indices").asArrayRef());
      indices.push_back(entries.size() - 1);
      func->setAttr("ftc.abi_indices", b.getDenseI64ArrayAttr(indices));
      if (failed(func.insertArgument(func.getNumArguments(), workspaceType, {},
                                     func.getLoc())))
        return signalPassFailure();
      Value arena = func.getArguments().back();
      for (Temporary &t : temporaries) {
        b.setInsertionPoint(t.alloc);
        Value offset = arith::ConstantIndexOp::create(b, t.alloc.getLoc(), t.offset);
        Value view = memref::ViewOp::create(b, t.alloc.getLoc(), t.alloc.getType(), arena,
                                            offset, ValueRange{});
        t.dealloc.erase();
        t.alloc.replaceAllUsesWith(view);
        t.alloc.erase();
      }
    }
    recordMemory(module, entries);
    if (failedHeap)
      signalPassFailure();
  }

  bool failedHeap = false;

  /// `ftc.memory` on the module: the bytes of the state's buffers by kind,
  /// and the allocations the plan could not place (made at run time).
  void recordMemory(ModuleOp module, ArrayRef<Attribute> entries) {
    llvm::StringMap<int64_t> bytes;
    for (auto entry : entries) {
      auto dict = cast<DictionaryAttr>(entry);
      auto type = cast<ShapedType>(cast<TypeAttr>(dict.get("type")).getValue());
      StringRef kind = cast<StringAttr>(dict.get("kind")).getValue();
      bytes[kind] += type.getNumElements() * type.getElementTypeBitWidth() / 8;
    }
    int64_t heap = 0;
    for (auto func : module.getOps<func::FuncOp>())
      if (func->hasAttr("ftc.entry"))
        func.walk([&](memref::AllocOp alloc) {
          ++heap;
          // On a GPU, such a buffer would be host memory that kernels use.
          if (!allowHeap) {
            alloc.emitError("the memory plan cannot place this buffer (a dynamic size, "
                            "or freed in a branch), and a GPU step cannot allocate");
            failedHeap = true;
          }
        });
    Builder b(module.getContext());
    SmallVector<NamedAttribute> fields;
    for (auto &entry : bytes)
      fields.push_back(b.getNamedAttr(entry.getKey(), b.getI64IntegerAttr(entry.getValue())));
    fields.push_back(b.getNamedAttr("heap_allocations", b.getI64IntegerAttr(heap)));
    module->setAttr("ftc.memory", b.getDictionaryAttr(fields));
  }
};

} // namespace
