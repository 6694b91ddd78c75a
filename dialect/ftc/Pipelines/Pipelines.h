//===- Pipelines.h - ftc's pass pipelines -----------------------*- C++ -*-===//
//
// Pipelines are C++ functions. `ftc-opt` registers them by name and `ftc`
// calls the same functions, so every compile can be replayed with ftc-opt
// (`ftc --dump-pipeline` prints the string).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_PIPELINES_PIPELINES_H
#define FTC_PIPELINES_PIPELINES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

#include <optional>
#include <string>
#include <utility>

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
  // The target of code generation, and for cuda the GPU's.
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("cpu or cuda (default: cpu)"), llvm::cl::init("cpu")};
  Option<std::string> cudaChip{
      *this, "cuda-chip",
      llvm::cl::desc("The NVIDIA GPU the kernels are compiled for (default: sm_90)"),
      llvm::cl::init("sm_90")};
  Option<std::string> cudaFeatures{
      *this, "cuda-features",
      llvm::cl::desc("The PTX ISA version, as an NVPTX feature (default: +ptx78)"),
      llvm::cl::init("+ptx78")};
  Option<std::string> cudaFormat{
      *this, "cuda-format",
      llvm::cl::desc("What step.so embeds: isa (PTX, compiled by the driver when "
                     "loaded) or bin (a cubin, compiled by ptxas from cuda-toolkit)"),
      llvm::cl::init("isa")};
  Option<std::string> cudaToolkit{
      *this, "cuda-toolkit",
      llvm::cl::desc("The CUDA toolkit whose ptxas makes cubins and whose libdevice "
                     "the kernels link (default: /usr/local/cuda)"),
      llvm::cl::init("/usr/local/cuda")};
  Option<std::string> cudaProducts{
      *this, "cuda-products",
      llvm::cl::desc("How the matrix products run on the GPU: cublaslt (calls to "
                     "cuBLASLt, ftc-gpu-library-contractions) or kernels (generated, "
                     "one thread per result element)"),
      llvm::cl::init("cublaslt")};
  Option<std::string> cudaAttention{
      *this, "cuda-attention",
      llvm::cl::desc("How 16-bit attention runs on the GPU: fused (one kernel per "
                     "pass, the scores in registers: ftc-gpu-fuse-attention) or "
                     "unfused (products and softmax kernels, the scores in memory)"),
      llvm::cl::init("fused")};
  Option<std::string> cudaBias{
      *this, "cuda-bias",
      llvm::cl::desc("How a linear layer's bias is added on the GPU: epilogue (by "
                     "cuBLASLt, in the product: CUBLASLT_EPILOGUE_BIAS) or kernel (a "
                     "kernel broadcasts it into the result, which the product adds to)"),
      llvm::cl::init("epilogue")};
  Option<std::string> cudaGelu{
      *this, "cuda-gelu",
      llvm::cl::desc("How a GELU (tanh) after a product and its gradient run on the GPU: "
                     "epilogue (by cuBLASLt, in the product: CUBLASLT_EPILOGUE_GELU_AUX, "
                     "DGELU) or kernel"),
      llvm::cl::init("epilogue")};
  Option<bool> cudaEmulate{
      *this, "cuda-emulate",
      llvm::cl::desc("Compile the CUDA target's kernels for this CPU, run one thread "
                     "after another (a test of the mapping without a GPU)"),
      llvm::cl::init(false)};
  // A part of the pipeline, by stage (getStages): `ftc-cpu{start-at=after-autodiff}`.
  Option<std::string> startAt{
      *this, "start-at",
      llvm::cl::desc("The input is the IR after this stage: run the stages after it "
                     "(default: input, the model as written)"),
      llvm::cl::init("input")};
  Option<std::string> stopAfter{
      *this, "stop-after",
      llvm::cl::desc("Run the stages up to this one and stop (default: llvm, the end)"),
      llvm::cl::init("llvm")};
};

/// Copies the options of the passes (all but the range of stages).
void copyPassOptions(const PipelineOptions &from, PipelineOptions &to);

/// Copies the target and its --cuda-* settings (not the CPU's ISA).
void copyTargetOptions(const PipelineOptions &from, PipelineOptions &to);

/// Reports why a pipeline cannot be built; returns failure.
using ErrorHandler = llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)>;

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

/// A named point of the CPU pipeline. The IR after a stage is what
/// `ftc --stop-after=NAME` writes and `ftc --start-at=NAME` reads; textual
/// pipelines run there with `ftc --insert-pass=NAME:PIPELINE`. The names
/// are stable: scripts and tests use them.
struct Stage {
  llvm::StringRef name;
  /// One line: what the IR after this stage is.
  llvm::StringRef description;
};

/// In pipeline order; the first is `input`, the model as written (nothing
/// run), the last `llvm`, the LLVM dialect.
llvm::ArrayRef<Stage> getStages();

/// The index of a stage in getStages(), or nullopt.
std::optional<unsigned> lookupStage(llvm::StringRef name);

/// Module attributes of IR written at a stage (ftc --stop-after): the
/// stage's name and the pass options of the compile, for the stages after.
constexpr llvm::StringLiteral kStageAttrName = "ftc.stage";
constexpr llvm::StringLiteral kStageOptionsAttrName = "ftc.stage_options";

/// The stage `module` looks like it comes from, when that is later than
/// `input`, with the reason (its ftc.stage, else what it holds: LLVM
/// dialect functions, buffers, linalg ops, optimizer ops, a gradient
/// function); nullopt for a model.
std::optional<std::pair<unsigned, std::string>> detectStage(mlir::ModuleOp module);

/// A textual pass pipeline run after a stage (ftc --insert-pass).
struct Insertion {
  unsigned stage;
  std::string pipeline;
};

/// The stages after options.startAt up to options.stopAfter, with the
/// insertions after theirs (those after startAt first). Fails, through
/// `errorHandler`, on an unknown stage, an empty range, options a pass
/// rejects or a pipeline that does not parse.
mlir::LogicalResult buildStages(mlir::OpPassManager &pm, const PipelineOptions &options,
                                ErrorHandler errorHandler,
                                llvm::ArrayRef<Insertion> insertions = {});

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
