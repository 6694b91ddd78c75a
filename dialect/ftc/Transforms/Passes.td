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

def Autodiff : Pass<"ftc-autodiff", "::mlir::ModuleOp"> {
  let summary = "Derives the gradient function of the loss (reverse mode)";
  let description = [{
    Adds `@<loss>_grad` beside the loss function: its forward pass, then the
    backward pass built from each op's ReverseModeOpInterface rule, returning
    the loss followed by one gradient per trainable parameter that reaches
    the loss, in declaration order. `train.grad_params` lists those
    parameters. Frozen parameters, integer inputs and values that do not
    reach the loss get no gradient. An op on the path from a trainable
    parameter to the loss without a rule is an error at that op.

    ```mlir
    func.func @loss_grad(%x: tensor<8x4xf32> {train.input = "x"}, ...)
        -> (tensor<f32>, tensor<2x4xf32>) attributes {
          train.gradient_of = @loss, train.grad_params = [@w]}
    ```
  }];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

#endif // FTC_TRANSFORMS_PASSES_TD
