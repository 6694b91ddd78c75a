//===- EarlyDealloc.cpp - Free buffers right after their last use --------===//
//
// MLIR's buffer deallocation frees what a block allocates at the end of the
// block. For a training step that is the end of the step: every temporary of
// the forward and backward pass would be live at once. This pass moves each
// dealloc up to the last use of its buffer (or of a view of it).
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace ftc {
#define GEN_PASS_DEF_EARLYDEALLOC
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// The last op of `block` that uses `buffer` or one of its views, directly
/// or inside its regions; null if nothing but `ignore` does. Any memref an
/// op that uses the buffer returns counts as a view (subviews, reshapes and
/// casts are; for anything else that is the safe assumption).
Operation *lastUse(Value buffer, Block *block, Operation *ignore) {
  Operation *last = nullptr;
  SmallVector<Value> worklist{buffer};
  llvm::SmallPtrSet<Value, 8> seen{buffer};
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    for (Operation *user : value.getUsers()) {
      if (user == ignore)
        continue;
      for (Value result : user->getResults())
        if (isa<BaseMemRefType>(result.getType()) && seen.insert(result).second)
          worklist.push_back(result);
      Operation *inBlock = block->findAncestorOpInBlock(*user);
      if (inBlock && (!last || last->isBeforeInBlock(inBlock)))
        last = inBlock;
    }
  }
  return last;
}

struct EarlyDealloc : ftc::impl::EarlyDeallocBase<EarlyDealloc> {
  void runOnOperation() override {
    SmallVector<memref::DeallocOp> deallocs;
    getOperation().walk([&](memref::DeallocOp op) { deallocs.push_back(op); });
    for (memref::DeallocOp dealloc : deallocs) {
      auto alloc = dealloc.getMemref().getDefiningOp<memref::AllocOp>();
      Block *block = dealloc->getBlock();
      if (!alloc || alloc->getBlock() != block)
        continue;
      Operation *last = lastUse(alloc, block, dealloc);
      Operation *after = last ? last : alloc.getOperation();
      if (after->isBeforeInBlock(dealloc))
        dealloc->moveAfter(after);
    }
  }
};

} // namespace
