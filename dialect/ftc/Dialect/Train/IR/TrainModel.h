//===- TrainModel.h - queries about a whole model ---------------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINMODEL_H
#define FTC_DIALECT_TRAIN_IR_TRAINMODEL_H

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace ftc::train {

/// The names of the `train.state`s: the number of updates taken (a
/// checkpoint's `optim.step`), and the dynamic loss scaling's scale and
/// growth tracker (GradScaler's `scale` and `_growth_tracker`).
inline constexpr llvm::StringLiteral kStepCounterName = "optim.step";
inline constexpr llvm::StringLiteral kLossScaleName = "grad_scaler.scale";
inline constexpr llvm::StringLiteral kGrowthTrackerName = "grad_scaler.growth_tracker";
/// The learning rate the caller sets between steps (role `setting`) and the
/// gradients' global norm a clipping step reports (role `report`).
inline constexpr llvm::StringLiteral kLearningRateName = "optim.lr";
inline constexpr llvm::StringLiteral kGradNormName = "optim.grad_norm";
/// The factor `apply` multiplies the gradients by (1/K after K accumulated
/// batches), a setting.
inline constexpr llvm::StringLiteral kGradScaleName = "optim.grad_scale";
/// Whether `apply` updates a trained parameter P: the setting
/// `optim.owned.P` (i64, 1 in a new state), which a sharded optimizer
/// (ZeRO stage 1) clears for the parameters other ranks update.
inline constexpr llvm::StringLiteral kOwnedName = "optim.owned";

/// The one func.func marked {train.loss}; reports on the module (no loss
/// function) or on the second one (more than one) otherwise.
llvm::FailureOr<mlir::func::FuncOp> findLossFunction(mlir::ModuleOp module);

/// The function marked with the unit attribute `name` (train.step, say), or
/// null when there is none.
mlir::func::FuncOp findMarkedFunction(mlir::ModuleOp module,
                                      llvm::StringRef name);

/// What a training step holds and computes, read from the module after
/// ftc-optimizer (the `ftc-training-step` pipeline): what `ftc --report`
/// prints, for this step and for full fine-tuning.
struct StepSummary {
  int64_t parameters = 0, trainable = 0;        // elements
  int64_t parameterBytes = 0, trainableBytes = 0;
  /// As stored: QLoRA's nf4 or bf16 bases in their storage's bytes.
  int64_t storedBytes = 0;
  int64_t slotBytes = 0;                        // optimizer state
  /// Matrix products (train.linear, train.matmul) of the backward pass:
  /// those of the gradient function less those of the loss function.
  int64_t backwardProducts = 0;
  double backwardFlops = 0;
  /// Forward products that read a frozen parameter: each has no dW product
  /// in the backward (as many FLOPs as the forward one).
  int64_t frozenProducts = 0;
  double frozenFlops = 0;
  /// Forward values the backward pass reads (autodiff's saved tensors): in
  /// the gradient function, those defined before the backward's seed and
  /// used after it. Parameters' 16-bit copies (autocast) apart.
  int64_t savedActivationBytes = 0;
  int64_t savedWeightCopyBytes = 0;
  /// Every copy of a parameter in another type that a step makes (bf16
  /// weights under --precision=bf16).
  int64_t weightCopyBytes = 0;
};
StepSummary summarizeStep(mlir::ModuleOp module);

/// Multiply-adds of a train.linear or train.matmul, times 2; 0 for other ops.
double productFlops(mlir::Operation *op);

} // namespace ftc::train

#endif // FTC_DIALECT_TRAIN_IR_TRAINMODEL_H
