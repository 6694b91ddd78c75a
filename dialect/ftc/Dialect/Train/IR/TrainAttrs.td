//===- TrainAttrs.td - initializers and optimizer settings ------*- tablegen -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINATTRS_TD
#define FTC_DIALECT_TRAIN_IR_TRAINATTRS_TD

include "ftc/Dialect/Train/IR/TrainBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

//===----------------------------------------------------------------------===//
// InitializerAttrInterface
//===----------------------------------------------------------------------===//

def Train_InitializerAttrInterface : AttrInterface<"InitializerAttrInterface"> {
  let cppNamespace = "::ftc::train";
  let description = [{
    How a parameter's initial value is drawn. Every `train.param` carries one.
    The runtime of a compiled step reproduces the same distribution from a
    seed; `verifyFor` checks that the initializer makes sense for the
    parameter's type (for example, a fan-in exists).
  }];
  let methods = [
    InterfaceMethod<[{
        Checks that this initializer can fill a tensor of type `type`; reports
        what is wrong through `emitError` otherwise.
      }],
      "::llvm::LogicalResult", "verifyFor",
      (ins "::mlir::RankedTensorType":$type,
           "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{ return ::mlir::success(); }]>,
  ];
}

def Train_InitializerAttr : Attr<
    CPred<"::llvm::isa<::ftc::train::InitializerAttrInterface>($_self)">,
    "parameter initializer"> {
  let storageType = "::ftc::train::InitializerAttrInterface";
  let returnType = "::ftc::train::InitializerAttrInterface";
  let convertFromStorage = "$_self";
}

/// A float field, stored exactly (APFloat, double semantics).
def Train_F64Param : APFloatParameter<"a double">;

class Train_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Train_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

class Train_InitAttr<string name, string attrMnemonic, list<string> overrides = []>
    : Train_Attr<name, attrMnemonic,
                 [DeclareAttrInterfaceMethods<Train_InitializerAttrInterface, overrides>]>;

def Train_ZerosAttr : Train_InitAttr<"Zeros", "zeros"> {
  let summary = "initializer: all zeros (torch.nn.init.zeros_)";
  let description = [{
    ```mlir
    train.param @fc.bias : tensor<10xf32> init #train.zeros
    ```
  }];
}

def Train_OnesAttr : Train_InitAttr<"Ones", "ones"> {
  let summary = "initializer: all ones (torch.nn.init.ones_)";
  let description = [{
    ```mlir
    train.param @ln.weight : tensor<256xf32> init #train.ones
    ```
  }];
}

def Train_ConstantInitAttr : Train_InitAttr<"ConstantInit", "constant"> {
  let summary = "initializer: every element the same value (torch.nn.init.constant_)";
  let description = [{
    ```mlir
    train.param @scale : tensor<4xf32> init #train.constant<5.000000e-01>
    ```
  }];
  let parameters = (ins Train_F64Param:$value);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Train_NormalAttr : Train_InitAttr<"Normal", "normal"> {
  let summary = "initializer: N(mean, std^2) (torch.nn.init.normal_)";
  let description = [{
    GPT-2 initializes its linear and embedding weights with N(0, 0.02^2).

    ```mlir
    train.param @wte.weight : tensor<4096x256xf32> init #train.normal<mean = 0.0, std = 2.0e-02>
    ```
    `mean` defaults to 0 and `std` to 1.
  }];
  let parameters = (ins Train_F64Param:$mean, Train_F64Param:$std);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Train_UniformAttr : Train_InitAttr<"Uniform", "uniform"> {
  let summary = "initializer: U(low, high) (torch.nn.init.uniform_)";
  let description = [{
    ```mlir
    train.param @w : tensor<4x4xf32> init #train.uniform<low = -1.0e-01, high = 1.0e-01>
    ```
    `low` defaults to 0 and `high` to 1.
  }];
  let parameters = (ins Train_F64Param:$low, Train_F64Param:$high);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Train_KaimingUniformAttr
    : Train_InitAttr<"KaimingUniform", "kaiming_uniform", ["verifyFor"]> {
  let summary = "initializer: PyTorch's default nn.Linear weight init";
  let description = [{
    `torch.nn.init.kaiming_uniform_(w, a=sqrt(5))`: U(-b, b) with
    b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)), so b = 1 / sqrt(fan_in).
    fan_in is the product of every dimension but the first (`[out, in]`
    layout: fan_in = in). The parameter needs rank 2 or more.

    ```mlir
    train.param @fc1.weight : tensor<1024x784xf32> init #train.kaiming_uniform
    ```
  }];
  let extraClassDeclaration = [{
    /// fan_in of a weight of this shape (product of all dimensions but the first).
    static int64_t getFanIn(::llvm::ArrayRef<int64_t> shape);
  }];
}

def Train_RowNormAttr : Train_InitAttr<"RowNorm", "row_norm"> {
  let summary = "initializer: the L2 norm of each row of another parameter";
  let description = [{
    Element i is `||W[i, :]||` for the parameter `of`, W `[out, in]`: DoRA's
    magnitude vector as PEFT initializes it (with B = 0, `||W + s B A||` is
    `||W||`). The runtime computes it after drawing W, and again whenever a
    checkpoint provides W but not this parameter.

    ```mlir
    train.param @fc1.lora_magnitude_vector : tensor<1024xf32> init #train.row_norm<@fc1.weight>
    ```
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$of);
  let assemblyFormat = "`<` $of `>`";
}

def Train_LinearBiasAttr : Train_InitAttr<"LinearBias", "linear_bias"> {
  let summary = "initializer: PyTorch's default nn.Linear bias init";
  let description = [{
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), where fan_in is the input width of the
    layer the bias belongs to (the bias' own shape does not say it).

    ```mlir
    train.param @fc1.bias : tensor<1024xf32> init #train.linear_bias<fan_in = 784>
    ```
  }];
  let parameters = (ins "int64_t":$fanIn);
  let assemblyFormat = "`<` `fan_in` `=` $fanIn `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer settings
//===----------------------------------------------------------------------===//

def Train_AdamWAttr : Train_Attr<"AdamW", "adamw"> {
  let summary = "AdamW settings, as torch.optim.AdamW";
  let description = [{
    Decoupled weight decay with bias correction. Every field is optional and
    defaults to PyTorch's value: lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8,
    weight_decay 0.01.

    ```mlir
    module attributes {train.optimizer = #train.adamw<lr = 3.0e-04, weight_decay = 0.1>} {}
    ```
  }];
  let parameters = (ins Train_F64Param:$lr, Train_F64Param:$beta1, Train_F64Param:$beta2,
                        Train_F64Param:$eps, Train_F64Param:$weightDecay);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Train_SGDAttr : Train_Attr<"SGD", "sgd"> {
  let summary = "SGD settings, as torch.optim.SGD";
  let description = [{
    Every field is optional: lr 1e-2, momentum 0, dampening 0,
    weight_decay 0, nesterov false. Nesterov needs a momentum and zero
    dampening, as in PyTorch.

    ```mlir
    module attributes {train.optimizer = #train.sgd<lr = 1.0e-01, momentum = 0.9>} {}
    ```
  }];
  let parameters = (ins Train_F64Param:$lr, Train_F64Param:$momentum, Train_F64Param:$dampening,
                        Train_F64Param:$weightDecay, "bool":$nesterov);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// Parameter-efficient fine-tuning
//===----------------------------------------------------------------------===//

def Train_LoraAttr : Train_Attr<"Lora", "lora"> {
  let summary = "LoRA settings, with PEFT's LoraConfig semantics";
  let description = [{
    On the module as `train.lora`, it asks `ftc-lora` for adapters: `rank`
    (PEFT's `r`, default 8), `alpha` (`lora_alpha`, default: the rank),
    `targets` (a regular expression searched in linear weights' parameter
    names, required), `dropout` (`lora_dropout`, in [0, 1)), `rslora`
    (`use_rslora`: scale alpha / sqrt(rank) instead of alpha / rank),
    `variant` (`lora` or `dora`), `base` (storage of the frozen base weights:
    `fp32`, `bf16`, `nf4` or `nf4-dq`, QLoRA's with double quantization) and `trainable` (a regular expression of other
    parameters that stay trainable, PEFT's `modules_to_save`). `ftc-lora`
    writes the settings it used back, every field spelled out.

    ```mlir
    module attributes {train.lora = #train.lora<rank = 4, targets = "attn\\.c_attn|mlp\\.c_fc">} {}
    ```
  }];
  let parameters = (ins "int64_t":$rank, Train_F64Param:$alpha,
                        StringRefParameter<"targets">:$targets,
                        Train_F64Param:$dropout, "bool":$rslora,
                        StringRefParameter<"lora or dora">:$variant,
                        StringRefParameter<"fp32, bf16, nf4 or nf4-dq">:$base,
                        StringRefParameter<"other trainable parameters">:$trainable);
  let extraClassDeclaration = [{
    /// The factor of the adapter path: alpha / rank, or alpha / sqrt(rank).
    double getScale() const;
  }];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

#endif // FTC_DIALECT_TRAIN_IR_TRAINATTRS_TD
