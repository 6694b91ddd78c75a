//===- ShapeInference.h - shape rules of the train ops ----------*- C++ -*-===//
//
// One function per shape rule, shared by the op verifiers (which pass an
// `emitError` that reports on the op) and the builders (which pass none and
// require valid operands). Shapes are static: every size is known.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_DIALECT_TRAIN_IR_SHAPEINFERENCE_H
#define FTC_DIALECT_TRAIN_IR_SHAPEINFERENCE_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>

namespace ftc::train {

/// Reports a problem; null when the caller wants failure without a message.
using EmitErrorFn = llvm::function_ref<mlir::InFlightDiagnostic()>;
using Shape = llvm::SmallVector<int64_t, 4>;

/// "[4, 5]": a shape as PyTorch prints it.
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// numpy / PyTorch broadcasting of two shapes.
llvm::FailureOr<Shape> broadcastShapes(llvm::ArrayRef<int64_t> lhs,
                                       llvm::ArrayRef<int64_t> rhs,
                                       EmitErrorFn emitError = {});

/// The shape left after reducing `dims` (strictly increasing, in range,
/// at least one), keeping them as size 1 when `keepdim`.
llvm::FailureOr<Shape> reduceShape(llvm::ArrayRef<int64_t> shape,
                                   llvm::ArrayRef<int64_t> dims, bool keepdim,
                                   EmitErrorFn emitError = {});

/// result[i] = shape[permutation[i]].
llvm::FailureOr<Shape> transposeShape(llvm::ArrayRef<int64_t> shape,
                                      llvm::ArrayRef<int64_t> permutation,
                                      EmitErrorFn emitError = {});

/// Batched matrix product of equal-rank operands with equal batch dimensions.
llvm::FailureOr<Shape> matmulShape(llvm::ArrayRef<int64_t> lhs,
                                   llvm::ArrayRef<int64_t> rhs,
                                   bool transposeLhs, bool transposeRhs,
                                   EmitErrorFn emitError = {});

/// Attention: q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with equal
/// leading dimensions -> [..., Tq, Dv]; `causal` needs Tq = Tk.
llvm::FailureOr<Shape> attentionShape(llvm::ArrayRef<int64_t> query,
                                      llvm::ArrayRef<int64_t> key,
                                      llvm::ArrayRef<int64_t> value, bool causal,
                                      EmitErrorFn emitError = {});

/// input [..., in], weight [out, in], bias [out] -> [..., out].
llvm::FailureOr<Shape>
linearShape(llvm::ArrayRef<int64_t> input, llvm::ArrayRef<int64_t> weight,
            std::optional<llvm::ArrayRef<int64_t>> bias,
            EmitErrorFn emitError = {});

/// Checks logits [N..., C] against labels [N...].
llvm::LogicalResult verifyCrossEntropyShapes(llvm::ArrayRef<int64_t> logits,
                                             llvm::ArrayRef<int64_t> labels,
                                             EmitErrorFn emitError = {});

/// Result types for builders; the operands must be valid for the rule.
mlir::RankedTensorType inferBroadcastType(mlir::Value lhs, mlir::Value rhs);
mlir::RankedTensorType inferReduceType(mlir::Value input,
                                       llvm::ArrayRef<int64_t> dims,
                                       bool keepdim);
mlir::RankedTensorType inferTransposeType(mlir::Value input,
                                          llvm::ArrayRef<int64_t> permutation);
mlir::RankedTensorType inferMatmulType(mlir::Value lhs, mlir::Value rhs,
                                       bool transposeLhs, bool transposeRhs);

} // namespace ftc::train

#endif // FTC_DIALECT_TRAIN_IR_SHAPEINFERENCE_H
