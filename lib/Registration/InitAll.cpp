//===- InitAll.cpp - one registration entry point for every tool ----------===//

#include "ftc/Registration/InitAll.h"

#include "ftc/Conversion/Passes.h"
#include "ftc/Dialect/Train/IR/DerivativeRules.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"
#include "ftc/Pipelines/Pipelines.h"
#include "ftc/Transforms/Passes.h"
#include "ftc/Transforms/Remat.h"

#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void ftc::registerAllFtcDialects(mlir::DialectRegistry &registry) {
  registry.insert<train::TrainDialect>();
  train::registerUpstreamDerivativeRules(registry);
  remat::registerBufferizationModels(registry);
  registerFusedAttentionBufferization(registry);
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates the kernels (NVVM) to LLVM IR.
  mlir::registerAllGPUToLLVMIRTranslations(registry);
}

void ftc::registerAllFtcPasses() {
  mlir::registerAllPasses();
  registerFtcPasses();
  registerFtcConversionPasses();
  registerPipelines();
}
