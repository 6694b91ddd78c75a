//===- Pipelines.h - ftc's pass pipelines -----------------------*- C++ -*-===//
//
// Pipelines are C++ functions. `ftc-opt` registers them by name and `ftc`
// calls the same functions, so every compile can be replayed with ftc-opt
// (`ftc --dump-pipeline` prints the string).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_PIPELINES_PIPELINES_H
#define FTC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace ftc {

struct PipelineOptions : public mlir::PassPipelineOptions<PipelineOptions> {
  // The optimizer's settings are ftc-optimizer's options, declared there
  // once and handed to it as they are: `ftc-cpu{optimizer-options={lr=0.1}}`.
  Option<std::string> optimizerOptions{
      *this, "optimizer-options",
      llvm::cl::desc("Options of ftc-optimizer, as in "
                     "--ftc-optimizer='optimizer=sgd lr=0.1' (default: the "
                     "model's train.optimizer)"),
      llvm::cl::init("")};
  // ftc-lora's options, the same way: `ftc-cpu{lora-options={rank=8 targets=c_fc}}`.
  Option<std::string> loraOptions{
      *this, "lora-options",
      llvm::cl::desc("Options of ftc-lora, as in --ftc-lora='rank=8 targets=c_fc' "
                     "(default: the model's train.lora, else no adapters)"),
      llvm::cl::init("")};
  // ftc-autocast's, the same way: `ftc-cpu{autocast-options={precision=bf16}}`.
  Option<std::string> autocastOptions{
      *this, "autocast-options",
      llvm::cl::desc("Options of ftc-autocast, as in --ftc-autocast='precision=bf16' "
                     "(default: the model's train.precision, else fp32)"),
      llvm::cl::init("")};
  // ftc-loss-scale's: `ftc-cpu{loss-scale-options={loss-scale-growth-interval=100}}`.
  Option<std::string> lossScaleOptions{
      *this, "loss-scale-options",
      llvm::cl::desc("Options of ftc-loss-scale, as in --ftc-loss-scale='loss-scale=dynamic' "
                     "(default: dynamic loss scaling for fp16, none otherwise)"),
      llvm::cl::init("")};
  // ftc-remat's: `ftc-cpu{remat-options={policy=blocks}}`.
  Option<std::string> rematOptions{
      *this, "remat-options",
      llvm::cl::desc("Options of ftc-remat, as in --ftc-remat='policy=blocks' "
                     "(default: keep every saved value)"),
      llvm::cl::init("")};
  Option<bool> checkNumerics{
      *this, "check-numerics",
      llvm::cl::desc("Check every op of the forward and backward for infs and NaNs "
                     "(ftc-check-numerics; a debugging mode)"),
      llvm::cl::init(false)};
  Option<std::string> cpuIsa{
      *this, "cpu-isa",
      llvm::cl::desc("Vector instruction set the CPU code is tiled for: avx512bf16, "
                     "avx512, avx2 or generic (default: this host's)"),
      llvm::cl::init("")};
};

/// Reports why a pipeline cannot be built; returns failure.
using ErrorHandler = llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)>;

/// The model-level stages that precede autodiff: verification.
void buildFrontendPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Frontend, LoRA, autodiff and the optimizer: the training step in train
/// ops. Fails, through `errorHandler`, on options ftc-lora or ftc-optimizer
/// rejects.
mlir::LogicalResult buildTrainingStepPipeline(mlir::OpPassManager &pm,
                                              const PipelineOptions &options,
                                              ErrorHandler errorHandler);

/// From the training step in train ops to the LLVM dialect for the CPU; with
/// `untilMemoryPlan`, only as far as the memory plan (`ftc.memory`).
void buildCpuCodegenPipeline(mlir::OpPassManager &pm, const PipelineOptions &options,
                             bool untilMemoryPlan = false);

/// The whole compile for the CPU: training step, then codegen.
mlir::LogicalResult buildCpuPipeline(mlir::OpPassManager &pm,
                                     const PipelineOptions &options,
                                     ErrorHandler errorHandler, bool untilMemoryPlan = false);

/// Registers the pipelines above: --ftc-frontend, --ftc-training-step,
/// --ftc-cpu-codegen and --ftc-cpu.
void registerPipelines();

} // namespace ftc

#endif // FTC_PIPELINES_PIPELINES_H
