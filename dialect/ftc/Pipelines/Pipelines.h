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
  Option<std::string> optimizer{*this, "optimizer",
                                llvm::cl::desc("adamw or sgd (default: the "
                                               "model's, else adamw)"),
                                llvm::cl::init("")};
  Option<double> lr{*this, "lr", llvm::cl::desc("learning rate"), llvm::cl::init(-1.0)};
  Option<double> beta1{*this, "beta1", llvm::cl::desc("AdamW beta1"), llvm::cl::init(-1.0)};
  Option<double> beta2{*this, "beta2", llvm::cl::desc("AdamW beta2"), llvm::cl::init(-1.0)};
  Option<double> eps{*this, "eps", llvm::cl::desc("AdamW epsilon"), llvm::cl::init(-1.0)};
  Option<double> weightDecay{*this, "weight-decay", llvm::cl::desc("weight decay"),
                             llvm::cl::init(-1.0)};
  Option<double> momentum{*this, "momentum", llvm::cl::desc("SGD momentum"),
                          llvm::cl::init(-1.0)};
  Option<double> dampening{*this, "dampening", llvm::cl::desc("SGD dampening"),
                           llvm::cl::init(-1.0)};
  Option<std::string> nesterov{*this, "nesterov",
                               llvm::cl::desc("SGD Nesterov momentum: true or false"),
                               llvm::cl::init("")};
  Option<std::string> cpuIsa{
      *this, "cpu-isa",
      llvm::cl::desc("Vector instruction set the CPU code is tiled for: avx512, "
                     "avx2 or generic (default: this host's)"),
      llvm::cl::init("")};
};

/// The model-level stages that precede autodiff: verification.
void buildFrontendPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Frontend, autodiff and the optimizer: the training step in train ops.
void buildTrainingStepPipeline(mlir::OpPassManager &pm,
                               const PipelineOptions &options);

/// From the training step in train ops to the LLVM dialect for the CPU.
void buildCpuCodegenPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// The whole compile for the CPU: training step, then codegen.
void buildCpuPipeline(mlir::OpPassManager &pm, const PipelineOptions &options);

/// Registers the pipelines above: --ftc-frontend, --ftc-training-step,
/// --ftc-cpu-codegen and --ftc-cpu.
void registerPipelines();

} // namespace ftc

#endif // FTC_PIPELINES_PIPELINES_H
