//===- UnshareDestinations.cpp - One fresh destination per writer ---------===//
//
// CSE merges equal `tensor.empty`, `bufferization.alloc_tensor` and
// `linalg.fill` ops, so that one zero-filled tensor can become the
// destination of every product of a shape in the function: the forward's
// attention scores and the backward's recomputed ones. One-shot
// bufferization then gives one of those writers the buffer allocated where
// the shared tensor was defined, in place, and allocates (and copies) for
// the others; with its bottom-up heuristic the in-place writer is often the
// last, so a buffer allocated in the forward lives until the end of the
// backward, and the memory plan packs it for all that time.
//
// Here every reader of such a destination gets its own copy of the chain
// (allocation, reshapes, fill) right before it, in the block where the
// chain was defined: each buffer's lifetime starts where it is first
// written, and a shared zero tensor becomes one fill per writer instead of
// one fill and a copy per writer. Upstream has no such pass: its
// bufferization resolves a shared destination by copying it, at the
// allocation's original place.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"

namespace ftc {
#define GEN_PASS_DEF_UNSHAREDESTINATIONS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Whether `op` makes a new destination tensor from nothing but values that
/// are not tensors: an allocation, a reshape of one, or a fill of one.
bool isChainOp(Operation *op) {
  if (isa<tensor::EmptyOp>(op))
    return true;
  if (auto alloc = dyn_cast<bufferization::AllocTensorOp>(op))
    return !alloc.getCopy() && !alloc.getMemorySpace();
  Value source;
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    source = expand.getSrc();
  else if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
    source = collapse.getSrc();
  else if (auto fill = dyn_cast<linalg::FillOp>(op))
    source = fill.hasPureTensorSemantics() ? fill.getOutputs()[0] : Value();
  if (!source)
    return false;
  Operation *def = source.getDefiningOp();
  return def && def->getBlock() == op->getBlock() && isChainOp(def);
}

/// A copy of the chain that defines `value`, built at `builder`'s point.
Value materialize(Value value, OpBuilder &builder) {
  Operation *def = value.getDefiningOp();
  IRMapping mapping;
  for (Value operand : def->getOperands())
    if (Operation *producer = operand.getDefiningOp();
        producer && isa<RankedTensorType>(operand.getType()) && isChainOp(producer))
      mapping.map(operand, materialize(operand, builder));
  Operation *copy = builder.clone(*def, mapping);
  return copy->getResult(cast<OpResult>(value).getResultNumber());
}

struct UnshareDestinationsPass
    : public ftc::impl::UnshareDestinationsBase<UnshareDestinationsPass> {
  void runOnOperation() override {
    SmallVector<Operation *> chains;
    getOperation()->walk([&](Operation *op) {
      if (isChainOp(op))
        chains.push_back(op);
    });
    // Every use outside the chain gets its own copy, placed before the
    // user (or its ancestor in the chain's block).
    for (Operation *op : chains) {
      for (OpOperand &use : llvm::make_early_inc_range(op->getUses())) {
        Operation *user = op->getBlock()->findAncestorOpInBlock(*use.getOwner());
        if (!user || isChainOp(use.getOwner()))
          continue;
        OpBuilder builder(user);
        use.set(materialize(use.get(), builder));
      }
    }
    // The originals, now read by nothing but each other.
    for (Operation *op : llvm::reverse(chains))
      if (op->use_empty())
        op->erase();
  }
};

} // namespace
