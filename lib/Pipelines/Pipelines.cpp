//===- Pipelines.cpp - ftc's pass pipelines -------------------------------===//

#include "ftc/Pipelines/Pipelines.h"

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Conversion/Passes.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;
namespace train = ftc::train;

void ftc::buildFrontendPipeline(OpPassManager &pm, const PipelineOptions &) {
  pm.addPass(createVerifyModel());
}

//===----------------------------------------------------------------------===//
// Stages
//===----------------------------------------------------------------------===//

namespace {

bool isCuda(const ftc::PipelineOptions &options);

/// ftc-optimizer's options: the user's; on CUDA, which has no sharded
/// optimizer yet, apply's updates unguarded (a guarded one would be a
/// one-thread kernel there).
std::string optimizerOptions(const ftc::PipelineOptions &options) {
  std::string text = options.optimizerOptions;
  if (isCuda(options))
    text += " guard-updates=false";
  return text;
}

/// ftc-remat's options: on the GPU, 16-bit attention runs as fused
/// kernels, which its memory model follows.
std::string rematOptions(const ftc::PipelineOptions &options) {
  std::string text = options.rematOptions;
  if (isCuda(options) && options.cudaAttention == "fused")
    text += " fused-attention=true";
  return text;
}

/// The passes that check their options when the pipeline is built.
struct CheckedPasses {
  std::unique_ptr<Pass> lora, autocast, remat, optimizer, lossScale;

  LogicalResult create(const ftc::PipelineOptions &options, ftc::ErrorHandler errorHandler) {
    auto make = [&](std::unique_ptr<Pass> &pass, std::unique_ptr<Pass> created,
                    StringRef text) {
      pass = std::move(created);
      return pass->initializeOptions(text, errorHandler);
    };
    return success(succeeded(make(lora, ftc::createLora(), options.loraOptions)) &&
                   succeeded(make(autocast, ftc::createAutocast(), options.autocastOptions)) &&
                   succeeded(make(remat, ftc::createRemat(), rematOptions(options))) &&
                   succeeded(make(optimizer, ftc::createOptimizer(), optimizerOptions(options))) &&
                   succeeded(make(lossScale, ftc::createLossScale(), options.lossScaleOptions)));
  }
};

using StageBuilder = void (*)(OpPassManager &, const ftc::PipelineOptions &, CheckedPasses &);

struct StageDefinition {
  ftc::Stage stage;
  StageBuilder build;
};

void buildInline(OpPassManager &pm, const ftc::PipelineOptions &options, CheckedPasses &) {
  ftc::buildFrontendPipeline(pm, options);
  pm.addPass(createInlinerPass());
}

void buildLora(OpPassManager &pm, const ftc::PipelineOptions &, CheckedPasses &passes) {
  // Adapters where the options or the model's train.lora ask for them; a
  // no-op otherwise.
  pm.addPass(std::move(passes.lora));
}

void buildAutocast(OpPassManager &pm, const ftc::PipelineOptions &, CheckedPasses &passes) {
  // 16-bit products where bf16 or fp16 is asked for; the backward follows.
  pm.addPass(std::move(passes.autocast));
}

void buildAutodiff(OpPassManager &pm, const ftc::PipelineOptions &, CheckedPasses &) {
  pm.addPass(ftc::createAutodiff());
}

void buildRemat(OpPassManager &pm, const ftc::PipelineOptions &, CheckedPasses &passes) {
  // Gradient checkpointing where asked for; a no-op otherwise. On the
  // gradient function as later stages see it (autodiff leaves duplicate
  // fills and scalars), so that ftc-remat's memory model is the plan's.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(std::move(passes.remat));
}

void buildOptimizer(OpPassManager &pm, const ftc::PipelineOptions &options,
                    CheckedPasses &passes) {
  pm.addPass(std::move(passes.optimizer));
  // fp16's dynamic loss scaling (or where asked for); a no-op otherwise.
  pm.addPass(std::move(passes.lossScale));
  // --check-numerics: the first op that made an inf or a NaN, reported.
  if (options.checkNumerics)
    pm.addPass(ftc::createCheckNumerics());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

bool isCuda(const ftc::PipelineOptions &options) { return options.target == "cuda"; }

void buildLowering(OpPassManager &pm, const ftc::PipelineOptions &options, CheckedPasses &) {
  pm.addPass(ftc::createBindAbi());
  // On the GPU, 16-bit attention stays whole for its fused kernels.
  if (isCuda(options) && options.cudaAttention == "fused")
    pm.addNestedPass<func::FuncOp>(ftc::createGpuFuseAttention());
  pm.addNestedPass<func::FuncOp>(ftc::createExpandComposites());
  pm.addNestedPass<func::FuncOp>(ftc::createConvertTrainToLinalg());
}

void buildTiling(OpPassManager &pm, const ftc::PipelineOptions &options, CheckedPasses &) {
  // The matrix products, packed, tiled and vectorized for the CPU's vector
  // registers; before elementwise fusion, which would fold reshapes into
  // them and give them several m or n dimensions.
  if (!isCuda(options)) {
    ftc::CpuTileContractionsOptions tiles;
    tiles.isa = options.cpuIsa.empty() ? ftc::cpu::hostIsa() : std::string(options.cpuIsa);
    pm.addNestedPass<func::FuncOp>(ftc::createCpuTileContractions(tiles));
  }
  // Upstream elementwise ops a model used on tensors (arith.addf, math.exp),
  // as linalg ops on their elements: the math below applies to those too
  // (upstream's approximations assume scalars or vectors).
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  // Math on bf16 and f16 (a GELU under --precision=bf16) computed in f32,
  // where the approximations below apply, and rounded back.
  pm.addNestedPass<func::FuncOp>(math::createMathExtendToSupportedTypes());
  // tanh, exp and erf as arithmetic that vectorizes, not libm calls.
  pm.addNestedPass<func::FuncOp>(ftc::createApproximateMath());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // Elementwise fusion; on the GPU it leaves products whole (cuBLASLt's).
  if (isCuda(options))
    pm.addPass(ftc::createGpuFuseElementwise());
  else
    pm.addPass(createLinalgElementwiseOpFusionPass());
  // On the GPU, each op is mapped to a kernel after bufferization; each
  // product's zero-filled destination its own (a fill the product's call
  // drops, not a copy of a shared one).
  if (isCuda(options)) {
    // Reductions shared by more threads (columns, or a few long rows);
    // the other rows are a warp's each (ftc-gpu-row-kernels).
    pm.addNestedPass<func::FuncOp>(ftc::createGpuSplitReductions());
    pm.addNestedPass<func::FuncOp>(ftc::createUnshareDestinations());
    // Rows of 16 bytes for cuBLASLt's products (gpt2's 50257 logits).
    if (options.cudaProducts == "cublaslt")
      pm.addNestedPass<func::FuncOp>(ftc::createGpuPadProducts());
    return;
  }
  // What is left, in parallel blocks with its producers fused: one pass
  // over memory per row of a softmax, layer norm or cross-entropy.
  // No canonicalization between it and bufferization: it would drop the
  // unused results of the blocks, through which each block writes its
  // temporaries in place.
  pm.addNestedPass<func::FuncOp>(ftc::createCpuTileAndFuse());
  pm.addPass(createCSEPass());
  // CSE's shared destinations undone: each buffer allocated where it is
  // first written, not where CSE left the first of its equals.
  pm.addNestedPass<func::FuncOp>(ftc::createUnshareDestinations());
}

void buildBufferize(OpPassManager &pm, const ftc::PipelineOptions &options, CheckedPasses &) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  pm.addPass(createCanonicalizerPass());
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  // Each buffer freed right after its last use: the lifetimes the memory
  // plan packs.
  pm.addNestedPass<func::FuncOp>(bufferization::createOptimizeAllocationLivenessPass());
  // On the GPU: the products as cuBLASLt calls, every other op on buffers
  // in a kernel (gpu.launch), before the memory plan places the scalars the
  // kernels pass on.
  if (isCuda(options)) {
    if (options.cudaProducts == "cublaslt") {
      ftc::GpuLibraryContractionsOptions products;
      products.biasEpilogue = options.cudaBias == "epilogue";
      products.geluEpilogue = options.cudaGelu == "epilogue";
      pm.addPass(ftc::createGpuLibraryContractions(products));
    }
    // Layout changes (attention's transposes, a product's copied result)
    // read or written in place.
    pm.addPass(ftc::createGpuElideCopies());
    ftc::GpuAttentionKernelsOptions attention;
    attention.emulate = options.cudaEmulate;
    pm.addPass(ftc::createGpuAttentionKernels(attention));
    // A layer norm's, a softmax's, a cross-entropy's ops: a warp per row.
    ftc::GpuRowKernelsOptions rows;
    rows.emulate = options.cudaEmulate;
    pm.addPass(ftc::createGpuRowKernels(rows));
    pm.addPass(ftc::createGpuMapLoops());
    // Independent neighbouring kernels (the optimizer's updates) as one.
    pm.addPass(ftc::createGpuFuseLaunches());
  }
}

void buildMemoryPlan(OpPassManager &pm, const ftc::PipelineOptions &options,
                     CheckedPasses &) {
  // Temporaries at fixed offsets of one workspace: a step allocates nothing
  // (on a GPU, must not: what the plan cannot place is an error).
  ftc::PlanMemoryOptions plan;
  plan.allowHeap = !isCuda(options);
  pm.addPass(ftc::createPlanMemory(plan));
  // On the CPU, the runtime told as each gradient becomes final, for data
  // parallelism's all-reduces (on the GPU, NCCL will order them on the
  // stream instead).
  if (!isCuda(options))
    pm.addPass(ftc::createGradReadyHooks());
}

/// Buffers, arithmetic, functions (bare pointers: an entry point takes one
/// per buffer) and branches to the LLVM dialect; both targets' host code.
void addScalarCodeToLlvm(OpPassManager &pm) {
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  ConvertFuncToLLVMPassOptions funcToLLVM;
  funcToLLVM.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcToLLVM));
  pm.addPass(createConvertControlFlowToLLVMPass());
}

void buildCpuLlvm(OpPassManager &pm);

/// Affine maps and the subviews' metadata as arithmetic, structured control
/// flow as branches: what both the kernels and the host code go through.
void addLoopsToBranches(OpPassManager &pm) {
  pm.addPass(createLowerAffinePass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
}

/// The CUDA target's last stage: the kernels outlined into one module,
/// compiled to PTX (or a cubin), the host code to LLVM with the launches
/// bound to the runtime.
void buildCudaLlvm(OpPassManager &pm, const ftc::PipelineOptions &options) {
  // --cuda-emulate: the kernels as loops, then the CPU's code generation.
  if (options.cudaEmulate) {
    pm.addPass(ftc::createGpuLaunchToLoops());
    return buildCpuLlvm(pm);
  }
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(ftc::createGpuMergeKernels());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.cudaChip;
  target.features = options.cudaFeatures;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  addLoopsToBranches(kernels);
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  kernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  // What convert-gpu-to-nvvm leaves of math (integer ops: the scatter-adds'
  // math.cttz) as LLVM intrinsics; its floating-point functions it has
  // already made libdevice calls.
  kernels.addPass(createConvertMathToLLVMPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.cudaFormat;
  binary.toolkitPath = options.cudaToolkit;
  pm.addPass(createGpuModuleToBinaryPass(binary));
  // The host code: views of the state's buffers and launches.
  addLoopsToBranches(pm);
  addScalarCodeToLlvm(pm);
  GpuToLLVMConversionPassOptions launches;
  launches.hostBarePtrCallConv = true;
  launches.kernelBarePtrCallConv = true;
  pm.addPass(createGpuToLLVMConversionPass(launches));
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(ftc::createGpuBindLaunches());
  pm.addPass(ftc::createEmitEntryPoints());
}

void buildLlvm(OpPassManager &pm, const ftc::PipelineOptions &options, CheckedPasses &) {
  if (isCuda(options))
    return buildCudaLlvm(pm, options);
  buildCpuLlvm(pm);
}

void buildCpuLlvm(OpPassManager &pm) {
  // The products' parallel blocks: scf.forall as scf.parallel, run on
  // OpenMP threads once outlined (below).
  pm.addNestedPass<func::FuncOp>(createForallToParallelLoopPass());

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // The vector transfers of the tiled products and packs, fully unrolled to
  // 1-D loads and stores (the tiles are small and static).
  VectorTransferToSCFOptions transfers;
  transfers.enableFullUnroll();
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass(transfers));
  pm.addPass(createLowerAffinePass());
  pm.addPass(ftc::createOutlineLoopNests());
  pm.addPass(ftc::createParallelToOpenMP());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  // Subview offsets of the tiled products, as affine.apply.
  pm.addPass(createLowerAffinePass());
  // Register blocks as outer products (one broadcast of A, NR/lanes FMAs
  // per k and row), the packs' transposes as shuffles.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.vectorContractLowering = vector::VectorContractLowering::OuterProduct;
  vectorToLLVM.vectorTransposeLowering = vector::VectorTransposeLowering::Shuffle1D;
  // bf16 products on AVX512_BF16 (cpu-isa=avx512bf16) are x86vector dot
  // products: their LLVM intrinsics.
  vectorToLLVM.x86Vector = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createUBToLLVMConversionPass());
  // LLVM intrinsics first (floor and fma of the approximations become
  // instructions), libm calls for what is left.
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  addScalarCodeToLlvm(pm);
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(ftc::createEmitEntryPoints());
}

void buildNothing(OpPassManager &, const ftc::PipelineOptions &, CheckedPasses &) {}

const StageDefinition kStages[] = {
    {{"input", "the model as written (nothing run)"}, buildNothing},
    {{"after-inline", "the model verified, its functions inlined into the loss"}, buildInline},
    {{"after-lora", "LoRA's adapters added (ftc-lora; as before without LoRA)"}, buildLora},
    {{"after-autocast", "16-bit products cast (ftc-autocast; as before in fp32)"},
     buildAutocast},
    {{"after-autodiff", "the gradient function: forward and backward in train ops"},
     buildAutodiff},
    {{"after-remat", "what the backward recomputes cloned into it (ftc-remat)"}, buildRemat},
    {{"after-optimizer",
      "the whole training step in train ops: the optimizer, loss scaling, checks"},
     buildOptimizer},
    {{"after-lowering", "the step bound to the C ABI, in linalg on tensors"}, buildLowering},
    {{"after-tiling",
      "products packed, tiled and vectorized; the rest fused into parallel blocks"},
     buildTiling},
    {{"after-bufferize",
      "buffers (memrefs), each freed after its last use; cuda: each op in a kernel "
      "(gpu.launch)"},
     buildBufferize},
    {{"after-memory-plan", "every temporary at an offset of one workspace (ftc.memory); cpu: "
                           "the runtime told when each gradient is final"},
     buildMemoryPlan},
    {{"llvm", "the LLVM dialect, with the C ABI's entry points (ftc --emit=mlir)"}, buildLlvm},
};

} // namespace

ArrayRef<ftc::Stage> ftc::getStages() {
  static const SmallVector<Stage> stages = [] {
    SmallVector<Stage> list;
    for (const StageDefinition &definition : kStages)
      list.push_back(definition.stage);
    return list;
  }();
  return stages;
}

std::optional<unsigned> ftc::lookupStage(StringRef name) {
  for (auto [index, definition] : llvm::enumerate(kStages))
    if (definition.stage.name == name)
      return index;
  return std::nullopt;
}

std::optional<std::pair<unsigned, std::string>> ftc::detectStage(ModuleOp module) {
  auto at = [](StringRef stage, const Twine &why) {
    return std::optional<std::pair<unsigned, std::string>>(
        std::pair{*lookupStage(stage), why.str()});
  };
  if (auto marked = module->getAttrOfType<StringAttr>(kStageAttrName)) {
    std::optional<unsigned> index = lookupStage(marked.getValue());
    if (index == 0u)
      return std::nullopt;
    if (index)
      return std::pair{*index, ("its " + kStageAttrName + " says so").str()};
  }
  // What the module holds, latest stage first.
  bool llvmFunctions = false, buffers = false, tensors = false, tiled = false,
       linalg = false, step = false, gradient = false;
  module.walk([&](Operation *op) {
    StringRef dialect = op->getDialect() ? op->getDialect()->getNamespace() : "";
    llvmFunctions |= dialect == "llvm";
    // Loops (scf.if is not tiling: apply guards each update with one).
    tiled |= (dialect == "scf" && !isa<scf::IfOp, scf::YieldOp>(op)) || dialect == "vector";
    linalg |= dialect == "linalg";
    for (Type type : op->getResultTypes()) {
      buffers |= isa<MemRefType>(type);
      tensors |= isa<TensorType>(type);
    }
    if (auto func = dyn_cast<func::FuncOp>(op)) {
      step |= func->hasAttr(train::TrainDialect::getStepAttrName());
      gradient |= func->hasAttr(train::TrainDialect::getGradientOfAttrName());
    }
  });
  if (llvmFunctions)
    return at("llvm", "it holds LLVM dialect functions");
  if (module->hasAttr("ftc.memory"))
    return at("after-memory-plan", "it holds a memory plan (ftc.memory)");
  if (buffers && !tensors)
    return at("after-bufferize", "it computes on buffers (memrefs), not tensors");
  if (tiled)
    return at("after-tiling", "it holds tiled loops");
  if (linalg)
    return at("after-lowering", "it holds linalg ops");
  if (step)
    return at("after-optimizer", "it holds a training step (train.step)");
  if (module->hasAttr(train::TrainDialect::getRematAttrName()))
    return at("after-remat", "it holds ftc-remat's verdict (train.remat)");
  if (gradient)
    return at("after-autodiff", "it holds a gradient function (train.gradient_of)");
  return std::nullopt;
}

LogicalResult ftc::buildStages(OpPassManager &pm, const PipelineOptions &options,
                               ErrorHandler errorHandler, ArrayRef<Insertion> insertions) {
  auto stageIndex = [&](StringRef flag, StringRef name) -> std::optional<unsigned> {
    std::optional<unsigned> index = lookupStage(name);
    if (!index)
      (void)errorHandler(flag + ": no stage '" + name +
                         "' (ftc --list-stages lists them)");
    return index;
  };
  std::optional<unsigned> first = stageIndex("start-at", options.startAt);
  std::optional<unsigned> last = stageIndex("stop-after", options.stopAfter);
  if (!first || !last)
    return failure();
  if (*last < *first)
    return errorHandler("stop-after=" + options.stopAfter + " comes before start-at=" +
                        options.startAt);
  CheckedPasses passes;
  if (failed(passes.create(options, errorHandler)))
    return failure();
  auto insertAfter = [&](unsigned stage) -> LogicalResult {
    for (const Insertion &insertion : insertions) {
      if (insertion.stage != stage)
        continue;
      std::string message;
      llvm::raw_string_ostream os(message);
      if (failed(parsePassPipeline(insertion.pipeline, pm, os)))
        return errorHandler("the pipeline inserted after " + kStages[stage].stage.name +
                            " ('" + insertion.pipeline + "') does not parse: " +
                            StringRef(message).trim());
    }
    return success();
  };
  if (failed(insertAfter(*first)))
    return failure();
  for (unsigned stage = *first + 1; stage <= *last; ++stage) {
    kStages[stage].build(pm, options, passes);
    if (failed(insertAfter(stage)))
      return failure();
  }
  return success();
}

LogicalResult ftc::buildTrainingStepPipeline(OpPassManager &pm,
                                             const PipelineOptions &options,
                                             ErrorHandler errorHandler) {
  PipelineOptions range;
  copyPassOptions(options, range);
  range.stopAfter = "after-optimizer";
  return buildStages(pm, range, errorHandler);
}

void ftc::buildCpuCodegenPipeline(OpPassManager &pm, const PipelineOptions &options,
                                  bool untilMemoryPlan) {
  PipelineOptions range;
  copyPassOptions(options, range);
  range.startAt = "after-optimizer";
  range.stopAfter = untilMemoryPlan ? "after-memory-plan" : "llvm";
  // No pass of these stages checks its options.
  (void)buildStages(pm, range, [](const Twine &) { return failure(); });
}

LogicalResult ftc::buildCpuPipeline(OpPassManager &pm, const PipelineOptions &options,
                                    ErrorHandler errorHandler, bool untilMemoryPlan) {
  PipelineOptions range;
  copyPassOptions(options, range);
  range.startAt = options.startAt.getValue();
  range.stopAfter = untilMemoryPlan ? "after-memory-plan" : options.stopAfter.getValue();
  return buildStages(pm, range, errorHandler);
}

void ftc::copyPassOptions(const PipelineOptions &from, PipelineOptions &to) {
  to.optimizerOptions = from.optimizerOptions.getValue();
  to.loraOptions = from.loraOptions.getValue();
  to.autocastOptions = from.autocastOptions.getValue();
  to.lossScaleOptions = from.lossScaleOptions.getValue();
  to.rematOptions = from.rematOptions.getValue();
  to.checkNumerics = from.checkNumerics.getValue();
  to.cpuIsa = from.cpuIsa.getValue();
  copyTargetOptions(from, to);
}

void ftc::copyTargetOptions(const PipelineOptions &from, PipelineOptions &to) {
  to.target = from.target.getValue();
  to.cudaChip = from.cudaChip.getValue();
  to.cudaFeatures = from.cudaFeatures.getValue();
  to.cudaFormat = from.cudaFormat.getValue();
  to.cudaToolkit = from.cudaToolkit.getValue();
  to.cudaProducts = from.cudaProducts.getValue();
  to.cudaAttention = from.cudaAttention.getValue();
  to.cudaBias = from.cudaBias.getValue();
  to.cudaGelu = from.cudaGelu.getValue();
  to.cudaEmulate = from.cudaEmulate.getValue();
}

namespace {
/// PassPipelineRegistration<PipelineOptions>, for a builder that can fail.
void registerFallible(
    StringRef name, StringRef description,
    LogicalResult (*build)(OpPassManager &, const ftc::PipelineOptions &,
                           ftc::ErrorHandler)) {
  registerPassPipeline(
      name, description,
      [build](OpPassManager &pm, StringRef text, ftc::ErrorHandler errorHandler) {
        ftc::PipelineOptions options;
        if (failed(options.parseFromString(text)))
          return failure();
        return build(pm, options, errorHandler);
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(ftc::PipelineOptions());
      });
}
} // namespace

void ftc::registerPipelines() {
  PassPipelineRegistration<PipelineOptions>(
      "ftc-frontend", "Model-level stages before autodiff (verification)",
      buildFrontendPipeline);
  registerFallible(
      "ftc-training-step",
      "Frontend, LoRA, autodiff and the optimizer: the training step in train ops",
      buildTrainingStepPipeline);
  PassPipelineRegistration<PipelineOptions>(
      "ftc-cpu-codegen", "The training step in train ops to LLVM dialect (CPU)",
      [](OpPassManager &pm, const PipelineOptions &options) {
        buildCpuCodegenPipeline(pm, options);
      });
  registerFallible("ftc-cpu",
                   "The whole CPU compile: ftc-training-step, then ftc-cpu-codegen",
                   [](OpPassManager &pm, const PipelineOptions &options,
                      ErrorHandler errorHandler) {
                     return buildCpuPipeline(pm, options, errorHandler);
                   });
}
