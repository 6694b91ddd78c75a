//===- Pipelines.cpp - ftc's pass pipelines -------------------------------===//

#include "ftc/Pipelines/Pipelines.h"

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Conversion/Passes.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void ftc::buildFrontendPipeline(OpPassManager &pm, const PipelineOptions &) {
  pm.addPass(createVerifyModel());
}

LogicalResult ftc::buildTrainingStepPipeline(OpPassManager &pm,
                                             const PipelineOptions &options,
                                             ErrorHandler errorHandler) {
  // ftc-lora and ftc-optimizer parse and check their own options.
  std::unique_ptr<Pass> lora = createLora();
  if (failed(lora->initializeOptions(options.loraOptions, errorHandler)))
    return failure();
  std::unique_ptr<Pass> autocast = createAutocast();
  if (failed(autocast->initializeOptions(options.autocastOptions, errorHandler)))
    return failure();
  std::unique_ptr<Pass> remat = createRemat();
  if (failed(remat->initializeOptions(options.rematOptions, errorHandler)))
    return failure();
  std::unique_ptr<Pass> optimizer = createOptimizer();
  if (failed(optimizer->initializeOptions(options.optimizerOptions, errorHandler)))
    return failure();
  std::unique_ptr<Pass> lossScale = createLossScale();
  if (failed(lossScale->initializeOptions(options.lossScaleOptions, errorHandler)))
    return failure();
  buildFrontendPipeline(pm, options);
  pm.addPass(createInlinerPass());
  // Adapters where the options or the model's train.lora ask for them; a
  // no-op otherwise.
  pm.addPass(std::move(lora));
  // 16-bit products where bf16 or fp16 is asked for; the backward follows.
  pm.addPass(std::move(autocast));
  pm.addPass(createAutodiff());
  // Gradient checkpointing where asked for; a no-op otherwise. On the
  // gradient function as later stages see it (autodiff leaves duplicate
  // fills and scalars), so that ftc-remat's memory model is the plan's.
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(std::move(remat));
  pm.addPass(std::move(optimizer));
  // fp16's dynamic loss scaling (or where asked for); a no-op otherwise.
  pm.addPass(std::move(lossScale));
  // --check-numerics: the first op that made an inf or a NaN, reported.
  if (options.checkNumerics)
    pm.addPass(createCheckNumerics());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  return success();
}

void ftc::buildCpuCodegenPipeline(OpPassManager &pm, const PipelineOptions &options,
                                  bool untilMemoryPlan) {
  pm.addPass(createBindAbi());
  pm.addNestedPass<func::FuncOp>(createExpandComposites());
  pm.addNestedPass<func::FuncOp>(createConvertTrainToLinalg());
  // The matrix products, packed, tiled and vectorized for the CPU's vector
  // registers; before elementwise fusion, which would fold reshapes into
  // them and give them several m or n dimensions.
  CpuTileContractionsOptions tiles;
  tiles.isa = options.cpuIsa.empty() ? cpu::hostIsa() : std::string(options.cpuIsa);
  pm.addNestedPass<func::FuncOp>(createCpuTileContractions(tiles));
  // Math on bf16 and f16 (a GELU under --precision=bf16) computed in f32,
  // where the approximations below apply, and rounded back.
  pm.addNestedPass<func::FuncOp>(math::createMathExtendToSupportedTypes());
  // tanh, exp and erf as arithmetic that vectorizes, not libm calls.
  pm.addNestedPass<func::FuncOp>(createApproximateMath());
  // Upstream elementwise ops a model used on tensors (arith.addf, math.exp).
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createLinalgElementwiseOpFusionPass());
  // What is left, in parallel blocks with its producers fused: one pass
  // over memory per row of a softmax, layer norm or cross-entropy.
  // No canonicalization between it and bufferization: it would drop the
  // unused results of the blocks, through which each block writes its
  // temporaries in place.
  pm.addNestedPass<func::FuncOp>(createCpuTileAndFuse());
  pm.addPass(createCSEPass());
  // CSE's shared destinations undone: each buffer allocated where it is
  // first written, not where CSE left the first of its equals.
  pm.addNestedPass<func::FuncOp>(createUnshareDestinations());

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
  // Temporaries at fixed offsets of one workspace: a step allocates nothing.
  pm.addPass(createPlanMemory());
  if (untilMemoryPlan)
    return;
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
  pm.addPass(createOutlineLoopNests());
  pm.addPass(createParallelToOpenMP());
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
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  ConvertFuncToLLVMPassOptions funcToLLVM;
  funcToLLVM.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcToLLVM));
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createEmitEntryPoints());
}

LogicalResult ftc::buildCpuPipeline(OpPassManager &pm, const PipelineOptions &options,
                                    ErrorHandler errorHandler, bool untilMemoryPlan) {
  if (failed(buildTrainingStepPipeline(pm, options, errorHandler)))
    return failure();
  buildCpuCodegenPipeline(pm, options, untilMemoryPlan);
  return success();
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
