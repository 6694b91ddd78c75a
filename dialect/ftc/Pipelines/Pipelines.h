//===- Pipelines.h - ftc's pass pipelines -----------------------*- C++ -*-===//
//
// Pipelines are C++ functions. `ftc-opt` registers them by name and `ftc`
// calls the same functions, so every compile can be replayed with ftc-opt.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_PIPELINES_PIPELINES_H
#define FTC_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace ftc {

struct PipelineOptions : public mlir::PassPipelineOptions<PipelineOptions> {};

/// The model-level stages that precede autodiff: verification so far.
void buildFrontendPipeline(mlir::OpPassManager &pm,
                           const PipelineOptions &options);

/// Registers every pipeline above with the pass registry (`--ftc-frontend`).
void registerPipelines();

} // namespace ftc

#endif // FTC_PIPELINES_PIPELINES_H
