//===- LinalgBuilder.h - shared builders of the train-to-linalg patterns --===//
//
// Internal to lib/Conversion/TrainToLinalg: the linalg forms every op family
// is built from (elementwise generics with numpy broadcasting, reductions
// in a blocked order, reshapes through a flat tensor), and the populate
// function of each family, which populateTrainToLinalgPatterns gathers.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_LIB_CONVERSION_TRAINTOLINALG_LINALGBUILDER_H
#define FTC_LIB_CONVERSION_TRAINTOLINALG_LINALGBUILDER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"

namespace ftc::train_to_linalg {

using mlir::ArrayRef;
using mlir::function_ref;

/// The patterns of each op family, one file each.
void populateElementwisePatterns(mlir::RewritePatternSet &patterns);
void populateReductionsPatterns(mlir::RewritePatternSet &patterns);
void populateContractionsPatterns(mlir::RewritePatternSet &patterns);
void populateDataMovementPatterns(mlir::RewritePatternSet &patterns);
void populateOptimizerUpdatesPatterns(mlir::RewritePatternSet &patterns);
void populateRandomPatterns(mlir::RewritePatternSet &patterns);

inline mlir::RankedTensorType tensorType(mlir::Value v) {
  return mlir::cast<mlir::RankedTensorType>(v.getType());
}

/// Rows of a tensor [..., D] as a matrix [R, D].
mlir::RankedTensorType asRows(mlir::Value v);

/// Converts a scalar between element types (PyTorch's Tensor.to semantics).
mlir::Value convertScalar(mlir::OpBuilder &b, mlir::Location l, mlir::Value v,
                          mlir::Type to);

/// Builds the linalg form of train ops at one location (a pattern's rewriter
/// at the op it replaces).
class LinalgBuilder {
public:
  LinalgBuilder(mlir::OpBuilder &b, mlir::Location loc) : b(b), loc(loc) {}

  /// A scalar constant of an integer or float type.
  mlir::Value scalar(mlir::Type type, double value);
  mlir::Value empty(mlir::RankedTensorType type);
  /// A tensor of `type` filled with `value` (linalg.fill).
  mlir::Value filled(mlir::RankedTensorType type, double value);

  /// The map reading a tensor of shape `in` while iterating over `out`
  /// (numpy broadcasting: right-aligned, size-1 dimensions pinned to 0).
  mlir::AffineMap broadcastMap(ArrayRef<int64_t> in, ArrayRef<int64_t> out);

  using Body =
      function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::ValueRange)>;

  /// An elementwise generic over `type` reading every input with numpy
  /// broadcasting; `body` maps the input scalars to the output scalar.
  mlir::Value elementwise(mlir::RankedTensorType type, mlir::ValueRange inputs,
                          Body body);
  /// The same over rows [R, C], reading also `perRow` (each [R]: one value
  /// per row, a row's max say) after `inputs`. No reshape to [R, 1] stands
  /// between the op computing a row's value and this one, so that they can
  /// be fused (ftc-cpu-tile-and-fuse).
  mlir::Value rowwise(mlir::RankedTensorType type, mlir::ValueRange inputs,
                      mlir::ValueRange perRow, Body body);

  using Combine = function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                            mlir::Value, mlir::Value)>;

  /// Reduces `input` over `dims` (strictly increasing) into a tensor without
  /// those dimensions, starting from `init` and folding with `combine`
  /// (accumulator, element) -> accumulator. `map` may transform each element
  /// first (it sees the input element and the `extraInputs`, which hold one
  /// value per output element, a row's max say). 16-bit floats accumulate in
  /// f32. `blocked` (for sums) folds in the blocked order LinalgBuilder.cpp
  /// describes, which keeps an f32 sum of N terms about as accurate as a sum
  /// of 2 sqrt(N) (PyTorch's sums are blocked too; a sequential f32 sum over
  /// 50257 logits is not accurate enough for the parity criterion).
  mlir::Value reduce(mlir::Value input, ArrayRef<int64_t> dims, double init,
                     Combine combine, mlir::ValueRange extraInputs = {}, Body map = {},
                     bool blocked = false);

  /// A blocked sum over `dims` (see reduce).
  mlir::Value sum(mlir::Value input, ArrayRef<int64_t> dims,
                  mlir::ValueRange extraInputs = {}, Body map = {});

  /// `input` converted elementwise to `elem`.
  mlir::Value convert(mlir::Value input, mlir::Type elem);

  /// The same elements in a new static shape (row-major order kept).
  mlir::Value reshape(mlir::Value input, mlir::RankedTensorType type);

  mlir::OpBuilder &b;
  mlir::Location loc;
};

} // namespace ftc::train_to_linalg

#endif // FTC_LIB_CONVERSION_TRAINTOLINALG_LINALGBUILDER_H
