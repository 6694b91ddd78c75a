//===- TrainOps.td - train dialect operations -------------------*- tablegen -*-===//
//
// The op set of a classifier, with PyTorch semantics. Shape rules live in
// ShapeInference.h and are shared by the verifiers and the builders.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINOPS_TD
#define FTC_DIALECT_TRAIN_IR_TRAINOPS_TD

include "ftc/Dialect/Train/IR/TrainBase.td"
include "ftc/Dialect/Train/IR/TrainAttrs.td"
include "ftc/Dialect/Train/IR/TrainInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/DestinationStyleOpInterface.td"

class Train_Op<string mnemonic, list<Trait> traits = []>
    : Op<Train_Dialect, mnemonic, traits>;

/// An op with a reverse-mode derivative rule; `saves` lists the interface
/// methods it overrides beyond buildAdjoints (e.g. getSavedForBackward).
class Differentiable<list<string> overrides = []>
    : DeclareOpInterfaceMethods<Train_ReverseModeOpInterface, overrides>;
def SavesCustom : Differentiable<["getSavedForBackward"]>;

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def Train_ParamOp : Train_Op<"param", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a trainable (or frozen) parameter of the model";
  let description = [{
    Declares a parameter as a module-level symbol. Its name is the PyTorch
    `state_dict` key, so checkpoints move between ftc and PyTorch unchanged;
    `linear` weights use PyTorch's `[out, in]` layout. `init` says how the
    runtime draws the initial value; `frozen` excludes it from the gradient
    and the optimizer (LoRA's base weights, for instance).

    A frozen f32 parameter may be stored in less memory than its type says
    (`storage`, QLoRA's bases): `nf4` keeps 4-bit codes of QLoRA's NormalFloat
    table, two per byte, and one f32 absmax scale per block of 64 elements
    (0.5625 bytes an element); `nf4-dq` adds QLoRA's double quantization:
    the scales as 8-bit codes of bitsandbytes' dynamic map after subtracting
    their mean, with an f32 absmax per 256 of them (about 0.5159 bytes an
    element); `bf16` keeps bfloat16. The model reads it as
    its f32 type: ftc-bind-abi gives it the stored buffers and puts a
    `train.dequantize` (or a cast) before each use, so the dequantized tensor
    is never kept between the forward and the backward pass. The runtime
    quantizes it from its initializer or from a float checkpoint.

    ```mlir
    train.param @fc1.weight : tensor<1024x784xf32> init #train.kaiming_uniform
    train.param frozen @wte.weight : tensor<4096x256xf32> init #train.normal<mean = 0.0, std = 2.0e-02>
    train.param frozen @h.0.mlp.c_fc.weight : tensor<1024x256xf32> init #train.normal<mean = 0.0, std = 2.0e-02> storage "nf4"
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Train_FloatTensor>:$type,
                       Train_InitializerAttr:$init,
                       UnitAttr:$frozen,
                       OptionalAttr<StrAttr>:$storage);
  let assemblyFormat = [{
    (`frozen` $frozen^)? $sym_name `:` $type `init` $init (`storage` $storage^)? attr-dict
  }];
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    bool isTrainable() { return !getFrozen(); }
    /// The tensors `storage` keeps: the codes, then the scales for nf4; the
    /// bf16 tensor; the parameter's own type without `storage`.
    ::llvm::SmallVector<::mlir::RankedTensorType> getStoredTypes();
    /// The names of those tensors, after the parameter's (bitsandbytes'
    /// names): "", ".absmax", then ".nested_absmax", ".nested_quant_map"
    /// and ".nested_offset" with double quantization.
    ::llvm::ArrayRef<::llvm::StringRef> getStoredSuffixes();
  }];
  let hasVerifier = 1;
}

def Train_GetParamOp : Train_Op<"get_param",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "reads the current value of a parameter, optimizer slot or state";
  let description = [{
    ```mlir
    %w = train.get_param @fc1.weight : tensor<1024x784xf32>
    ```
    The result type must be the symbol's type. `@sym` names a `train.param`
    or, after `ftc-optimizer`, a `train.slot` or `train.state`.
  }];
  let arguments = (ins FlatSymbolRefAttr:$param);
  let results = (outs Train_Tensor:$result);
  let assemblyFormat = "$param attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def Train_ConstantOp : Train_Op<"constant",
    [ConstantLike, Pure, AllTypesMatch<["value", "result"]>]> {
  let summary = "a constant tensor";
  let description = [{
    ```mlir
    %c = train.constant dense<[1.0, 2.0]> : tensor<2xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs Train_Tensor:$result);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

def Train_FillOp : Train_Op<"fill", [Pure]> {
  let summary = "a float tensor with every element equal to one value";
  let description = [{
    ```mlir
    %z = train.fill 0.0 : tensor<128x10xf32>
    ```
  }];
  let arguments = (ins F64Attr:$value);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$value attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

class Train_BinaryOp<string mnemonic, string torchName, Trait rule = Differentiable<>>
    : Train_Op<mnemonic, [Pure, SameOperandsAndResultElementType, rule]> {
  let summary = "elementwise " # mnemonic # " with numpy broadcasting (" # torchName # ")";
  let description = [{
    Shapes broadcast as in numpy and PyTorch: aligned from the right, a
    dimension of size 1 stretches, a missing leading dimension counts as 1.

    ```mlir
    %r = train.}] # mnemonic # [{ %a, %b : (tensor<128x10xf32>, tensor<10xf32>) -> tensor<128x10xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$lhs, Train_FloatTensor:$rhs);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let builders = [
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, ::ftc::train::inferBroadcastType(lhs, rhs), lhs, rhs);
    }]>
  ];
  let hasVerifier = 1;
}

def Train_AddOp : Train_BinaryOp<"add", "torch.add", SavesCustom>;
def Train_SubOp : Train_BinaryOp<"sub", "torch.sub", SavesCustom>;
def Train_MulOp : Train_BinaryOp<"mul", "torch.mul">;
def Train_DivOp : Train_BinaryOp<"div", "torch.div">;

class Train_UnaryOp<string mnemonic, string maths, Trait rule = SavesCustom>
    : Train_Op<mnemonic, [Pure, SameOperandsAndResultType, rule]> {
  let summary = "elementwise " # maths;
  let description = [{
    ```mlir
    %r = train.}] # mnemonic # [{ %x : tensor<128x1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Train_NegOp : Train_UnaryOp<"neg", "negation: -x">;
def Train_ReluOp : Train_UnaryOp<"relu", "ReLU: max(x, 0)">;
def Train_ExpOp : Train_UnaryOp<"exp", "exponential: e^x">;
def Train_LogOp : Train_UnaryOp<"log", "natural logarithm: ln x", Differentiable<>>;
def Train_TanhOp : Train_UnaryOp<"tanh", "hyperbolic tangent">;
def Train_SigmoidOp : Train_UnaryOp<"sigmoid", "logistic sigmoid: 1 / (1 + e^-x)">;
def Train_SqrtOp : Train_UnaryOp<"sqrt", "square root">;

def Train_DequantizeOp : Train_Op<"dequantize", [Pure]> {
  let summary = "an f32 tensor from its compressed storage (QLoRA's NF4, or bf16)";
  let description = [{
    With `scales`, `stored` holds QLoRA's 4-bit NormalFloat codes, two a byte:
    element i (row-major) of the result is `nf4[q_i] * scales[i / 64]`, where
    q_i is the high nibble of `stored[i / 2]` for even i and the low one for
    odd i, and nf4 is QLoRA's table of 16 NormalFloat values (bitsandbytes'
    layout). With four, QLoRA's double quantization: the block scales are
    `map[c_b] * nested[b / 256] + offset` from their 8-bit codes c, their
    absmax per 256, bitsandbytes' 256-entry dynamic map and the offset (the
    scales' mean). Without, `stored` is a bf16 tensor of the result's shape,
    widened exactly.

    ftc-bind-abi puts one before each use of a parameter with a `storage`;
    `instance` numbers those copies, so that CSE, which would merge them and
    keep the dequantized tensor alive from the forward to the backward pass,
    leaves them apart (the lowering keeps the number on its linalg.generic).

    ```mlir
    %w = train.dequantize %codes, %scales instance 1 : (tensor<401408xi8>, tensor<12544xf32>) -> tensor<1024x784xf32>
    %v = train.dequantize %half instance 2 : (tensor<1024x784xbf16>) -> tensor<1024x784xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I8, BF16], [HasStaticShapePred]>:$stored,
                       Variadic<RankedTensorOf<[I8, F32], [HasStaticShapePred]>>:$scales,
                       OptionalAttr<I64Attr>:$instance);
  let results = (outs RankedTensorOf<[F32], [HasStaticShapePred]>:$result);
  let assemblyFormat = [{
    $stored (`,` $scales^)? (`instance` $instance^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Train_StopGradientOp : Train_Op<"stop_gradient", [Pure, SameOperandsAndResultType]> {
  let summary = "the identity, through which no gradient flows (Tensor.detach)";
  let description = [{
    Its result is its operand's value, treated by `ftc-autodiff` as a
    constant: nothing that depends on a parameter only through it gets a
    gradient from it. DoRA's weight norm is one (the DoRA paper and PEFT
    detach it). It has no folder, so canonicalization before autodiff keeps
    it; the lowering drops it.

    ```mlir
    %n = train.stop_gradient %norm : tensor<1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Train_RematBarrierOp : Train_Op<"remat_barrier", [Pure, SameOperandsAndResultType]> {
  let summary = "the identity, read by recomputed ops so that CSE keeps them apart";
  let description = [{
    `ftc-remat` recomputes forward values in the backward pass from values it
    keeps. The recomputed ops are clones of forward ops; read from the kept
    values directly, they would be identical to the originals and CSE would
    fold them back (keeping the originals alive, the memory not saved).
    They read the kept values through this op instead: a value that no
    pass looks through, which bufferizes to its operand's buffer (no copy).

    ```mlir
    %x1 = train.remat_barrier %x : tensor<8x128x256xf32>
    %h1 = train.layer_norm %x1, %w, %b {train.recomputed} : ...
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Train_CastOp : Train_Op<"cast", [Pure, SameOperandsAndResultShape, SavesCustom]> {
  let summary = "converts the element type, keeping the shape (Tensor.to(dtype))";
  let description = [{
    Float to float rounds to nearest even; int to float is exact where the
    float can hold it; float to int truncates toward zero, as in PyTorch.

    ```mlir
    %f = train.cast %labels : tensor<128xi32> to tensor<128xf32>
    ```
  }];
  let arguments = (ins Train_Tensor:$input);
  let results = (outs Train_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($result)";
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

class Train_ReduceOp<string mnemonic, string maths, Trait rule = SavesCustom>
    : Train_Op<mnemonic, [Pure, SameOperandsAndResultElementType, rule]> {
  let summary = maths # " over the given dimensions";
  let description = [{
    `dims` lists the reduced dimensions, in increasing order, at least one.
    Without `keepdim` they are dropped from the result; with it they stay
    with size 1 (PyTorch's `keepdim=True`).

    ```mlir
    %r = train.}] # mnemonic # [{ %x dims [1] : tensor<128x10xf32> -> tensor<128xf32>
    %k = train.}] # mnemonic # [{ %x dims [1] keepdim : tensor<128x10xf32> -> tensor<128x1xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, DenseI64ArrayAttr:$dims,
                       UnitAttr:$keepdim);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = [{
    $input `dims` $dims (`keepdim` $keepdim^)? attr-dict `:` type($input) `->` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::llvm::ArrayRef<int64_t>":$dims,
                   CArg<"bool", "false">:$keepdim), [{
      build($_builder, $_state,
            ::ftc::train::inferReduceType(input, dims, keepdim), input, dims, keepdim);
    }]>
  ];
  let hasVerifier = 1;
}

def Train_SumOp : Train_ReduceOp<"sum", "sum">;
def Train_MeanOp : Train_ReduceOp<"mean", "arithmetic mean">;
def Train_MaxOp : Train_ReduceOp<"max", "maximum (torch.amax)">;

//===----------------------------------------------------------------------===//
// Shape
//===----------------------------------------------------------------------===//

def Train_ReshapeOp : Train_Op<"reshape",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "same elements, new static shape (Tensor.reshape)";
  let description = [{
    Elements keep their row-major order; the element count must not change.

    ```mlir
    %r = train.reshape %x : tensor<8x128x256xf32> -> tensor<1024x256xf32>
    ```
  }];
  let arguments = (ins Train_Tensor:$input);
  let results = (outs Train_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Train_TransposeOp : Train_Op<"transpose",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "permutes dimensions (Tensor.permute)";
  let description = [{
    Result dimension i is input dimension `permutation[i]`.

    ```mlir
    %t = train.transpose %x [1, 0] : tensor<4x5xf32> -> tensor<5x4xf32>
    ```
  }];
  let arguments = (ins Train_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Train_Tensor:$result);
  let assemblyFormat = [{
    $input $permutation attr-dict `:` type($input) `->` type($result)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::llvm::ArrayRef<int64_t>":$permutation), [{
      build($_builder, $_state,
            ::ftc::train::inferTransposeType(input, permutation), input, permutation);
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def Train_MatmulOp : Train_Op<"matmul", [Pure, Differentiable<>]> {
  let summary = "matrix product, optionally batched and transposed";
  let description = [{
    Both operands have the same rank r >= 2; the leading r-2 dimensions are
    batch dimensions and must be equal. `transpose_lhs` / `transpose_rhs`
    swap the last two dimensions of that operand before the product. The
    operands have one element type, and so has the result, except that the
    product of 16-bit operands may be kept in f32 (its sums are f32 in any
    case): attention's scores, for a softmax in f32.

    ```mlir
    %c = train.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
    %s = train.matmul %q, %k transpose_rhs : (tensor<8x64x16xf32>, tensor<8x64x16xf32>) -> tensor<8x64x64xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$lhs, Train_FloatTensor:$rhs,
                       UnitAttr:$transpose_lhs, UnitAttr:$transpose_rhs);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? (`transpose_rhs` $transpose_rhs^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs,
                   CArg<"bool", "false">:$transposeLhs,
                   CArg<"bool", "false">:$transposeRhs), [{
      build($_builder, $_state,
            ::ftc::train::inferMatmulType(lhs, rhs, transposeLhs, transposeRhs),
            lhs, rhs, transposeLhs, transposeRhs);
    }]>
  ];
  let hasVerifier = 1;
}

def Train_LinearOp : Train_Op<"linear",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "y = x W^T + b (torch.nn.functional.linear)";
  let description = [{
    `weight` has PyTorch's `[out, in]` layout; `input` is `[..., in]`; the
    optional `bias` is `[out]`; the result is `[..., out]`.

    ```mlir
    %y = train.linear %x, %w, %b : (tensor<128x784xf32>, tensor<1024x784xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
    %z = train.linear %x, %w : (tensor<128x784xf32>, tensor<1024x784xf32>) -> tensor<128x1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, Train_FloatTensor:$weight,
                       Optional<Train_FloatTensor>:$bias);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

def Train_EmbeddingOp : Train_Op<"embedding", [Pure, Differentiable<>]> {
  let summary = "rows of a table picked by integer indices (torch.nn.functional.embedding)";
  let description = [{
    For a table `[V, D]` and indices `[N...]` (each in [0, V)), the result is
    `[N..., D]` with `result[n..., :] = table[indices[n...], :]`. The
    gradient of the table sums the rows of the result's gradient that picked
    it, however often an index repeats.

    ```mlir
    %x = train.embedding %wte, %tokens : (tensor<4096x256xf32>, tensor<8x128xi32>) -> tensor<8x128x256xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$table, Train_IntTensor:$indices);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$table `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Train_EmbeddingGradOp : Train_Op<"embedding_grad", [Pure]> {
  let summary = "gradient of embedding with respect to the table: a scatter-add";
  let description = [{
    `result[v, :] = sum of grad[n..., :] over every n... with indices[n...] == v`.

    ```mlir
    %dt = train.embedding_grad %g, %tokens : (tensor<8x128x256xf32>, tensor<8x128xi32>) -> tensor<4096x256xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$grad, Train_IntTensor:$indices);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $indices attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Train_LayerNormOp : Train_Op<"layer_norm",
    [Pure, SameOperandsAndResultElementType, Differentiable<>]> {
  let summary = "layer normalization over the last dimension (torch.nn.functional.layer_norm)";
  let description = [{
    `(x - mean) / sqrt(var + eps) * weight + bias` with the mean and the
    biased variance over the last dimension; `weight` and `bias` are
    `[D]`. eps defaults to 1e-5, as in PyTorch.

    ```mlir
    %y = train.layer_norm %x, %w, %b {eps = 1.0e-05 : f64} : (tensor<8x128x256xf32>, tensor<256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, Train_FloatTensor:$weight,
                       Train_FloatTensor:$bias, DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Train_LayerNormGradOp : Train_Op<"layer_norm_grad",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "gradient of layer_norm with respect to its input";
  let description = [{
    With x^ the normalized input, rstd = 1 / sqrt(var + eps) and gw = grad * weight,
    all along the last dimension: `rstd * (gw - mean(gw) - x^ * mean(gw * x^))`.

    ```mlir
    %dx = train.layer_norm_grad %g, %x, %w {eps = 1.0e-05 : f64} : (tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<256xf32>) -> tensor<8x128x256xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$grad, Train_FloatTensor:$input,
                       Train_FloatTensor:$weight, DefaultValuedAttr<F64Attr, "1e-5">:$eps);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input `,` $weight attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Train_GeluOp : Train_Op<"gelu", [Pure, SameOperandsAndResultType, Differentiable<>]> {
  let summary = "GELU, exact or with the tanh approximation (torch.nn.functional.gelu)";
  let description = [{
    Exact: `x * (1 + erf(x / sqrt(2))) / 2`. With `tanh`:
    `x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2`, GPT-2's.

    ```mlir
    %y = train.gelu %x tanh : tensor<8x128x1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, UnitAttr:$tanh);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input (`tanh` $tanh^)? attr-dict `:` type($result)";
}

def Train_GeluGradOp : Train_Op<"gelu_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "gradient of gelu: grad * gelu'(x)";
  let description = [{
    ```mlir
    %dx = train.gelu_grad %g, %x tanh : tensor<8x128x1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$grad, Train_FloatTensor:$input, UnitAttr:$tanh);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $input (`tanh` $tanh^)? attr-dict `:` type($result)";
}

class Train_SoftmaxOp<string mnemonic, string maths>
    : Train_Op<mnemonic, [Pure, SameOperandsAndResultType, SavesCustom]> {
  let summary = maths # " over the last dimension, numerically stable";
  let description = [{
    Computed from `x - max(x)` along the last dimension, as PyTorch does.

    ```mlir
    %p = train.}] # mnemonic # [{ %att : tensor<8x4x128x128xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Train_SoftmaxOp : Train_SoftmaxOp<"softmax", "softmax">;
def Train_LogSoftmaxOp : Train_SoftmaxOp<"log_softmax", "log-softmax">;

def Train_CausalMaskOp : Train_Op<"causal_mask",
    [Pure, SameOperandsAndResultType, SavesCustom]> {
  let summary = "-inf above the diagonal of the last two dimensions";
  let description = [{
    `result[..., i, j] = j > i ? -inf : x[..., i, j]`, the mask of causal
    attention scores before the softmax (`masked_fill(~tril, -inf)`). The
    last two dimensions are equal (T x T). With `zero`, the masked elements
    are 0 instead (the mask's own gradient).

    ```mlir
    %m = train.causal_mask %att : tensor<8x4x128x128xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, UnitAttr:$zero);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input (`zero` $zero^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Train_AttentionOp : Train_Op<"attention",
    [Pure, SameOperandsAndResultElementType, Differentiable<>]> {
  let summary = "scaled dot-product attention, optionally causal";
  let description = [{
    `softmax(mask(q k^T * scale)) v` over the last two dimensions; the
    leading dimensions (batch, heads) are equal in all operands. q is
    `[..., Tq, D]`, k `[..., Tk, D]`, v `[..., Tk, Dv]`, the result
    `[..., Tq, Dv]`. With `causal` (Tq = Tk), query i sees keys j <= i.
    Without `scale` the scores are divided by sqrt(D), as GPT-2 does;
    `scale = s` multiplies them by s.

    One op for what is otherwise five (matmul, scale, causal_mask, softmax,
    matmul): its rule keeps only q, k and v for the backward pass and
    recomputes the probabilities there, so the `[..., T, T]` scores are never
    kept between the passes, and codegen may use a fused kernel.

    ```mlir
    %y = train.attention %q, %k, %v causal : (tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>) -> tensor<8x4x128x64xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$query, Train_FloatTensor:$key,
                       Train_FloatTensor:$value, UnitAttr:$causal,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`causal` $causal^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Train_AttentionGradOp : Train_Op<"attention_grad",
    [Pure, SameOperandsAndResultElementType]> {
  let summary = "gradients of attention with respect to q, k and v";
  let description = [{
    Recomputes P = softmax(mask(q k^T * scale)), then, with g the gradient
    of the output: `dv = P^T g`, `dP = g v^T`,
    `dS = P * (dP - rowsum(dP * P)) * scale`, `dq = dS k`, `dk = dS^T q`.
    Operands and attributes are those of the forward op, after `grad`.

    ```mlir
    %dq, %dk, %dv = train.attention_grad %g, %q, %k, %v causal : (tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>) -> (tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>, tensor<8x4x128x64xf32>)
    ```
  }];
  let arguments = (ins Train_FloatTensor:$grad, Train_FloatTensor:$query,
                       Train_FloatTensor:$key, Train_FloatTensor:$value,
                       UnitAttr:$causal, OptionalAttr<F64Attr>:$scale);
  let results = (outs Train_FloatTensor:$query_grad, Train_FloatTensor:$key_grad,
                      Train_FloatTensor:$value_grad);
  let assemblyFormat = [{
    $grad `,` $query `,` $key `,` $value (`causal` $causal^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

// A target's form of attention: on tensors (destination style) until
// bufferization, then on buffers, where ftc-gpu-attention-kernels makes
// it a kernel.
class Train_FusedAttentionBase<string mnemonic>
    : Train_Op<mnemonic, [DestinationStyleOpInterface,
                          DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The destinations: the operands after the inputs.
    ::mlir::MutableOperandRange getDpsInitsMutable();
    /// The [..., T, D] shapes the kernels take: static, T and D multiples
    /// of 16 (the mma tiles), D at most 128 (a warp's rows of the output
    /// in registers).
    static bool isKernelShape(::llvm::ArrayRef<int64_t> shape);
    /// Whether the kernels take this attention: q, k and v (and, for a
    /// gradient, its incoming gradient) of one 16-bit type and one kernel
    /// shape (ftc-gpu-fuse-attention asks, and ftc-remat's memory model
    /// where attention runs fused).
    static bool takes(::mlir::Value query, ::mlir::Value key, ::mlir::Value value,
                      ::mlir::Value grad = {});
  }];
}

def Train_FusedAttentionOp : Train_FusedAttentionBase<"fused_attention"> {
  let summary = "attention in one pass over the keys, keeping each row's log-sum-exp";
  let description = [{
    `train.attention` as the CUDA target runs it (`ftc-gpu-fuse-attention`):
    the output, and `lse = log(sum(exp(s)))` of each row of the scaled and
    masked scores `s` (their maximum added back), which the backward's
    `train.fused_attention_grad` reads instead of recomputing the softmax's
    sums. Destination style: `out` and `lse` are the destinations, on
    tensors (the results) or buffers (no results). q, k, v and out are
    `[..., T, D]` with equal 16-bit element types, T and D multiples of 16,
    D at most 128 (the shapes the kernels take); lse is `[..., T]` f32.

    ```mlir
    %o, %lse = train.fused_attention %q, %k, %v causal outs(%e0, %e1) : tensor<8x4x128x64xbf16>, tensor<8x4x128x64xbf16>, tensor<8x4x128x64xbf16>, tensor<8x4x128x64xbf16>, tensor<8x4x128xf32> -> tensor<8x4x128x64xbf16>, tensor<8x4x128xf32>
    ```
  }];
  let arguments = (ins AnyShaped:$query, AnyShaped:$key, AnyShaped:$value,
                       AnyShaped:$out, AnyShaped:$lse, UnitAttr:$causal,
                       OptionalAttr<F64Attr>:$scale);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`causal` $causal^)? `outs` `(` $out `,` $lse `)` attr-dict
    `:` type($query) `,` type($key) `,` type($value) `,` type($out) `,` type($lse)
    (`->` type($results)^)?
  }];
}

def Train_FusedAttentionGradOp : Train_FusedAttentionBase<"fused_attention_grad"> {
  let summary = "the gradients of attention from the forward's log-sum-exp";
  let description = [{
    `train.attention_grad` as the CUDA target runs it: with the forward's
    `lse` and `delta = rowsum(grad * out)` (f32, `[..., T]`), the
    probabilities are `exp(s - lse)` and `dS = P * (dP - delta) * scale`;
    `dq = dS k`, `dk = dS^T q`, `dv = P^T grad`, as `train.attention_grad`
    (which sums `dP * P` for delta: the same in exact arithmetic).
    Destination style: dq, dk and dv are the destinations.

    ```mlir
    %dq, %dk, %dv = train.fused_attention_grad %g, %q, %k, %v, %lse, %delta causal outs(%e0, %e1, %e2) : ...
    ```
  }];
  let arguments = (ins AnyShaped:$grad, AnyShaped:$query, AnyShaped:$key,
                       AnyShaped:$value, AnyShaped:$lse, AnyShaped:$delta,
                       AnyShaped:$query_grad, AnyShaped:$key_grad, AnyShaped:$value_grad,
                       UnitAttr:$causal, OptionalAttr<F64Attr>:$scale);
  let assemblyFormat = [{
    $grad `,` $query `,` $key `,` $value `,` $lse `,` $delta (`causal` $causal^)?
    `outs` `(` $query_grad `,` $key_grad `,` $value_grad `)` attr-dict
    `:` type($grad) `,` type($query) `,` type($key) `,` type($value) `,` type($lse) `,`
    type($delta) `,` type($query_grad) `,` type($key_grad) `,` type($value_grad)
    (`->` type($results)^)?
  }];
}

def Train_DropoutOp : Train_Op<"dropout",
    [Pure, AllTypesMatch<["input", "result"]>, SavesCustom]> {
  let summary = "dropout: zeroes elements with probability p, scales the rest by 1/(1-p)";
  let description = [{
    `y = x * keep / (1 - p)` elementwise, `keep` drawn anew for every step,
    as `torch.nn.functional.dropout` in training mode; `p = 0` is the
    identity. The mask is a function of the state's seed, the step number,
    the op's `stream` and the element's index (a counter-based generator:
    splitmix64 over those), so the same seed and step give the same mask on
    any machine, and the backward pass recomputes it instead of keeping it.
    The dropout of the gradient is the gradient of the dropout: the rule
    emits the same op, same stream, on the incoming gradient.

    `stream` tells the dropouts of one model apart; ftc-autodiff numbers them
    (after inlining, so each layer gets its own). `rng` is the ABI's RNG
    buffer (`[seed, step, training]`), which ftc-bind-abi passes in; with
    training 0 (`ftc_set_training(state, 0)`) dropout is the identity, as
    after PyTorch's `model.eval()`.

    ```mlir
    %y = train.dropout %x p 0.1 : tensor<8x128x256xf32>
    // After ftc-autodiff and ftc-bind-abi:
    %z = train.dropout %x p 0.1 stream 3 rng %rng : tensor<8x128x256xf32>, tensor<3xi64>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input,
                       Optional<RankedTensorOf<[I64], [HasStaticShapePred]>>:$rng,
                       F64Attr:$p, OptionalAttr<I64Attr>:$stream);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = [{
    $input `p` $p (`stream` $stream^)? (`rng` $rng^)? attr-dict `:` type($result) (`,` type($rng)^)?
  }];
  let hasVerifier = 1;
}

def Train_SliceOp : Train_Op<"slice",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "a contiguous range along one dimension (Tensor.narrow, split)";
  let description = [{
    Elements `start` to `start + size` of dimension `dim`; the size is the
    result's. GPT-2's q, k, v are three slices of one projection.

    ```mlir
    %q = train.slice %qkv dim 2 start 0 : tensor<8x128x768xf32> -> tensor<8x128x256xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, I64Attr:$dim, I64Attr:$start);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input `dim` $dim `start` $start attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Train_ConcatOp : Train_Op<"concat",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "tensors joined along one dimension (torch.cat)";
  let description = [{
    The inputs agree in every dimension but `dim`; the result's `dim` is the
    sum of theirs. Its gradient is one slice per input.

    ```mlir
    %qkv = train.concat %q, %k, %v dim 2 : (tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>) -> tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Variadic<Train_FloatTensor>:$inputs, I64Attr:$dim);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$inputs `dim` $dim attr-dict `:` functional-type($inputs, results)";
  let hasVerifier = 1;
}

def Train_SplitOp : Train_Op<"split",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "consecutive pieces along one dimension (torch.split)";
  let description = [{
    The inverse of concat: the results agree with the input in every
    dimension but `dim`, and their sizes along it add up to the input's.
    Its gradient is one concat of the pieces' gradients (zeros for a piece
    that does not reach the loss). GPT-2's q, k and v are a split of one
    projection.

    ```mlir
    %q, %k, %v = train.split %qkv dim 2 : tensor<8x128x768xf32> -> (tensor<8x128x256xf32>, tensor<8x128x256xf32>, tensor<8x128x256xf32>)
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, I64Attr:$dim);
  let results = (outs Variadic<Train_FloatTensor>:$results);
  let assemblyFormat = "$input `dim` $dim attr-dict `:` type($input) `->` `(` type($results) `)`";
  let hasVerifier = 1;
}

def Train_PadOp : Train_Op<"pad",
    [Pure, SameOperandsAndResultElementType, SavesCustom]> {
  let summary = "zeros around the input along one dimension (the gradient of slice)";
  let description = [{
    The input sits at offset `start` of dimension `dim` of a zero tensor of
    the result's shape.

    ```mlir
    %d = train.pad %dq dim 2 start 0 : tensor<8x128x256xf32> -> tensor<8x128x768xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, I64Attr:$dim, I64Attr:$start);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input `dim` $dim `start` $start attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

def Train_CrossEntropyOp : Train_Op<"cross_entropy", [Pure, Differentiable<>]> {
  let summary = "mean cross-entropy of logits against integer class labels";
  let description = [{
    `torch.nn.functional.cross_entropy(logits, labels)` with mean reduction,
    the classes along the last dimension of `logits`: for logits `[N..., C]`
    and labels `[N...]` (i32 or i64, each in [0, C)), the result is
    mean over N... of `logsumexp(logits[n]) - logits[n, labels[n]]`.

    ```mlir
    %l = train.cross_entropy %logits, %labels : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$logits, Train_IntTensor:$labels);
  let results = (outs Train_ScalarFloatTensor:$result);
  let assemblyFormat = "$logits `,` $labels attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Train_MseLossOp : Train_Op<"mse_loss",
    [Pure, SameTypeOperands, SameOperandsAndResultElementType, Differentiable<>]> {
  let summary = "mean squared error (torch.nn.functional.mse_loss)";
  let description = [{
    mean((input - target)^2) over every element; both operands have the same type.

    ```mlir
    %l = train.mse_loss %pred, %target : (tensor<64x1xf32>, tensor<64x1xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input, Train_FloatTensor:$target);
  let results = (outs Train_ScalarFloatTensor:$result);
  let assemblyFormat = "$input `,` $target attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Backward helpers: ops the derivative rules build
//===----------------------------------------------------------------------===//

def Train_BroadcastOp : Train_Op<"broadcast",
    [Pure, SameOperandsAndResultElementType, Differentiable<>]> {
  let summary = "broadcasts to a larger shape (Tensor.expand)";
  let description = [{
    numpy broadcasting of `input` to the result shape: the gradient of a sum,
    and of every op whose operand was broadcast.

    ```mlir
    %b = train.broadcast %x : tensor<128x1xf32> -> tensor<128x10xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Train_SumToOp : Train_Op<"sum_to",
    [Pure, SameOperandsAndResultElementType, Differentiable<>]> {
  let summary = "sums a broadcast tensor back to the shape it was broadcast from";
  let description = [{
    The inverse of `train.broadcast` for gradients (PyTorch's `sum_to_size`):
    the input shape must be what the result shape broadcasts to, and every
    broadcast dimension is summed.

    ```mlir
    %db = train.sum_to %g : tensor<128x10xf32> -> tensor<10xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$input);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Train_ReluGradOp : Train_Op<"relu_grad", [Pure, SameOperandsAndResultType]> {
  let summary = "gradient of relu: grad where the relu output is positive, else 0";
  let description = [{
    `torch.ops.aten.threshold_backward(grad, result, 0)`.

    ```mlir
    %dx = train.relu_grad %g, %y : tensor<128x1024xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$grad, Train_FloatTensor:$forward);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $forward attr-dict `:` type($result)";
}

def Train_EqualOp : Train_Op<"equal", [Pure, SameOperandsAndResultElementType]> {
  let summary = "1 where the operands are equal, 0 elsewhere, with broadcasting";
  let description = [{
    A mask in the operands' float type; the gradient of `train.max` uses it
    to find the maximal elements. No gradient flows through it.

    ```mlir
    %m = train.equal %x, %mx : (tensor<4x5xf32>, tensor<4x1xf32>) -> tensor<4x5xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$lhs, Train_FloatTensor:$rhs);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let builders = [
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, ::ftc::train::inferBroadcastType(lhs, rhs), lhs, rhs);
    }]>
  ];
  let hasVerifier = 1;
}

def Train_CrossEntropyGradOp : Train_Op<"cross_entropy_grad", [Pure]> {
  let summary = "gradient of cross_entropy with respect to the logits";
  let description = [{
    `grad * (softmax(logits) - one_hot(labels)) / N`, N the number of labels.

    ```mlir
    %dl = train.cross_entropy_grad %g, %logits, %labels : (tensor<f32>, tensor<128x10xf32>, tensor<128xi32>) -> tensor<128x10xf32>
    ```
  }];
  let arguments = (ins Train_ScalarFloatTensor:$grad, Train_FloatTensor:$logits,
                       Train_IntTensor:$labels);
  let results = (outs Train_FloatTensor:$result);
  let assemblyFormat = "$grad `,` $logits `,` $labels attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The optimizer: state and updates
//===----------------------------------------------------------------------===//

def Train_SlotOp : Train_Op<"slot", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "optimizer state kept beside a parameter, zero at the start";
  let description = [{
    Created by `ftc-optimizer`: AdamW's moments (`exp_avg`, `exp_avg_sq`),
    SGD's `momentum_buffer`. Named `<param>.<state>`; saved in checkpoints
    under `optim.<param>.<state>`.

    ```mlir
    train.slot @fc1.weight.exp_avg of @fc1.weight : tensor<1024x784xf32>
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name, FlatSymbolRefAttr:$param,
                       TypeAttrOf<Train_FloatTensor>:$type);
  let assemblyFormat = "$sym_name `of` $param `:` $type attr-dict";
}

def Train_StateOp : Train_Op<"state", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a scalar of the training state: the step counter, the loss scale, the learning rate";
  let description = [{
    A scalar that belongs to no parameter. Read with `train.get_param`,
    written with `train.set_param`; `init` is its value in a new state.
    `role` says who owns it:

    - `saved` (the default): state the step carries from one call to the
      next, saved in checkpoints under its name: `optim.step`, the number of
      updates taken (created by `ftc-optimizer`); `grad_scaler.scale` and
      `grad_scaler.growth_tracker`, the dynamic loss scaling's (created by
      `ftc-loss-scale`).
    - `setting`: set by the caller between steps, never saved: `optim.lr`,
      the learning rate a schedule moves (`ftc_set_lr`).
    - `report`: written by each step for the caller to read, never saved:
      `optim.grad_norm`, the gradients' global norm (`ftc_grad_norm`).

    ```mlir
    train.state @grad_scaler.scale : tensor<f32> = 6.553600e+04 : f32
    train.state @optim.lr : tensor<f64> = 1.000000e-03 : f64 {role = "setting"}
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<0DTensorOf<[F32, F64, I64]>>:$type,
                       TypedAttrInterface:$init,
                       DefaultValuedStrAttr<StrAttr, "saved">:$role);
  let assemblyFormat = "$sym_name `:` $type `=` $init attr-dict";
  let hasVerifier = 1;
}

def Train_SetParamOp : Train_Op<"set_param",
    [DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "replaces the value of a parameter, optimizer slot or state";
  let description = [{
    The optimizer's write-back. Later `train.get_param`s of the same symbol
    in the same function are not allowed.

    ```mlir
    train.set_param @fc1.weight, %new : tensor<1024x784xf32>
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$param, Train_Tensor:$value);
  let assemblyFormat = "$param `,` $value attr-dict `:` type($value)";
}

def Train_AdamWUpdateOp : Train_Op<"adamw_update",
    [Pure, AttrSizedOperandSegments,
     AllTypesMatch<["param", "grad", "exp_avg", "exp_avg_sq",
                    "new_param", "new_exp_avg", "new_exp_avg_sq"]>]> {
  let summary = "one AdamW step of one parameter, as torch.optim.AdamW";
  let description = [{
    With t the step number (1 on the first step), lr the `lr` operand times
    `lr_scale` (the parameter group's multiplier; the config's lr without
    the operand) and g the gradient times the `grad_scale` operand where
    there is one (gradient clipping's coefficient):

        p  = p * (1 - lr * weight_decay)
        m  = m * beta1 + g * (1 - beta1)
        v  = v * beta2 + g * g * (1 - beta2)
        p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The scalars are computed in f64 at run time (PyTorch computes them from
    Python floats), so a learning rate set between steps gives the bits a
    constant one does. Lowered to one elementwise pass that reads p, g, m,
    v once and writes p, m, v once. With `if %finite` (ftc-loss-scale: were
    the gradients finite?), a false flag returns p, m and v unchanged, bit
    for bit.

    ```mlir
    %p2, %m2, %v2 = train.adamw_update %p, %g, %m, %v with #train.adamw<lr = 0.001> step %t
        : tensor<10xf32>
    %p3, %m3, %v3 = train.adamw_update %p, %g, %m, %v with #train.adamw<weight_decay = 0.0>
        step %t lr %lr grad_scale %coef {lr_scale = 0.1 : f64} : tensor<10xf32>
    ```
  }];
  let arguments = (ins Train_FloatTensor:$param, Train_FloatTensor:$grad,
                       Train_FloatTensor:$exp_avg, Train_FloatTensor:$exp_avg_sq,
                       Train_StepTensor:$step, Optional<Train_F64Tensor>:$lr,
                       Optional<Train_F64Tensor>:$grad_scale,
                       Optional<Train_FlagTensor>:$condition,
                       Train_AdamWAttr:$config,
                       DefaultValuedAttr<F64Attr, "1.0">:$lr_scale);
  let results = (outs Train_FloatTensor:$new_param, Train_FloatTensor:$new_exp_avg,
                      Train_FloatTensor:$new_exp_avg_sq);
  let assemblyFormat = [{
    $param `,` $grad `,` $exp_avg `,` $exp_avg_sq `with` $config `step` $step
    (`lr` $lr^)? (`grad_scale` $grad_scale^)? (`if` $condition^)? attr-dict `:` type($param)
  }];
}

def Train_SGDUpdateOp : Train_Op<"sgd_update", [Pure, AttrSizedOperandSegments]> {
  let summary = "one SGD step of one parameter, as torch.optim.SGD";
  let description = [{
    With t the step number (1 on the first step), lr and g as for
    `train.adamw_update` (the `lr` operand times `lr_scale`, the gradient
    times `grad_scale`):

        g = g + weight_decay * p
        b = t == 1 ? g : b * momentum + (1 - dampening) * g     (momentum != 0)
        g = nesterov ? g + momentum * b : b                    (momentum != 0)
        p = p - lr * g

    The momentum buffer operand and result exist exactly when momentum != 0.
    With `if %finite`, a false flag returns p and b unchanged, bit for bit.

    ```mlir
    %p2, %b2 = train.sgd_update %p, %g momentum(%b) with #train.sgd<lr = 0.1, momentum = 0.9> step %t
        : (tensor<10xf32>, tensor<10xf32>, tensor<10xf32>, tensor<i64>) -> (tensor<10xf32>, tensor<10xf32>)
    ```
  }];
  let arguments = (ins Train_FloatTensor:$param, Train_FloatTensor:$grad,
                       Optional<Train_FloatTensor>:$momentum_buffer,
                       Train_StepTensor:$step, Optional<Train_F64Tensor>:$lr,
                       Optional<Train_F64Tensor>:$grad_scale,
                       Optional<Train_FlagTensor>:$condition,
                       Train_SGDAttr:$config,
                       DefaultValuedAttr<F64Attr, "1.0">:$lr_scale);
  let results = (outs Train_FloatTensor:$new_param,
                      Optional<Train_FloatTensor>:$new_momentum_buffer);
  let assemblyFormat = [{
    $param `,` $grad (`momentum` `(` $momentum_buffer^ `)`)? `with` $config `step` $step
    (`lr` $lr^)? (`grad_scale` $grad_scale^)? (`if` $condition^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Gradient clipping (torch.nn.utils.clip_grad_norm_)
//===----------------------------------------------------------------------===//

def Train_ClipGradNormOp : Train_Op<"clip_grad_norm", [Pure]> {
  let summary = "the gradients' global 2-norm and the coefficient that clips it to max_norm";
  let description = [{
    As `torch.nn.utils.clip_grad_norm_`: `norm` is the 2-norm of all the
    operands' elements together (the squares summed in f64, each operand in
    a fixed order: deterministic for any thread count) and `coef` is
    min(max_norm / (norm + 1e-6), 1), the factor the optimizer updates
    multiply each gradient by (their `grad_scale`). A NaN norm gives a NaN
    coefficient, as in PyTorch; `max_norm` may be infinite (the norm
    reported, nothing clipped).

    ```mlir
    %norm, %coef = train.clip_grad_norm %g0, %g1 max_norm 1.0 : tensor<10x4xf32>, tensor<10xf32>
    ```
  }];
  let arguments = (ins Variadic<Train_FloatTensor>:$grads, F64Attr:$max_norm);
  let results = (outs Train_F64Tensor:$norm, Train_F64Tensor:$coef);
  let assemblyFormat = "$grads `max_norm` $max_norm attr-dict `:` type($grads)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Dynamic loss scaling (torch.cuda.amp.GradScaler)
//===----------------------------------------------------------------------===//

def Train_AllFiniteOp : Train_Op<"all_finite", [Pure]> {
  let summary = "whether every element of every operand is finite";
  let description = [{
    False where any element of any operand is an infinity or a NaN: the
    check of GradScaler's unscale, one flag for all the gradients.

    ```mlir
    %finite = train.all_finite %g0, %g1 : tensor<10x4xf32>, tensor<10xf32>
    ```
  }];
  let arguments = (ins Variadic<Train_FloatTensor>:$inputs);
  let results = (outs Train_FlagTensor:$finite);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
}

//===----------------------------------------------------------------------===//
// --check-numerics (ftc-check-numerics)
//===----------------------------------------------------------------------===//

def Train_NoteNonFiniteOp : Train_Op<"note_nonfinite", [Pure]> {
  let summary = "the first check that saw an inf or a NaN: `prev`, else `id` where `value` holds one, else 0";
  let description = [{
    One link of ftc-check-numerics' chain through a step: `prev` is the
    number of an earlier check that saw an infinity or a NaN, or 0; this
    check is `id` (from 1).

    ```mlir
    %first1 = train.note_nonfinite %first0, %l0 id 3 : tensor<4xf32>
    ```
  }];
  let arguments = (ins Train_StepTensor:$prev, Train_FloatTensor:$value,
                       ConfinedAttr<I64Attr, [IntPositive]>:$id);
  let results = (outs Train_StepTensor:$result);
  let assemblyFormat = "$prev `,` $value `id` $id attr-dict `:` type($value)";
}

def Train_NothingNotedOp : Train_Op<"nothing_noted", [Pure]> {
  let summary = "whether a chain of train.note_nonfinite saw no inf or NaN (its value is 0)";
  let description = [{
    ```mlir
    %ok = train.nothing_noted %first
    ```
  }];
  let arguments = (ins Train_StepTensor:$first);
  let results = (outs Train_FlagTensor:$ok);
  let assemblyFormat = "$first attr-dict";
}

def Train_AdvanceStepOp : Train_Op<"advance_step", [Pure]> {
  let summary = "the step counter after an update: n + 1, or n where `if` is false";
  let description = [{
    ```mlir
    %t = train.advance_step %n
    %next = train.advance_step %n if %finite
    ```
  }];
  let arguments = (ins Train_StepTensor:$count, Optional<Train_FlagTensor>:$condition);
  let results = (outs Train_StepTensor:$result);
  let assemblyFormat = "$count (`if` $condition^)? attr-dict";
}

def Train_UpdateLossScaleOp : Train_Op<"update_loss_scale", [Pure]> {
  let summary = "the next loss scale and growth tracker (GradScaler.update)";
  let description = [{
    As torch's `_amp_update_scale_`: when the step's gradients were not all
    finite, the scale is multiplied by `backoff` and the tracker reset to 0;
    otherwise the tracker counts the step, and on reaching `interval` the
    scale is multiplied by `growth` (kept only if finite) and the tracker
    reset to 0.

    ```mlir
    %s2, %n2 = train.update_loss_scale %s, %n finite %f growth 2.0 backoff 0.5 interval 2000
    ```
  }];
  let arguments = (ins Train_ScaleTensor:$scale, Train_StepTensor:$growth_tracker,
                       Train_FlagTensor:$finite, F64Attr:$growth, F64Attr:$backoff,
                       I64Attr:$interval);
  let results = (outs Train_ScaleTensor:$new_scale, Train_StepTensor:$new_growth_tracker);
  let assemblyFormat = [{
    $scale `,` $growth_tracker `finite` $finite `growth` $growth `backoff` $backoff
    `interval` $interval attr-dict
  }];
}

#endif // FTC_DIALECT_TRAIN_IR_TRAINOPS_TD
