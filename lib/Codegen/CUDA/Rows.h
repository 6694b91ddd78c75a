//===- Rows.h - Reductions along a row, for the CUDA passes ----*- C++ -*-===//
//
// Which reductions a warp per row runs (ftc-gpu-row-kernels), asked on
// tensors by ftc-gpu-split-reductions (which leaves them whole) and on
// buffers by ftc-gpu-row-kernels (which takes them): the same answer on
// both sides, or a reduction would be neither split nor taken. Internal to
// lib/Codegen/CUDA.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_LIB_CODEGEN_CUDA_ROWS_H
#define FTC_LIB_CODEGEN_CUDA_ROWS_H

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"

#include <optional>
#include <utility>

namespace ftc::cuda {

/// Rows fewer than this (a loss's mean over 8192 tokens: one row) stay
/// with ftc-gpu-split-reductions: a warp per row would leave the GPU idle.
constexpr int64_t kMinRows = 64;

/// The one op combining each element into `op`'s single output, and its
/// identity, or nulls.
inline std::pair<mlir::Operation *, mlir::TypedAttr> combinerOf(mlir::linalg::LinalgOp op) {
  llvm::SmallVector<mlir::Operation *> combiners;
  if (op.getNumDpsInits() != 1 ||
      !mlir::matchReduction(op.getRegionOutputArgs(), 0, combiners) || combiners.size() != 1)
    return {nullptr, nullptr};
  std::optional<mlir::TypedAttr> identity = mlir::arith::getNeutralElement(combiners.front());
  if (!identity)
    return {nullptr, nullptr};
  return {combiners.front(), *identity};
}

/// A type a warp's lanes exchange through a 32-bit shuffle (16-bit floats
/// extended to f32 and back: exact).
inline bool shuffles(mlir::Type type) {
  return type.isF32() || type.isInteger(32) || type.isBF16() || type.isF16();
}

/// Whether an input read along the row through `map` (the row loops its
/// first `outer` ones) reads a matrix each row rereads: it is indexed by
/// some of the row loops but not all (a product's weight). One indexed by
/// none (a layer norm's weight) is a vector every row reads.
inline bool rereadByRows(mlir::AffineMap map, unsigned outer) {
  unsigned rowDims = 0;
  for (unsigned d = 0; d < outer; ++d)
    rowDims += map.isFunctionOfDim(d);
  return rowDims != 0 && rowDims != outer;
}

/// The product of the first `outer` loop ranges (the rows), or nothing
/// where it is below kMinRows.
inline std::optional<int64_t> rowsOf(llvm::ArrayRef<int64_t> ranges, unsigned outer) {
  int64_t rows = 1;
  for (unsigned d = 0; d < outer; ++d)
    rows *= ranges[d];
  if (rows < kMinRows)
    return std::nullopt;
  return rows;
}

/// The rows of `op` if it is a reduction a warp per row runs: one output,
/// its only reduced dimension the last loop, every other loop a row
/// dimension the output is indexed by in order, a combiner with an
/// identity on a type lanes can exchange, static sizes, at least kMinRows
/// rows; no product (cuBLASLt's), nor a product in disguise: an input read
/// along the row by some of the row dimensions but not all (a matrix each
/// row would reread). One read by none (a layer norm's weight) is a vector
/// every row reads.
inline std::optional<int64_t> rowReduction(mlir::linalg::LinalgOp op) {
  using namespace mlir;
  if (op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1 ||
      linalg::isaContractionOpInterface(op) || op->getNumRegions() != 1)
    return std::nullopt;
  unsigned n = op.getNumLoops(), last = n - 1;
  if (op.getIteratorTypesArray()[last] != utils::IteratorType::reduction)
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  OpOperand *init = op.getDpsInitOperand(0);
  AffineMap out = op.getMatchingIndexingMap(init);
  if (out != AffineMap::getMultiDimIdentityMap(n, op.getContext()).dropResult(last))
    return std::nullopt;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.isFunctionOfDim(last) && rereadByRows(map, last))
      return std::nullopt;
  }
  if (!shuffles(getElementTypeOrSelf(init->get().getType())) || !combinerOf(op).first)
    return std::nullopt;
  return rowsOf(ranges, last);
}

/// The rows of `op` if it is the first half of a blocked row reduction
/// (the lowering's sums, LinalgBuilder::reduce): loops [rows..., reduced
/// blocks..., lanes], each output [rows..., lanes] summing its lane's
/// element of every block, which ftc-gpu-row-kernels runs along the row
/// (a warp's lanes over the row's lanes, each walking the blocks), at
/// least kMinRows rows; no product, as above.
inline std::optional<int64_t> rowPartials(mlir::linalg::LinalgOp op) {
  using namespace mlir;
  if (op.getNumReductionLoops() == 0 || linalg::isaContractionOpInterface(op) ||
      op->getNumRegions() != 1)
    return std::nullopt;
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  unsigned n = op.getNumLoops(), last = n - 1;
  unsigned outer = 0;
  while (outer < n && iterators[outer] == utils::IteratorType::parallel)
    ++outer;
  if (outer == 0 || iterators[last] != utils::IteratorType::parallel)
    return std::nullopt;
  for (unsigned d = outer; d < last; ++d)
    if (iterators[d] != utils::IteratorType::reduction)
      return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  SmallVector<AffineExpr> outExprs;
  for (unsigned d = 0; d < outer; ++d)
    outExprs.push_back(getAffineDimExpr(d, op.getContext()));
  outExprs.push_back(getAffineDimExpr(last, op.getContext()));
  AffineMap out = AffineMap::get(n, 0, outExprs, op.getContext());
  for (OpOperand &init : op.getDpsInitsMutable())
    if (op.getMatchingIndexingMap(&init) != out)
      return std::nullopt;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    bool alongRow = false;
    for (unsigned d = outer; d < n; ++d)
      alongRow |= map.isFunctionOfDim(d);
    if (!alongRow)
      continue;
    if (rereadByRows(map, outer))
      return std::nullopt;
  }
  return rowsOf(ranges, outer);
}

} // namespace ftc::cuda

#endif // FTC_LIB_CODEGEN_CUDA_ROWS_H
