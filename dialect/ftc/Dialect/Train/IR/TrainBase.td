//===- TrainBase.td - the train dialect and its type constraints -*- tablegen -*-===//
//
// The `train` dialect describes a model's training problem: its parameters,
// its batch inputs, its forward pass and its loss. Everything after that (the
// backward graph, the optimizer update, the rewrites) is derived by passes.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINBASE_TD
#define FTC_DIALECT_TRAIN_IR_TRAINBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Train_Dialect : Dialect {
  let name = "train";
  let cppNamespace = "::ftc::train";
  let summary = "Parameters, forward pass and loss of a model to be trained";
  let description = [{
    A model is a `builtin.module` holding:

    * one `train.param` per parameter, a module-level symbol named like the
      PyTorch `state_dict` key (`@fc1.weight`), with its tensor type, its
      initializer and an optional `frozen` marker;
    * one loss function: a `func.func` carrying the unit attribute
      `train.loss`, whose arguments are the batch inputs, each named by a
      `train.input` argument attribute, and whose first result is the scalar
      loss (`tensor<f32>`, or `tensor<f64>` for gradient checks); further
      results are outputs for evaluation, each named by a `train.output`
      result attribute (`{train.output = "logits"}`);
    * optionally `train.optimizer` on the module: `#train.adamw<...>` or
      `#train.sgd<...>`; command-line flags override it.

    ```mlir
    module attributes {train.optimizer = #train.adamw<lr = 1.0e-03>} {
      train.param @fc.weight : tensor<10x784xf32> init #train.kaiming_uniform
      train.param @fc.bias : tensor<10xf32> init #train.linear_bias<fan_in = 784>
      func.func @loss(%x: tensor<128x784xf32> {train.input = "image"},
                      %y: tensor<128xi32> {train.input = "label"}) -> tensor<f32>
          attributes {train.loss} {
        %w = train.get_param @fc.weight : tensor<10x784xf32>
        %b = train.get_param @fc.bias : tensor<10xf32>
        %logits = train.linear %x, %w, %b : (tensor<128x784xf32>, tensor<10x784xf32>, tensor<10xf32>) -> tensor<128x10xf32>
        %l = train.cross_entropy %logits, %y : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<f32>
        return %l : tensor<f32>
      }
    }
    ```

    Tensors are statically shaped. Floating-point ops take f16, bf16, f32 or
    f64 and never mix element types: use `train.cast`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    /// Unit attribute on the `func.func` that computes the loss.
    static constexpr ::llvm::StringLiteral getLossAttrName() {
      return ::llvm::StringLiteral("train.loss");
    }
    /// String attribute naming a batch input (an argument of the loss function).
    static constexpr ::llvm::StringLiteral getInputAttrName() {
      return ::llvm::StringLiteral("train.input");
    }
    /// String attribute naming a further result of the loss function (an
    /// output such as the logits, for evaluation).
    static constexpr ::llvm::StringLiteral getOutputAttrName() {
      return ::llvm::StringLiteral("train.output");
    }
    /// Optimizer settings on the module: `#train.adamw` or `#train.sgd`.
    static constexpr ::llvm::StringLiteral getOptimizerAttrName() {
      return ::llvm::StringLiteral("train.optimizer");
    }
    /// Mixed precision on the module: "fp32", "bf16" or "fp16" (ftc-autocast).
    static constexpr ::llvm::StringLiteral getPrecisionAttrName() {
      return ::llvm::StringLiteral("train.precision");
    }
    /// LoRA settings on the module (`#train.lora`): ftc-lora's input and record.
    static constexpr ::llvm::StringLiteral getLoraAttrName() {
      return ::llvm::StringLiteral("train.lora");
    }
    /// On the function ftc-autodiff derives: the loss function it differentiates.
    static constexpr ::llvm::StringLiteral getGradientOfAttrName() {
      return ::llvm::StringLiteral("train.gradient_of");
    }
    /// On that function: the parameters whose gradients it returns, in order.
    static constexpr ::llvm::StringLiteral getGradParamsAttrName() {
      return ::llvm::StringLiteral("train.grad_params");
    }
    /// Unit attribute on the training-step function ftc-optimizer builds.
    static constexpr ::llvm::StringLiteral getStepAttrName() {
      return ::llvm::StringLiteral("train.step");
    }
    /// Unit attributes on the functions ftc-optimizer builds beside the
    /// step for gradient accumulation (and data parallelism): one that adds
    /// a micro-batch's gradients to running sums, one that applies the
    /// update to given gradients.
    static constexpr ::llvm::StringLiteral getAccumulateAttrName() {
      return ::llvm::StringLiteral("train.accumulate");
    }
    static constexpr ::llvm::StringLiteral getApplyAttrName() {
      return ::llvm::StringLiteral("train.apply");
    }
    /// Unit attribute on the fill autodiff seeds the backward pass with
    /// (d loss / d loss), which ftc-loss-scale replaces by the loss scale.
    static constexpr ::llvm::StringLiteral getLossSeedAttrName() {
      return ::llvm::StringLiteral("train.loss_seed");
    }
    /// Unit attribute on an op ftc-remat cloned into the backward pass to
    /// recompute a forward value.
    static constexpr ::llvm::StringLiteral getRecomputedAttrName() {
      return ::llvm::StringLiteral("train.recomputed");
    }
    /// On the module, after ftc-remat: its policy and its memory model's
    /// verdict (peak, kept, recomputed_ops, recompute_flops, step_flops and,
    /// for a budget, lower_bound_flops).
    static constexpr ::llvm::StringLiteral getRematAttrName() {
      return ::llvm::StringLiteral("train.remat");
    }
    /// On the module, after ftc-loss-scale: the dynamic loss scaling's
    /// settings (init_scale, growth_factor, backoff_factor, growth_interval).
    static constexpr ::llvm::StringLiteral getLossScaleAttrName() {
      return ::llvm::StringLiteral("train.loss_scale");
    }
    /// Adds the attributes of TrainAttrs.td (defined in TrainAttrs.cpp).
    void registerAttributes();
  }];
}

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

def Train_FloatElement : AnyTypeOf<[F16, BF16, F32, F64]>;
def Train_IntElement : AnyTypeOf<[I32, I64]>;

def Train_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64], [HasStaticShapePred],
                                       "statically shaped tensor">;
def Train_IntTensor : RankedTensorOf<[I32, I64], [HasStaticShapePred],
                                     "statically shaped tensor">;
def Train_Tensor : RankedTensorOf<[F16, BF16, F32, F64, I32, I64], [HasStaticShapePred],
                                  "statically shaped tensor">;
def Train_ScalarFloatTensor : RankedTensorOf<[F16, BF16, F32, F64],
                                             [HasAnyRankOfPred<[0]>],
                                             "0-d tensor">;

/// The step number t of an optimizer update (1 on the first step), or the
/// number of updates taken.
def Train_StepTensor : 0DTensorOf<[I64]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getI64Type())";
}

/// A yes-or-no decision made during the step (all gradients finite).
def Train_FlagTensor : 0DTensorOf<[I1]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getI1Type())";
}

/// A scalar computed in f64 for the optimizer: the learning rate, the
/// gradients' norm, the clipping coefficient.
def Train_F64Tensor : 0DTensorOf<[F64]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getF64Type())";
}

/// The f32 loss scale.
def Train_ScaleTensor : 0DTensorOf<[F32]> {
  let builderCall = "::mlir::RankedTensorType::get({}, $_builder.getF32Type())";
}

#endif // FTC_DIALECT_TRAIN_IR_TRAINBASE_TD
