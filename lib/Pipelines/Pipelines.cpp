//===- Pipelines.cpp - ftc's pass pipelines -------------------------------===//

#include "ftc/Pipelines/Pipelines.h"

#include "ftc/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void ftc::buildFrontendPipeline(OpPassManager &pm, const PipelineOptions &) {
  pm.addPass(createVerifyModel());
}

void ftc::registerPipelines() {
  PassPipelineRegistration<PipelineOptions>(
      "ftc-frontend", "Model-level stages before autodiff (verification)",
      buildFrontendPipeline);
}
