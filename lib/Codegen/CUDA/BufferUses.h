//===- BufferUses.h - Who uses a buffer, for the CUDA passes ---*- C++ -*-===//
//
// Questions the CUDA target's passes on buffers ask of the ops around one
// (ftc-gpu-library-contractions, ftc-gpu-elide-copies, ftc-gpu-map-loops):
// whether an op uses a buffer at all, which buffer a reshape shows all the
// elements of, whether a fill comes right before an op; and a buffer's
// deallocation moved after a new last use. Internal to
// lib/Codegen/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_LIB_CODEGEN_CUDA_BUFFERUSES_H
#define FTC_LIB_CODEGEN_CUDA_BUFFERUSES_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace ftc::cuda {

/// Whether `op` (or an op in its regions) uses the buffer `root` or a view
/// of it: reads, writes, or takes its address.
inline bool touches(mlir::Operation *op, mlir::Value root) {
  mlir::WalkResult walk = op->walk([&](mlir::Operation *inner) {
    for (mlir::Value v : inner->getOperands())
      if (auto memref = mlir::dyn_cast<mlir::MemrefValue>(v);
          memref && mlir::memref::skipViewLikeOps(memref) == root)
        return mlir::WalkResult::interrupt();
    return mlir::WalkResult::advance();
  });
  return walk.wasInterrupted();
}

/// `value` without the reshapes (expand_shape, collapse_shape) it is made
/// by: the buffer whose elements, all of them, it views.
inline mlir::Value beforeReshapes(mlir::Value value) {
  while (mlir::isa_and_nonnull<mlir::memref::ExpandShapeOp, mlir::memref::CollapseShapeOp>(
      value.getDefiningOp()))
    value = value.getDefiningOp()->getOperand(0);
  return value;
}

/// The linalg.fill of `out` that comes before `op` in its block with
/// nothing between them using the buffer `out` views (views aside); with
/// `throughReshapes`, a fill of a reshape of the same elements counts too.
/// Null if there is none.
inline mlir::linalg::FillOp fillRightBefore(mlir::Operation *op, mlir::Value out,
                                            bool throughReshapes) {
  mlir::Value root = mlir::memref::skipViewLikeOps(mlir::cast<mlir::MemrefValue>(out));
  mlir::Value elements = throughReshapes ? beforeReshapes(out) : out;
  for (mlir::Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = mlir::dyn_cast<mlir::linalg::FillOp>(prev);
        fill && fill.hasPureBufferSemantics()) {
      mlir::Value filled = fill.getOutputs()[0];
      if ((throughReshapes ? beforeReshapes(filled) : filled) == elements)
        return fill;
    }
    // Views (a reshape of the filled buffer) neither read nor write.
    if (!mlir::isa<mlir::ViewLikeOpInterface>(prev) && touches(prev, root))
      return nullptr;
  }
  return nullptr;
}

/// `root`'s deallocation (in `after`'s block) moved after `after` where it
/// comes before it: for a pass that makes `after` use `root`, which was
/// freed after its last use before.
inline void freeAfter(mlir::Value root, mlir::Operation *after) {
  for (mlir::Operation *user : llvm::make_early_inc_range(root.getUsers()))
    if (auto dealloc = mlir::dyn_cast<mlir::memref::DeallocOp>(user);
        dealloc && dealloc->getBlock() == after->getBlock() && dealloc->isBeforeInBlock(after))
      dealloc->moveAfter(after);
}

} // namespace ftc::cuda

#endif // FTC_LIB_CODEGEN_CUDA_BUFFERUSES_H
