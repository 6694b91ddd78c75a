//===- Vectors.h - 16-byte accesses of the CUDA kernels --------*- C++ -*-===//
//
// Where a kernel may read and write several neighbouring elements as one
// vector of up to 16 bytes (ftc-gpu-map-loops' elementwise kernels,
// ftc-gpu-row-kernels' ops along a row): a GPU thread's single 2- or
// 4-byte accesses leave most of its memory bandwidth unused. Internal to
// lib/Codegen/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_LIB_CODEGEN_CUDA_VECTORS_H
#define FTC_LIB_CODEGEN_CUDA_VECTORS_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/DenseSet.h"

#include <algorithm>

namespace ftc::cuda {

/// The arguments of an entry point's function that are the step's inputs
/// (`ftc.abi_indices` into the module's `ftc.abi`); every argument where
/// those are missing. An input is the caller's memory, of an alignment
/// nobody promised.
inline llvm::DenseSet<mlir::Value> inputArguments(mlir::func::FuncOp func) {
  llvm::DenseSet<mlir::Value> found;
  auto indices = func->getAttrOfType<mlir::DenseI64ArrayAttr>("ftc.abi_indices");
  auto module = func->getParentOfType<mlir::ModuleOp>();
  auto abi = module ? module->getAttrOfType<mlir::ArrayAttr>("ftc.abi") : nullptr;
  for (mlir::BlockArgument arg : func.getArguments()) {
    bool input = true;
    if (indices && abi && arg.getArgNumber() < indices.size()) {
      int64_t i = indices[arg.getArgNumber()];
      auto entry = i >= 0 && i < static_cast<int64_t>(abi.size())
                       ? mlir::dyn_cast<mlir::DictionaryAttr>(abi[i])
                       : nullptr;
      auto kind = entry ? entry.getAs<mlir::StringAttr>("kind") : nullptr;
      input = !kind || kind.getValue() == "input";
    }
    if (input)
      found.insert(arg);
  }
  return found;
}

/// The buffers of one function a kernel of it may access as vectors: its
/// allocations (which start on 64 bytes: ftc-plan-memory) and its
/// arguments but the inputs (the state's buffers, laid out the same way).
struct VectorBuffers {
  explicit VectorBuffers(mlir::func::FuncOp func)
      : entry(&func.getBody().front()), inputs(inputArguments(func)) {}

  /// Whether `memref` (a buffer or a view of one, as a kernel uses it) is
  /// read and written `width` elements at a time along its last dimension
  /// at indices multiple of `width`: unit stride there, the other strides
  /// and the offset multiples of `width`, on a buffer of this function
  /// that starts on 64 bytes. The vector's alignment in bytes, or 0. (The
  /// indices stay within the dimension: the caller's loop bounds.)
  int64_t alignment(mlir::Value memref, int64_t width) const {
    auto type = mlir::dyn_cast<mlir::MemRefType>(memref.getType());
    if (!type || type.getRank() == 0 || !type.getElementType().isIntOrFloat())
      return 0;
    mlir::Value root = mlir::memref::skipViewLikeOps(mlir::cast<mlir::MemrefValue>(memref));
    if (!root.getDefiningOp<mlir::memref::AllocOp>() &&
        !(mlir::isa<mlir::BlockArgument>(root) && !inputs.contains(root) &&
          mlir::cast<mlir::BlockArgument>(root).getOwner() == entry))
      return 0;
    llvm::SmallVector<int64_t> strides;
    int64_t offset;
    if (mlir::failed(type.getStridesAndOffset(strides, offset)) || strides.back() != 1 ||
        mlir::ShapedType::isDynamic(offset) || offset % width != 0)
      return 0;
    for (int64_t stride : llvm::ArrayRef<int64_t>(strides).drop_back())
      if (mlir::ShapedType::isDynamic(stride) || stride % width != 0)
        return 0;
    int64_t bits = type.getElementTypeBitWidth();
    if (bits % 8 != 0)
      return 0;
    return std::min<int64_t>(16, width * bits / 8);
  }

  mlir::Block *entry; ///< the function's entry block, whose arguments are its buffers
  llvm::DenseSet<mlir::Value> inputs;
};

/// Elements per vector: 8 where every vector is of a 16-bit type, else 4
/// (16 bytes of f32, 8 of bf16).
constexpr int64_t kVectorWidths[] = {8, 4};

} // namespace ftc::cuda

#endif // FTC_LIB_CODEGEN_CUDA_VECTORS_H
