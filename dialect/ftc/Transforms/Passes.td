//===- Passes.td - ftc passes -----------------------------------*- tablegen -*-===//
//
// Every ftc pass is declared here, named `ftc-...`, and implemented in one
// file of lib/Transforms. Pipelines that chain them live in lib/Pipelines.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_TRANSFORMS_PASSES_TD
#define FTC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def VerifyModel : Pass<"ftc-verify-model", "::mlir::ModuleOp"> {
  let summary = "Checks that a module is a complete model";
  let description = [{
    The first stage of every pipeline. Beyond what the op verifiers check one
    op at a time, a model needs exactly one loss function (a `func.func`
    marked `{train.loss}`); each failure is a diagnostic on the module or on
    the offending function.

    ```mlir
    // ftc-opt --ftc-verify-model: error, the model has no loss function
    module {
      train.param @w : tensor<4xf32> init #train.zeros
    }
    ```
  }];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

#endif // FTC_TRANSFORMS_PASSES_TD
