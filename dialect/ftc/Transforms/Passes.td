//===- Passes.td - ftc passes -----------------------------------*- tablegen -*-===//
//
// Every ftc pass but the dialect conversions (ftc/Conversion/Passes.td) is
// declared here, named `ftc-...`, and implemented in one file of
// lib/Transforms. Pipelines that chain them live in lib/Pipelines.
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

    The backward starts at its seed, the `train.fill` of d loss / d loss
    marked `train.loss_seed`. Every rule reads only the forward values its
    op's `getSavedForBackward` declares (what must be kept, or recomputed,
    for the backward): a rule that reads another is an error at its op.
    `ftc-opt --ftc-autodiff-test-undeclared=OP` (a hidden flag, for tests)
    takes the declaration of OP as empty, so the check can be seen to fire.

    ```mlir
    func.func @loss_grad(%x: tensor<8x4xf32> {train.input = "x"}, ...)
        -> (tensor<f32>, tensor<2x4xf32>) attributes {
          train.gradient_of = @loss, train.grad_params = [@w]}
    ```
  }];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def Remat : Pass<"ftc-remat", "::mlir::ModuleOp"> {
  let summary = "Gradient checkpointing: keeps or recomputes each value the backward reads";
  let description = [{
    After ftc-autodiff, on the gradient function: each forward value the
    backward reads (autodiff's saved tensors) is kept from the forward, or
    recomputed in the backward from kept values. Policies:

    - `none`: keep everything;
    - `blocks`: in each of the model's functions (a transformer block; the
      inliner's call sites tell their ops apart), keep what it reads from
      before it and recompute the rest: `torch.utils.checkpoint` per block;
    - `sqrt`: the same over about sqrt(n) groups of consecutive blocks
      (Chen et al. 2016); a model without functions is cut at its
      articulation values (one value carries the whole forward on);
    - `budget` (`memory-budget=BYTES`, also KiB, MiB, GiB): the fewest
      recomputed FLOPs whose peak, in ftc-remat's memory model, is at most
      the budget. Each block keeps everything, recomputes all but the
      products, all but the matrix products (attention too), or
      everything; dynamic programming over the blocks picks (exact over
      those choices, in a chain model of the peak), the simulation checks.
      The memory model's peak: every tensor of the gradient function from
      its op to its last reader, the packed operands of products and
      attention's scores while they run, attention's probabilities (f32,
      and 16-bit for 16-bit operands) from the forward to a gradient that
      reads the same q and k (which CSE makes them share; one reading a
      recomputed q or k computes them again, FLOPs counted as recomputed).
      With `fused-attention` (`--target=cuda`), attention its kernels take
      keeps each row's log-sum-exp and its output for the gradient instead,
      transposes into and out of it are views, and a gradient without its
      forward (other q, k or v) runs the forward again. The verdict
      carries a lower bound on the recomputed FLOPs of any schedule (a
      fractional knapsack at each point of the run where more than the
      budget is live). A budget below the least peak is an error naming it.

    Recomputed ops are clones, each placed just before its first reader in
    the backward and marked `train.recomputed`; they read the kept values
    through `train.remat_barrier`, so that CSE cannot fold them back into
    the originals. Clones compute exactly what the originals did (a
    dropout's mask depends on its stream and the step, which the clone
    keeps). The module records the verdict in `train.remat`.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"none\"",
           "none, blocks, sqrt, a plugin's (ftc::remat::RematPolicy) or budget">,
    Option<"memoryBudget", "memory-budget", "std::string", /*default=*/"\"\"",
           "budget: the peak of the gradient function's tensors, in bytes (also KiB, MiB, GiB)">,
    Option<"fusedAttention", "fused-attention", "bool", /*default=*/"false",
           "the memory model's attention as --target=cuda runs it where its kernels take it "
           "(ftc-gpu-fuse-attention): no probabilities, the forward keeps each row's "
           "log-sum-exp and the gradient computes the probabilities again">,
  ];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def TestRematCost : Pass<"ftc-test-remat-cost", "::mlir::ModuleOp"> {
  let summary = "Tests only: ftc-remat's cost model, as a remark on each forward op";
  let description = [{
    On each gradient function: a remark on every forward op with the bytes
    of its results, its FLOPs, whether the backward reads a result (saved)
    and whether the op is a product or free (a parameter read or constant),
    and one on the function with its segments.
  }];
}

def TestRematSchedule : Pass<"ftc-test-remat-schedule", "::mlir::ModuleOp"> {
  let summary = "Tests only: ftc-remat's schedule, as a remark on each saved value";
  let description = [{
    On each gradient function, for a policy (or a memory budget): a remark
    on every op whose results the backward reads, `kept` or `recomputed`,
    and one on the function with the memory model's peak, kept bytes and
    recomputed FLOPs. Nothing is rewritten.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"none\"",
           "none, blocks, sqrt, a plugin's (ftc::remat::RematPolicy) or budget">,
    Option<"memoryBudget", "memory-budget", "std::string", /*default=*/"\"\"",
           "budget: the peak in bytes (also KiB, MiB, GiB)">,
    Option<"fusedAttention", "fused-attention", "bool", /*default=*/"false",
           "attention modelled as fused kernels (ftc-remat's fused-attention)">,
  ];
}

def Lora : Pass<"ftc-lora", "::mlir::ModuleOp"> {
  let summary = "LoRA adapters on the matched linear weights; the rest frozen";
  let description = [{
    Runs after inlining (a block function's weights are then `train.get_param`
    of named parameters) and before autodiff. The settings are the module's
    `train.lora` (`#train.lora<...>`), then these options where given; with
    neither the pass changes nothing. It writes the settings it used back to
    the module, and the model description of step.so carries them (the
    adapter files of `ftc-train --save-adapters` are written from them).

    Every `train.linear` whose weight W `[out, in]` is a parameter `M.weight`
    matching `targets` (an extended regular expression searched in the name,
    as PEFT's `target_modules` regex) gets PEFT's adapters:

    - `M.lora_A.weight` `[rank, in]`, kaiming-uniform (a = sqrt(5)), and
    - `M.lora_B.weight` `[out, rank]`, zeros,

    and its output becomes `W x + b + s * B (A (dropout(x)))` with
    `s = alpha / rank` (`alpha / sqrt(rank)` with `rslora`). Every other
    parameter is frozen unless its name matches `trainable` (a new head, say):
    no gradient, no dW product, no optimizer state. With B = 0 the first
    step's loss is the base model's, bit for bit.

    ```mlir
    // ftc-opt --ftc-lora='rank=8 targets=attn\.c_attn'
    train.param frozen @h.0.attn.c_attn.weight : tensor<768x256xf32> init #train.normal<mean = 0.0, std = 2.0e-02>
    train.param @h.0.attn.c_attn.lora_A.weight : tensor<8x256xf32> init #train.kaiming_uniform
    train.param @h.0.attn.c_attn.lora_B.weight : tensor<768x8xf32> init #train.zeros
    ```

    With `variant=dora` (DoRA, as PEFT computes it) each adapted module also
    gets a trainable magnitude `M.lora_magnitude_vector` `[out]`, which starts
    at the norms of W's rows (`#train.row_norm`, drawn by the runtime), and the
    output becomes `(W x + b) + (g - 1) W dropout(x) + g s B (A dropout(x))`
    with `g = m / ||W + s B A||` per output row, the norm behind a
    `train.stop_gradient` (the DoRA paper and PEFT detach it): without
    dropout, `g (W x + s B A x) + b`.

    Option values are checked when parsed, before any IR is read; `ftc`
    offers each as `--lora-<option>` (`ftc --lora-rank=8`). A number left at
    its default and an empty string mean "not given".

    With `base=nf4` (QLoRA) every frozen linear weight (a parameter read only
    as a `train.linear` weight: not an embedding, a norm or a bias) is
    stored as NF4 (`storage "nf4"`), `nf4-dq` with QLoRA's double
    quantization of the scales, `bf16` as bfloat16; see `train.param`.
  }];
  let options = [
    Option<"rank", "rank", "int64_t", /*default=*/"-1",
           "adapter rank r (default 8)">,
    Option<"alpha", "alpha", "double", /*default=*/"kNotGiven",
           "scale numerator lora_alpha (default: the rank)">,
    Option<"targets", "targets", "std::string", /*default=*/"\"\"",
           "regular expression searched in linear weights' parameter names">,
    Option<"dropout", "dropout", "double", /*default=*/"kNotGiven",
           "dropout probability on the adapters' input (default 0)">,
    Option<"rslora", "rslora", "std::string", /*default=*/"\"\"",
           "true: scale alpha / sqrt(rank) instead of alpha / rank">,
    Option<"variant", "variant", "std::string", /*default=*/"\"\"",
           "lora or dora (default lora)">,
    Option<"base", "base", "std::string", /*default=*/"\"\"",
           "storage of the frozen base weights: fp32, bf16, nf4 or nf4-dq (nf4 with "
           "its scales double-quantized) (default fp32)">,
    Option<"trainable", "trainable", "std::string", /*default=*/"\"\"",
           "regular expression of other parameters that stay trainable">,
  ];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def Autocast : Pass<"ftc-autocast", "::mlir::ModuleOp"> {
  let summary = "Mixed precision: 16-bit products, fp32 where precision matters";
  let description = [{
    `torch.autocast` decided at compile time. Runs after inlining (and
    ftc-lora) and before autodiff, so the backward follows the forward's
    types. With `precision` bf16 or fp16 (or the module's
    `train.precision`), each op of the loss function computes in the type
    its rules say (`autocast-rules`, by default `torch`:
    `ftc::getAutocastPolicy`, one table, which `ftc --report` prints; a
    plugin's `ftc::AutocastRules` otherwise):

    - `lower`: matrix products (`train.linear`, `train.matmul`) read 16-bit
      operands and sum in f32 (the lowering's mixed-type contraction);
    - `fp32`: softmax, log-softmax, layer norm, exp, log, reductions and
      the losses read f32;
    - `promote`: elementwise ops of several operands compute in the widest
      of their operands' types (a residual add of f32 and bf16 is f32);
    - `follow`: the rest (relu, gelu, reshapes, dropout, ...) keep their
      operand's type.

    A value is cast once for all its uses of one type; each parameter is
    read once, at the function's start, so its 16-bit copy is made once per
    step. Parameters, their gradients and the optimizer stay f32 (master
    weights); the loss and the outputs are returned in their declared types.
    A 16-bit precision is written to the module (`train.precision`); fp32
    changes nothing.

    ```mlir
    // ftc-opt --ftc-autocast='precision=bf16'
    %wb = train.cast %w : tensor<1024x784xf32> to tensor<1024x784xbf16>
    %xb = train.cast %x : tensor<128x784xf32> to tensor<128x784xbf16>
    %h = train.linear %xb, %wb : (tensor<128x784xbf16>, tensor<1024x784xbf16>) -> tensor<128x1024xbf16>
    ```
  }];
  let options = [
    Option<"precision", "precision", "std::string", /*default=*/"\"\"",
           "fp32, bf16 or fp16 (default: the model's train.precision, else fp32)">,
    Option<"rules", "autocast-rules", "std::string", /*default=*/"\"torch\"",
           "The autocast rules: torch (ftc's table, torch.autocast's choices) or a "
           "plugin's (ftc::AutocastRules)">,
  ];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def Optimizer : Pass<"ftc-optimizer", "::mlir::ModuleOp"> {
  let summary = "Builds the training step: gradients, then the optimizer update";
  let description = [{
    Adds `@step` (marked `train.step`): the forward and backward pass of the
    function `ftc-autodiff` derived, then one `train.adamw_update` or
    `train.sgd_update` per parameter with a gradient, on optimizer state kept
    in `train.slot`s beside the parameters, written back with
    `train.set_param`. The updates are numbered t = n + 1 (1 on the first
    step) from the number n of updates taken, kept as `train.state
    @optim.step`, which the step advances. It returns the loss.

    Also `@accumulate` (the gradients added to running sums) and `@apply`
    (the updates from the sums): there each parameter's update runs under
    `scf.if` on its setting `optim.owned.<param>` (i64, 1 in a new state),
    so that a sharded optimizer (ZeRO stage 1: each rank updates its part)
    touches no optimizer state of the parameters it does not update
    (unless `guard-updates=false`).

    The settings come from the module's `train.optimizer`, then from these
    options where given; the resolved settings are written back to the
    module. A number left at `nan` and a string left empty mean "not given"
    (so a printed pipeline replays as it ran); a given number must be
    non-negative, `optimizer` adamw or sgd and `nesterov` true or false,
    which is checked when the options are parsed, before anything runs.
    Settings the module's optimizer does not have (momentum for AdamW, say)
    are an error when the pass runs.

    These options are declared here only: the `ftc-training-step` and
    `ftc-cpu` pipelines take them as one string (`optimizer-options`), and
    `ftc` offers each as a flag of its own (`ftc --lr=0.1`).

    ```mlir
    // ftc-opt --ftc-autodiff --ftc-optimizer='optimizer=sgd lr=0.1 momentum=0.9'
    module attributes {train.optimizer = #train.sgd<lr = 0.1, momentum = 0.9, dampening = 0.0, weight_decay = 0.0, nesterov = false>} {
    ```
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"\"",
           "adamw or sgd (default: the model's train.optimizer, else adamw)">,
    Option<"lr", "lr", "double", /*default=*/"kNotGiven", "Learning rate">,
    Option<"beta1", "beta1", "double", /*default=*/"kNotGiven", "AdamW beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"kNotGiven", "AdamW beta2">,
    Option<"eps", "eps", "double", /*default=*/"kNotGiven", "AdamW epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"kNotGiven",
           "Weight decay (decoupled for AdamW)">,
    Option<"momentum", "momentum", "double", /*default=*/"kNotGiven", "SGD momentum">,
    Option<"dampening", "dampening", "double", /*default=*/"kNotGiven", "SGD dampening">,
    Option<"nesterov", "nesterov", "std::string", /*default=*/"\"\"",
           "SGD Nesterov momentum: true or false">,
    Option<"clipGradNorm", "clip-grad-norm", "double", /*default=*/"kNotGiven",
           "Clip the gradients' global 2-norm at this bound, as "
           "torch.nn.utils.clip_grad_norm_ (inf: report the norm, clip nothing)">,
    Option<"decayParams", "decay-params", "std::string", /*default=*/"\"\"",
           "The parameters weight decay applies to: all (the default), matrices "
           "(rank 2 and more: not biases or norms' gains), none, or a regex "
           "searched in the names">,
    Option<"lrScale", "lr-scale", "std::string", /*default=*/"\"\"",
           "Per-group learning-rate multipliers, REGEX=FACTOR[,REGEX=FACTOR...]: "
           "a parameter takes the first whose regex its name contains">,
    Option<"guardUpdates", "guard-updates", "bool", /*default=*/"true",
           "true (the default): each update under its optim.owned setting, for a "
           "sharded optimizer; false: unconditional, as ftc builds it for CUDA, which "
           "has no sharded optimizer yet">,
  ];
  let dependentDialects = ["::ftc::train::TrainDialect", "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"];
}

def LossScale : Pass<"ftc-loss-scale", "::mlir::ModuleOp"> {
  let summary = "Dynamic loss scaling (GradScaler), decided inside the step";
  let description = [{
    fp16 gradients underflow where f32 ones would not: the loss is scaled
    before the backward pass and the gradients unscaled after it, as
    `torch.cuda.amp.GradScaler` does, with its defaults. After
    `ftc-optimizer`, on the gradient function and the step:

    - the backward pass is seeded with the scale (`train.state
      @grad_scaler.scale`, f32) in place of 1 (autodiff's seed, marked
      `train.loss_seed`);
    - each gradient is multiplied by 1 / scale;
    - in the step, one `train.all_finite` over all the gradients decides:
      every update (`if %finite`) and the step counter keep their old
      values, bit for bit, when a gradient is inf or NaN;
    - `train.update_loss_scale` backs the scale off, or grows it after
      `growth-interval` finite steps in a row (`train.state
      @grad_scaler.growth_tracker`).

    Nothing leaves the step: the decision needs no host. With
    `loss-scale=dynamic`, or for fp16 (`train.precision`) unless
    `loss-scale=none`; the settings are recorded on the module as
    `train.loss_scale`.
  }];
  let options = [
    Option<"mode", "loss-scale", "std::string", /*default=*/"\"\"",
           "dynamic or none (default: dynamic for fp16, else none)">,
    Option<"initScale", "loss-scale-init", "double", /*default=*/"65536.0",
           "the first loss scale (GradScaler's init_scale)">,
    Option<"growthFactor", "loss-scale-growth-factor", "double", /*default=*/"2.0",
           "multiplies the scale after growth-interval finite steps (> 1)">,
    Option<"backoffFactor", "loss-scale-backoff-factor", "double", /*default=*/"0.5",
           "multiplies the scale after a step with an inf or NaN gradient (in (0, 1))">,
    Option<"growthInterval", "loss-scale-growth-interval", "int64_t",
           /*default=*/"2000", "finite steps in a row before the scale grows">,
  ];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def CheckNumerics : Pass<"ftc-check-numerics", "::mlir::ModuleOp"> {
  let summary = "Reports the first op of a step that made an inf or a NaN (ftc --check-numerics)";
  let description = [{
    Runs after ftc-optimizer. In the gradient function and the step, every
    train op of the forward and the backward that computes a float tensor
    (not the reads of parameters, views, moves, constants) is followed by a
    `train.note_nonfinite` check, numbered from 1 in program order and
    chained: the chain's value is the number of the first check that saw an
    infinity or a NaN, or 0. Each function writes it to the new state
    `numerics.first`; in the step, the optimizer updates and the step
    counter apply only where it is 0 (`train.nothing_noted`), so a step
    that meets an inf or a NaN leaves the state as it was. The module's
    `ftc.numerics` lists the checks ("train.log in the forward at
    model.mlir:6:11"), and the runtime turns a non-zero value into an error
    with that text. Dynamic loss scaling, whose steps meet infinities by
    design, is an error.

    ```mlir
    %l0 = train.log %w : tensor<4xf32>
    %first1 = train.note_nonfinite %first0, %l0 id 1 : tensor<4xf32>
    ...
    train.set_param @numerics.first, %firstN : tensor<i64>
    ```
  }];
  let dependentDialects = ["::ftc::train::TrainDialect", "::mlir::arith::ArithDialect"];
}

def BindAbi : Pass<"ftc-bind-abi", "::mlir::ModuleOp"> {
  let summary = "Parameters, slots, inputs and results become buffer arguments";
  let description = [{
    Fixes the buffer layout every entry point of the compiled step shares:
    parameters, slots and states in declaration order, the batch inputs,
    the loss, then the gradients. Records it on the module as
    `ftc.abi` (one dictionary per buffer: kind, name, type, and for
    parameters init and trainable) and rewrites the loss function (entry
    `eval`), the gradient function (`grad`) and the step (`step`) to take
    memref arguments (their layout indices in `ftc.abi_indices`) and return
    nothing: reads become `bufferization.to_tensor`, writes and results
    `bufferization.materialize_in_destination`. The train.param and
    train.slot declarations are gone afterwards.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect"];
}

def ExpandComposites : Pass<"ftc-expand-composites", "::mlir::func::FuncOp"> {
  let summary = "Expands composite train ops into the train ops they stand for";
  let description = [{
    `train.attention` becomes softmax(mask(q k^T * scale)) v and
    `train.attention_grad` the backward of that, recomputing the
    probabilities, in train.matmul, train.softmax, train.causal_mask and
    elementwise ops, exactly as the unfused ops a model could have written
    (so both compute the same bits). Runs before ftc-convert-train-to-linalg,
    which has no lowering for composite ops.

    ```mlir
    %o = train.attention %q, %k, %v causal : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    // becomes
    %s = train.matmul %q, %k transpose_rhs : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x8xf32>
    %c = train.fill 4.0 : tensor<f32>
    %d = train.div %s, %c : (tensor<2x8x8xf32>, tensor<f32>) -> tensor<2x8x8xf32>
    %m = train.causal_mask %d : tensor<2x8x8xf32>
    %p = train.softmax %m : tensor<2x8x8xf32>
    %o = train.matmul %p, %v : (tensor<2x8x8xf32>, tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
    ```
  }];
  let dependentDialects = ["::ftc::train::TrainDialect"];
}

def UnshareDestinations : Pass<"ftc-unshare-destinations", "::mlir::func::FuncOp"> {
  let summary = "Gives every writer of a shared empty or filled tensor its own, before bufferization";
  let description = [{
    Runs on tensors, right before one-shot bufferization. CSE merges equal
    `tensor.empty`, `bufferization.alloc_tensor` and `linalg.fill` ops, so
    that one zero-filled tensor becomes the destination of, say, every
    attention's scores, forward and backward; bufferization then writes one
    of them in place in the buffer allocated where the shared tensor is
    defined (often the last writer, in the backward) and copies for the
    others. This pass clones the chain (allocation, `tensor.expand_shape`
    or `tensor.collapse_shape`, fill) before each op that reads it (or that
    op's ancestor in the chain's block), so that every buffer is allocated
    where it is first written and the memory plan sees its true lifetime.

    ```mlir
    // before
    %e = tensor.empty() : tensor<4x8xf32>
    %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x8xf32>) -> tensor<4x8xf32>
    %a = linalg.matmul ins(%x, %y : ...) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
    %b = linalg.matmul ins(%u, %v : ...) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
    // after: an empty tensor and a fill before each product
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def PlanMemory : Pass<"ftc-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Places every temporary of a step at a fixed offset of one workspace";
  let description = [{
    Runs after bufferization and deallocation (and optimize-allocation-liveness). In
    each entry point, every top-level `memref.alloc` of a static buffer
    freed by one top-level `memref.dealloc` becomes a `memref.view` of one
    workspace at a byte offset fixed here, and its dealloc goes: two
    temporaries share bytes only if their lifetimes do not overlap (greedy
    placement, largest first, at the lowest free offset, 64-byte aligned).
    The workspace is a new ABI buffer (`kind = "workspace"`, `i8`), passed
    last to every entry point and allocated once with the state. The
    module's `ftc.memory` records the bytes of the state's buffers by kind
    (param, grad, slot, input, output, workspace, ...) and the allocations
    left to run time (`heap_allocations`), which `ftc --report` prints.

    ```mlir
    // before: %0 = memref.alloc() : memref<128x1024xf32> ... memref.dealloc %0
    %0 = memref.view %workspace[%c524288][] : memref<1048576xi8> to memref<128x1024xf32>
    ```
  }];
  let options = [
    Option<"allowHeap", "allow-heap", "bool", /*default=*/"true",
           "leave the allocations the plan cannot place to run time (false: an "
           "error, as on a GPU)">,
  ];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GradReadyHooks : Pass<"ftc-grad-ready-hooks", "::mlir::ModuleOp"> {
  let summary = "Tells the runtime when each gradient of the accumulate entry is final";
  let description = [{
    Runs on buffers (after bufferization; ftc runs it after the memory
    plan). In the entry point `accumulate` (`ftc.entry`), after the last
    top-level op that touches a gradient buffer (the buffer or a view of
    it: an ABI buffer of kind "grad"), adds `func.call
    @ftcrt_grad_ready(%index)`, the buffer's index in the layout; and
    records the gradients in the order the calls run as the module's
    `ftc.grad_ready` (ABI indices), which the model description carries
    as `grad_ready`. The runtime keeps the gradients in that order, so that
    data parallelism (`ftc_set_comm`) sums runs of them in place and starts
    each run's all-reduce while the backward goes on: the order in which
    the backward finishes the gradients is known here, at compile time.
    Without a communicator the calls return at once. A module without an
    accumulate entry is left as it is.

    ```mlir
    linalg.generic ... outs(%grad_w1 : memref<128x784xf32>)
    %c7 = arith.constant 7 : i32
    func.call @ftcrt_grad_ready(%c7) : (i32) -> ()
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::arith::ArithDialect"];
}

def ParallelToOpenMP : Pass<"ftc-parallel-to-openmp", "::mlir::ModuleOp"> {
  let summary = "Runs scf.parallel loops on an OpenMP team, partitioned by ftc";
  let description = [{
    Each outermost `scf.parallel` (without reductions) becomes an
    `omp.parallel` region in which thread t of n runs iterations t, t + n,
    ... of the flattened iteration space (`omp_get_thread_num`,
    `omp_get_num_threads`). Upstream's `convert-scf-to-openmp` emits a
    worksharing loop instead, whose scheduler in libomp allocates heap
    memory on every loop; a step promises to allocate nothing.
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::scf::SCFDialect"];
}

def OutlineLoopNests : Pass<"ftc-outline-loop-nests", "::mlir::ModuleOp"> {
  let summary = "Moves each top-level loop nest into its own function";
  let description = [{
    Runs on loops over buffers (after convert-linalg-to-loops). Every
    top-level `scf.for` or `scf.parallel` of a function body becomes a private function
    `<function>_nest<N>`, marked `noinline` for LLVM, called in its place. Values the
    nest uses are passed as arguments, except side-effect-free ops without
    regions (constants, subviews, reshapes), which are cloned into the new
    function so that LLVM still sees constant trip counts and strides.

    The reason is compile time: LLVM's loop passes (IndVarSimplify above
    all) grow faster than linearly with the size of one function, and the
    backward pass of a transformer is one function with thousands of loop
    nests. A nest whose captured buffers cannot be passed as bare pointers
    (dynamic shapes or layouts) stays where it is. Nests that outline to the
    same function (same signature and body: the same op in every layer of
    a model) share one.
  }];
  let options = [
    Option<"minNests", "min-nests", "unsigned", /*default=*/"2",
           "Outline only in functions with at least this many nests">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def EmitEntryPoints : Pass<"ftc-emit-entry-points", "::mlir::ModuleOp"> {
  let summary = "Adds the C entry points and the model description to LLVM IR";
  let description = [{
    Runs on the LLVM dialect. For every function marked `ftc.entry = "x"`
    adds `void ftc_entry_x(void **buffers)`, which passes
    `buffers[ftc.abi_indices[i]]` as argument i; and serializes `ftc.abi` as
    JSON into the constant string `ftc_model_json`, which the runtime reads.
    Private functions with bodies (the implementations, outlined loop nests)
    get internal linkage: the library exports the C ABI and nothing else.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ApproximateMath : Pass<"ftc-approximate-math"> {
  let summary = "Replaces f32 tanh, exp and erf by inline polynomial approximations";
  let description = [{
    A libm call per element keeps a loop from being vectorized: LLVM
    scalarizes `llvm.tanh.v8f32` into eight calls to `tanhf`, and GELU's tanh
    and softmax's exp took a fifth of a gpt2-tiny step that way. Upstream's
    polynomial approximations (`populateMathPolynomialApproximationPatterns`,
    a few ulp from the correctly rounded result) are plain arithmetic that
    vectorizes. Upstream has the patterns but no pass that applies them.
    f32 tanh is ftc's own, within about 1 ulp: x + x^3 q(x^2) below |x| = 1,
    1 - 2 / (1 + exp(2|x|)) with x's sign above; upstream's rational
    interpolant is up to 4 ulp off, and the derivative 1 - tanh^2 cancels
    where tanh nears 1 (gradients through tanh and GELU at 4-7x PyTorch
    float32's error). `ops` lists the math ops to approximate by name.
  }];
  let options = [
    ListOption<"ops", "ops", "std::string",
               "math ops to approximate (default: math.tanh, math.exp, math.erf)">,
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def CpuTileAndFuse : Pass<"ftc-cpu-tile-and-fuse", "::mlir::func::FuncOp"> {
  let summary = "Elementwise and reduction ops in parallel blocks, producers fused";
  let description = [{
    Runs on tensors, after ftc-cpu-tile-contractions and elementwise fusion.
    Takes the linalg ops left at the function's top level from the last
    back: each becomes an `scf.forall` over blocks of its outer parallel
    loops (about `block-elements` iterations per block, the tile dividing
    the loop) with TilingInterface, and the elementwise and reduction ops
    that produce its operands are fused into the block
    (`scf::tileConsumerAndFuseProducersUsingSCF`). A softmax (row max, sum
    of exponentials, the normalized row), a layer norm or a cross-entropy
    thus reads each row from memory once and finishes it while it is in
    cache, and the blocks run on all threads. A producer is fused only where
    the block needs a part of it (a bias every row reads is left outside, as
    fusing it would recompute it per block); one that other ops read too is
    computed in the block and yielded for them. Blocks split parallel loops
    only, so each reduction still runs whole and in order on one thread:
    results do not depend on the number of threads. First, an op in a
    parallel block whose destination elementwise fusion replaced with an
    empty tensor writes into the loop's result again (else bufferization
    would allocate its part in every block).
  }];
  let options = [
    Option<"blockElements", "block-elements", "int64_t", /*default=*/"8192",
           "iterations per parallel block (a cache-sized unit of work)">,
  ];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect"];
}

def CpuTileContractions : Pass<"ftc-cpu-tile-contractions", "::mlir::func::FuncOp"> {
  let summary = "Packs, tiles and vectorizes the matrix products for a CPU";
  let description = [{
    Runs on tensors, before bufferization. Every f32 contraction with one m,
    n and k dimension (and any batch dimensions; `linalg.contract`,
    `linalg.matmul`, ...) gets its operands packed with `linalg.pack` into
    [batch..., M/MR, K, MR] and [batch..., N/NR, K, NR] panels (zero-padded
    where the tile does not divide), C viewed (or, when the tile does not
    divide it, packed) as register blocks, and a product over the packed
    operands tiled with TilingInterface into blocks of C that run in
    parallel (`scf.forall` over batch, M and N: one thread sums a whole
    block over k, so results do not depend on the thread count), k cache
    blocks, MR x NR register blocks and a k step of up to 4, vectorized,
    with the block of C hoisted out of the k loop. The packs are tiled and
    vectorized too; one of 64K elements or more is first split along its
    rows into about 16 parallel blocks (a copy: the same bits on any number
    of threads). Sums still run over k in order, with fused multiply-adds.

    An elementwise op on a product (an activation, attention's scale and
    mask) runs in the product's parallel blocks, on each block of C once it
    is summed, when the product (with a register tile that divides it) is
    read elsewhere too, as an activation's input is by the backward pass:
    the op is rewritten over the register-block view of C (through the
    reshape a linear layer's [B T, N] takes to [B, T, N] when it is the op's
    only operand) and fused as a consumer (`scf::tileAndFuseConsumer`).

    bf16 x bf16 products (f32 C) on an instruction set with AVX512_BF16
    (`isa=avx512bf16`) sum k in pairs with vdpbf16ps instead of widening
    each element: B packed into [batch..., N/NR, K/2, NR, 2], A viewed (or
    packed) as [batch..., M/MR, MR, K/2, 2] (the VNNI layout), and the
    register block's contraction lowered by x86vector's patterns to
    `x86vector.avx512.dot`, one per row of A and 16 columns of B. Rows split
    off an M the register tile does not divide widen as before.

    The tile sizes come from the instruction set (`isa`): see
    `ftc/Codegen/CpuTiles.h`. Contractions the schedule does not apply to
    (dynamic shapes, other element types, an operand broadcast along a batch
    dimension) are left as they are.

    ```mlir
    // ftc-opt --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx2}))'
    %p = linalg.pack %w inner_dims_pos = [0] inner_tiles = [16] into %e
        : tensor<1024x784xf32> -> tensor<64x784x16xf32>
    ```
  }];
  let options = [
    Option<"isa", "isa", "std::string", /*default=*/"\"avx2\"",
           "instruction set whose tile sizes to use: avx512bf16, avx512, avx2 or generic">,
    Option<"mr", "mr", "int64_t", /*default=*/"0",
           "register tile rows, replacing the instruction set's (with nr)">,
    Option<"nr", "nr", "int64_t", /*default=*/"0",
           "register tile columns, replacing the instruction set's (with mr)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::x86vector::X86VectorDialect"];
}

//===----------------------------------------------------------------------===//
// CUDA
//===----------------------------------------------------------------------===//

def GpuFuseElementwise : Pass<"ftc-gpu-fuse-elementwise", "::mlir::ModuleOp"> {
  let summary = "Upstream's elementwise fusion of linalg ops, products kept whole";
  let description = [{
    The CUDA target's `linalg-fuse-elementwise-ops`: the same patterns
    (elementwise producers into their consumers, reshapes folded by
    expansion, constants folded), with one more condition: no producer is
    fused into a product (a consumer `linalg::isaContractionOpInterface`
    accepts). Fused, a product is no longer one cuBLASLt can run
    (`ftc-gpu-library-contractions`) but a kernel with a thread per output
    element, each recomputing its producer along the reduced dimension:
    a forward-only entry's layer norm fused into the LM head made a
    50257 x 768 product of gpt2-small a CUDA-core kernel. On the CPU the
    products are tiled before fusion, so upstream's pass is used there.
    A producer fuses only into its one user, as upstream's pass does,
    except a cheap one (one input read whole, scalars and broadcasts
    besides, a few ops: a cast, a scale and mask, a layer norm backward's
    x̂ = (x - mean) rstd and dy w), which is copied into each of its
    consumers first (one that reads a broadcast only where every user
    takes a copy, so that it is not written all the same); it is also moved past the reshapes it is read through
    where each broadcast's dimensions are whole groups of the reshape's
    (the means of [batch, T] expanded with it), and one that computes each
    element from that element of its input alone is computed for each
    element `tensor.extract` takes of it. A rounding of a product's f32
    sums counts as cheap: the product then writes them rounded
    (`ftc-gpu-library-contractions`).
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::affine::AffineDialect"];
}

def GpuFuseAttention : Pass<"ftc-gpu-fuse-attention", "::mlir::func::FuncOp"> {
  let summary = "Rewrites 16-bit attention into the fused ops the CUDA target runs as kernels";
  let description = [{
    Runs on train ops, before `ftc-expand-composites`, for the CUDA target.
    A `train.attention` whose q, k and v are bf16 or f16 of one shape
    `[..., T, D]` (T and D multiples of 16, D at most 128) becomes
    `train.fused_attention`, which also keeps each row's log-sum-exp; its
    `train.attention_grad` becomes `train.fused_attention_grad` reading
    that log-sum-exp and `delta = rowsum(grad * out)` (train ops, in f32).
    A gradient whose forward op is not found before it (the same q, k, v,
    causal and scale) runs the fused forward again for its log-sum-exp.
    Other attention is left to `ftc-expand-composites`. The `[..., T, T]`
    scores are then never in memory: `ftc-gpu-attention-kernels` makes
    each fused op a kernel that keeps them in registers.

    ```mlir
    %y = train.attention %q, %k, %v causal : (tensor<8x4x128x64xbf16>, ...) -> tensor<8x4x128x64xbf16>
    // becomes
    %y, %lse = train.fused_attention %q, %k, %v causal outs(%e0, %e1) : ...
    ```
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def GpuAttentionKernels : Pass<"ftc-gpu-attention-kernels", "::mlir::ModuleOp"> {
  let summary = "Runs the fused attention ops on buffers as tensor-core kernels";
  let description = [{
    Runs after bufferization, before `ftc-gpu-map-loops`. Flash attention
    (Dao, 2023) on each warp's 16 rows, with `mma.sync.m16n8k16` (bf16 or
    f16 operands, f32 sums) and the fragment layouts of the PTX ISA:

    - `train.fused_attention`: a warp keeps 16 queries' rows of q in
      registers and walks the keys in tiles, the scores `S = q k^T` and
      the running maximum and sum of the softmax (online, rescaled as the
      maximum grows) in registers; the probabilities, rounded to 16 bits,
      become the A operand of `P v` without leaving them. Writes the output
      and each row's log-sum-exp.
    - `train.fused_attention_grad`, two kernels with no atomics (the same
      bits on every run): one warp per 16 keys walks the queries for
      `dk = dS^T q` and `dv = P^T grad`; one warp per 16 queries walks the
      keys for `dq = dS k`. Both recompute `P = exp(S - lse)`.

    A block's warps walk the other side together: each tile of it is
    copied once per block into shared memory (16-byte `cp.async` copies,
    double-buffered where two buffers fit in 48 KB, so that the next tile
    arrives while the warps compute on this one; rows padded by 16 bytes
    against bank conflicts), and the B fragments are read from there by
    `ldmatrix.x4` (`.trans` where the product reads the tile untransposed).
    A causal kernel visits only the tiles on or below the diagonal. With
    `emulate` (`ftc --cuda-emulate`), each launch "thread" is a whole warp
    whose values are `vector<32xT>` (one element per lane): shuffles are
    vector shuffles, `mma.sync` is its arithmetic and `ldmatrix` its
    exchange between lanes, each warp copying the tiles into buffers of its
    own, so that the kernels run on the CPU under `ftc-gpu-launch-to-loops`
    and are checked against the CPU step with the same fragment layouts.
    What the lanes do one at a time (loads, stores, `mma.sync`'s sums)
    reads and writes scratch buffers allocated around the launch, never a
    vector element at a lane index that is not a constant (which LLVM
    compiles as a copy of the whole vector to the stack).
  }];
  let options = [
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "one launch thread per warp, lanes as vector<32xT> (for ftc-gpu-launch-to-loops)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect", "::mlir::vector::VectorDialect",
                           "::mlir::LLVM::LLVMDialect", "::mlir::NVVM::NVVMDialect",
                           "::mlir::func::FuncDialect"];
}

def GpuPadProducts : Pass<"ftc-gpu-pad-products", "::mlir::func::FuncOp"> {
  let summary = "Pads the rows of the products' operands to 16 bytes, for cuBLASLt's fast kernels";
  let description = [{
    Runs on tensors, for the CUDA target with the products on cuBLASLt.
    Hopper's fastest cuBLASLt kernels read and write their matrices with
    the tensor memory accelerator, which needs every row to start on 16
    bytes; a product whose operand has rows of another length runs on an
    older kernel. gpt2's vocabulary is 50257: the LM head's logits, the
    logits' gradient (input of the two gradient products) have odd rows,
    and on an H200 those three products ran at 94 TFLOP/s in bf16.

    For each product (`linalg::isaContractionOpInterface`, two inputs)
    whose m, n or k dimension is an operand's innermost one and not a
    multiple of `multiple` elements, that dimension is padded with zeros in
    every operand that has it (`tensor.pad`), and the result sliced back
    (`tensor.extract_slice`, a view after bufferization). Zeros padded
    along k add exact zeros to each sum; rows or columns padded along m or
    n are computed and never read. A pad of an operand an elementwise op
    produces is fused into it (upstream's
    `populateFuseTensorPadWithProducerLinalgOpPatterns`): that op writes
    into the padded tensor, filled with zeros first. A kind of dimension
    made of several loops (a head's [h, d]) is left as it is.
  }];
  let options = [
    Option<"multiple", "multiple", "int64_t", /*default=*/"8",
           "the multiple of elements each padded dimension is rounded up to (8: 16 bytes of bf16)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuSplitReductions : Pass<"ftc-gpu-split-reductions", "::mlir::func::FuncOp"> {
  let summary = "Splits the step's reductions so that a GPU's threads read them coalesced";
  let description = [{
    Runs on tensors, after elementwise fusion, for the CUDA target. A
    reduction `ftc-gpu-map-loops` maps gives one thread a whole row: a
    bias gradient's few hundred threads each sum thousands of rows, a
    loss's one thread its 8192 tokens. A row reduction with rows enough
    (64 or more: a softmax's, a layer norm's) is left whole for
    `ftc-gpu-row-kernels`, which gives each row a warp (with `split-rows`,
    it is split as below). Upstream's `linalg::splitReduction` splits the
    others in two:

      - over the contiguous dimension (a row's sum): `ratio` (32) lanes,
        lane i summing elements i, i + 32, ... (neighbouring threads,
        neighbouring elements), then one thread per row adding the 32;
      - over another dimension (a column's sum): `ratio` runs of rows,
        each summed by its own thread per column, then added.

    Each partial sum is in order and the partials are added in order: the
    sums are blocked, as the numerical contract allows, and the same on
    every run. Only single-output reductions with one reduction dimension,
    no `linalg.index` and a combiner with an identity (addf, maximumf, ...)
    are split; products are left to `ftc-gpu-library-contractions`. A row
    `lanes` does not divide is split by its divisor nearest `lanes` (from
    half to twice): gpt2's 50257-long logits rows, 29 x 1733, get 29
    lanes. A reduction over several dimensions with fewer outputs than
    `min-threads` (a layer norm's weight gradient in the lowering's blocked
    order: 32 x 768) first keeps its outermost reduced dimension as outputs
    (partial results from the identity, then reduced in order): the
    upstream split takes one reduced dimension only.
  }];
  let options = [
    Option<"lanes", "lanes", "int64_t", /*default=*/"32",
           "partial sums of a contiguous reduction (a warp's threads)">,
    Option<"minThreads", "min-threads", "int64_t", /*default=*/"32768",
           "threads a strided reduction is split to reach">,
    Option<"splitRows", "split-rows", "bool", /*default=*/"false",
           "split the rows ftc-gpu-row-kernels would take (a warp per row) too">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuElideCopies : Pass<"ftc-gpu-elide-copies", "::mlir::ModuleOp"> {
  let summary = "Replaces copies and transposes between buffers by views of one of them";
  let description = [{
    Runs after `ftc-gpu-library-contractions`, before the kernels are made
    (CUDA). A copy (`memref.copy`, `linalg.copy`, a generic that yields its
    input) or `linalg.transpose` from a buffer `src` into `dst` goes, where
    one of two holds (in a function's body, straight-line):

    - `dst` is an allocation only the copy writes, read after it only
      through its layout (a destination-style op's input, a load; any use
      where the view has `dst`'s very type), and nothing writes `src`'s
      region while `dst` is read: `dst` becomes `src` (a plain copy) or
      `memref.transpose` of it, and `src`'s buffer lives as long as `dst`
      did (attention's q, k and v read in place from the qkv product's
      result);
    - `src` is an allocation (read as it is, or collapsed) that one
      destination-style op writes and others read only through layouts, and
      nothing touches `dst`'s region (its static slice of its allocation)
      between that write and the copy, or writes it while `src` is read:
      the op writes `dst` (expanded, or transposed back) instead
      (attention's output written in [batch, T, head, D] order, the
      gradients of q, k and v into their slices of one dqkv buffer).

    A buffer whose address a library call takes keeps its layout: it is
    replaced only by a view of its very type, and a call's output operand
    counts as a write.

    ```mlir
    // linalg.transpose ins(%qkv_q : memref<8x128x4x64xbf16, strided<...>>) outs(%q : memref<8x4x128x64xbf16>) permutation = [0, 2, 1, 3]
    // train.fused_attention %q, ...
    %q = memref.transpose %qkv_q (d0, d1, d2, d3) -> (d0, d2, d1, d3) : ...
    train.fused_attention %q, ...
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def GpuLibraryContractions : Pass<"ftc-gpu-library-contractions", "::mlir::ModuleOp"> {
  let summary = "Runs the step's matrix products with cuBLASLt (calls to the runtime)";
  let description = [{
    Runs after bufferization, before `ftc-gpu-map-loops`. Each linalg
    contraction on buffers whose batch, m, n and k dimensions each collapse
    into one stride per operand (a generic that elementwise fusion made of
    a product by folding reshapes in too), f32, bf16 or f16 operands
    and an f32 result, whose layouts cuBLAS can read (a unit stride in each
    matrix), becomes a call `ftcrt_gemm(desc, a, b, c, bias, aux)`: `desc` a constant
    array describing the product (`ftc/Codegen/Gemm.h`), the others the
    operands' addresses. A zero fill of the result (or of a reshape of it)
    right before the product becomes beta = 0. Where a 16-bit product's
    f32 result is a temporary only ever read rounded to the operands' type
    (and set before the product, if at all, by one generic storing values
    of that type extended: a bias), the buffer becomes one of that type:
    the product rounds each f32 sum once into it, the setter stores the
    values unextended, the readers read them without rounding. The runtime in step.so runs each call with cuBLASLt
    on the step's stream (tensor cores for bf16 and f16; f32 stays f32, no
    TF32), and on the CPU under `--cuda-emulate`. The products it cannot
    take stay linalg ops, which become kernels.

    With `bias-epilogue` (`--cuda-bias=epilogue`, the default), a bias
    broadcast into the result right before the product (a generic writing
    every element from a vector at its innermost index, possibly cast: a
    linear's bias under its rows) goes: cuBLASLt adds it in the product
    (`CUBLASLT_EPILOGUE_BIAS`, beta 0), each f32 sum plus its bias rounded
    once, as before. The bias is passed as a vector of the result's type:
    the vector itself where it is one, else one a small kernel computes (at
    the function's start where it reads an argument: a parameter's bias
    rounded to bf16). The result's rows must be contiguous and the product
    not batched; `bias` is 0 where there is none.

    With `gelu-epilogue` (`--cuda-gelu=epilogue`, the default), a GELU
    (tanh form) that reads the result right after the product goes too
    (an elementwise generic that ftc-convert-train-to-linalg marked
    `ftc.activation = "gelu_tanh"`, possibly with the rounding of its input
    fused in: ftc-gpu-fuse-elementwise keeps the mark through that fusion
    only): the product writes the GELU's output (`CUBLASLT_EPILOGUE_GELU`,
    with the bias `GELU_BIAS`), and, where another op reads the GELU's
    input (its gradient, in the backward), that input as cuBLASLt's aux
    matrix (`GELU_AUX`), of the output's type. Likewise the GELU's gradient
    dy gelu'(x) (`"gelu_tanh_grad"`) where dy is a product's result that
    nothing else reads: the product writes the gradient
    (`CUBLASLT_EPILOGUE_DGELU`, x as the aux matrix). The epilogue takes
    each f32 sum, not its rounding; the output and x must be laid out as
    the result (one leading dimension, a multiple of 8), the product not
    batched, summing from zero (beta 0), with 16-bit operands (cuBLASLt
    does not document its epilogue's tanh to f32 precision, which an
    fp32 step's parity with float64 needs). `aux`, the call's sixth
    operand, is 0 where there is none.

    ```mlir
    // linalg.fill ins(%zero) outs(%c); linalg.contract ins(%a, %b) outs(%c)
    %d = memref.get_global @ftc_gemm_0 : memref<19xi64>
    func.call @ftcrt_gemm(%dp, %ap, %bp, %cp, %c0, %c0) : (index, index, index, index, index, index) -> ()
    ```
  }];
  let options = [
    Option<"biasEpilogue", "bias-epilogue", "bool", /*default=*/"true",
           "a bias broadcast into a product's result before it added by cuBLASLt's epilogue instead">,
    Option<"geluEpilogue", "gelu-epilogue", "bool", /*default=*/"true",
           "a GELU (tanh) of a product's result, or its gradient, computed by cuBLASLt's epilogue instead of a kernel">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuRowKernels : Pass<"ftc-gpu-row-kernels", "::mlir::ModuleOp"> {
  let summary = "Runs a layer norm's, a softmax's or a cross-entropy's ops as one kernel, a warp per row, and a column's staged sums as one";
  let description = [{
    Runs after bufferization, before `ftc-gpu-map-loops`. A row reduction
    (one output, the last loop reduced, every other loop an output
    dimension: a row's sum or maximum; `ftc-gpu-split-reductions` leaves
    these whole) and the ops around it that iterate the same rows become
    one `gpu.launch` in which each warp owns a row and runs the ops in
    turn, with a `bar.warp.sync` between them:

      - an op along the row: lane l takes elements l, l + 32, ...
        (neighbouring lanes, neighbouring elements); the first half of
        one of the lowering's blocked sums ([rows, lanes] partial sums,
        each over the blocks of the row) the same, each lane walking the
        blocks of its elements in order;
      - a reduction whose combiner is exact in any order (a maximum, a
        minimum, integer arithmetic): lane l combines its elements in
        order from the identity, the 32 results are combined by a
        butterfly of shuffles (lane l with lane l ^ 16, ^ 8, ..., ^ 1) and
        lane 0 combines the total into the output;
      - a float sum of a row no longer than 1024 (the lowering's blocked
        sums are all shorter): lane 0 adds it in the op's order, from the
        output's value. The GPU adds what the CPU adds, in the same
        order: the same bits;
      - an op with one element per row: lane 0.

    A group is a run of consecutive ops (allocations, deallocations and
    views aside) whose loops are the rows (their sizes multiplying to the
    reduction's row count) and at most one loop along the row, each
    touching a buffer one of them writes only in its warp's own row: seen
    through reshapes alone, indexed by the row loops in its leading
    dimensions. What one op writes, the next reads back from the cache in
    the same warp: a layer norm's forward (residual add, blocked sums of
    the mean and the variance, normalization) is one kernel, not six. The
    ops at a group's ends that share no buffer with the rest are left to
    `ftc-gpu-map-loops`. An op a few places on that reads what a group
    wrote, and is independent of the ops between, moves up into it (a
    layer norm's input gradient, past its weight's gradient sums).

    Then column kernels: a run of consecutive ops whose last loop is the
    same columns, each output indexed by the column last, few outputs
    for each column (at most 2 for each thread of its groups), two of
    them or more reductions, each touching a buffer one of them writes
    only in its own columns (a bias gradient: the sum of the lowering's
    blocked partial sums, the rows left over, the gradient's
    accumulation), become one `gpu.launch`: a block per 16 (or 32)
    columns, its 256 threads in groups sharing out each op's other
    parallel iterations, each walking the reduced loops in order (the sums
    of a thread per output element), a `gpu.barrier` between ops. The
    blocked partial sums themselves, many for each column (gpt2-small's:
    96 or 256 for each of 768 columns), stay out: a kernel of their own
    with a thread per sum (`ftc-gpu-map-loops`) keeps the whole GPU
    busy, where the column kernel's blocks (48 for 768 columns) would
    not. A bias gradient is two kernels, not four.

    With `emulate`, a launch thread is a warp that runs its lanes one after
    the other (a column that runs its groups' iterations one after the
    other): the same arithmetic in the same order, for
    `ftc-gpu-launch-to-loops`.

    ```mlir
    // linalg.fill %s; linalg.generic {iterator_types = ["parallel", "reduction"]}
    //   ins(%x : memref<8192x768xf32>) outs(%s : memref<8192xf32>)
    gpu.launch blocks(%b, ...) in (%nb = %c2048, ...) threads(%t, ...) in (%nt = %c128, ...) {
      // row = b * 4 + t / 32, lane = t % 32: lane's sum, 5 shuffles, lane 0 stores
    }
    ```
  }];
  let options = [
    Option<"warpsPerBlock", "warps-per-block", "int64_t", /*default=*/"4",
           "rows (warps) of a block">,
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "one launch thread per warp, its lanes in turn (for ftc-gpu-launch-to-loops)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect",
                           "::mlir::affine::AffineDialect", "::mlir::vector::VectorDialect",
                           "::mlir::NVVM::NVVMDialect"];
}
def GpuMapLoops : Pass<"ftc-gpu-map-loops", "::mlir::ModuleOp"> {
  let summary = "Runs every op of a step on buffers in a GPU kernel (gpu.launch)";
  let description = [{
    Runs after bufferization, before the memory plan (which then places the
    scalars it spills). Each linalg op (and `memref.copy`) becomes loops,
    its parallel dimensions outermost; each top-level `scf.parallel` a
    `gpu.launch` over its flattened iteration space (one iteration per
    thread, `threads-per-block` threads per block, the innermost dimension
    fastest, a guard for the last block); a run of other ops that touch
    memory (serial loops, the optimizer's scalar code) a single-thread
    launch, whose scalars later kernels read through one-element buffers.
    A serial `scf.for` around parallel loops stays on the host. Views are
    cloned into the kernels that use them: kernels take whole buffers. The
    module becomes a `gpu.container_module` for `gpu-kernel-outlining`.
    A constant fill of a reduction's result right before it, where the
    reduction writes every element, is folded into it (each element starts
    from the constant at the first reduced index): no fill kernel. An
    elementwise nest (no loops or branches in its body) whose innermost
    dimension is a multiple of 8 or 4 gives each thread 8 (where every
    vector is of a 16-bit type) or 4 neighbouring iterations, and its
    loads and stores along that dimension become one
    `vector.load`/`vector.store` (aligned to at most 16 bytes: 8 bf16, 4
    f32, 4 bf16 beside f32) on buffers that start on 64 bytes (every buffer but the
    entry point's inputs: `ftc.abi_indices` and `ftc.abi` say which) at
    layouts that keep the vectors aligned; other accesses stay one element
    each.
    A serial loop around a column loop (a scatter-add, `out[idx[p], c] +=
    g[p, c]`: an embedding's gradient) becomes a thread per column that
    runs the positions in order: each element's sums the serial loop's,
    with no atomics. Where the row `idx[p]` is computed before the column
    loop, the table's rows are split into runs too (a thread per run and
    column, about 65,536 in all), and a first kernel writes for each run
    and each 32 positions a mask of those whose row is in the run
    (`[runs, positions / 32]` i32, freed after the second kernel), which
    the second walks lowest bit first (`math.cttz`).

    ```mlir
    // scf.parallel (%i, %j) = (%c0, %c0) to (%c128, %c10) step (%c1, %c1) {...}
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c5, ...) threads(%tx, %ty, %tz) in (%nx = %c256, ...) {
      // %lin = %bx * 256 + %tx; if %lin < 1280: %i = %lin / 10, %j = %lin % 10
    }
    ```
  }];
  let options = [
    Option<"threadsPerBlock", "threads-per-block", "int64_t", /*default=*/"256",
           "threads of a block of a parallel kernel">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuFuseLaunches : Pass<"ftc-gpu-fuse-launches", "::mlir::ModuleOp"> {
  let summary = "Runs independent neighbouring kernels as one launch (the optimizer's updates)";
  let description = [{
    Runs after `ftc-gpu-map-loops`. A run of `gpu.launch` ops with nothing
    but pure host ops (their sizes), allocations (their outputs: they move
    up before it) and deallocations between them (the fused launch is
    where the first was), with one-dimensional blocks,
    none writing a buffer another reads or writes, becomes one launch: its
    blocks the largest of theirs (a launch of smaller blocks runs in the
    first threads of each, the others idle), its grid the sum of theirs,
    block b running the
    body of the launch whose blocks b falls in, with b less that launch's
    offset as its block id; a block finds that launch by bisection on the
    offsets (log2 of the launches' number of comparisons). The optimizer's update of every parameter (one
    kernel each: AdamW's p, m and v) is one multi-tensor kernel, one launch
    instead of one per parameter, as PyTorch's `foreach` and fused AdamW;
    so are the step's 16-bit copies of its weights and biases.
    Each thread computes what it computed before: the numbers do not change.
    A fused kernel takes at most 400 parameters (PTX 7.8 allows 4352
    bytes of them); a longer run is split.

    ```mlir
    gpu.launch blocks(...) in (%gx = %c4096, ...) threads(...) in (%bx = %c256, ...) {A}
    gpu.launch blocks(...) in (%gx = %c128, ...) threads(...) in (%bx = %c256, ...) {B}
    // becomes
    gpu.launch blocks(%b, ...) in (%gx = %c4224, ...) threads(...) in (%bx = %c256, ...) {
      scf.if (%b < 4096) {A} else {B with %b - 4096}
    }
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect"];
}

def GpuMergeKernels : Pass<"ftc-gpu-merge-kernels", "::mlir::ModuleOp"> {
  let summary = "Moves the outlined kernels into one gpu.module, each distinct one once";
  let description = [{
    Runs after `gpu-kernel-outlining`, which makes one `gpu.module` per
    launch. Every kernel moves into one module, `@ftc_kernels`, and a kernel
    whose body and attributes equal an earlier one's (the same op in every
    layer of a model) is dropped for that one; the launches are renamed. One
    module is compiled to PTX and loaded by the runtime.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def GpuBindLaunches : Pass<"ftc-gpu-bind-launches", "::mlir::ModuleOp"> {
  let summary = "Binds kernel launches and the kernels' binary to the runtime in step.so";
  let description = [{
    Runs after `gpu-module-to-binary` and `gpu-to-llvm`. The `gpu.binary`
    becomes constant globals (`ftcrt_cuda_image`, its size and format, and
    `ftcrt_cuda_kernels`, the kernels' names by number), and each
    `gpu.launch_func` a call to `ftcrt_cuda_launch(kernel, grid, block,
    shared bytes, args)` with its arguments in a stack struct allocated in
    the function's entry block (see `ftc/Codegen/CudaRuntimeAbi.h`). The
    runtime loads the module once per state with the driver API and
    launches on the state's stream; upstream's translation would load and
    unload the module and synchronize a new stream around every launch.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def GpuLaunchToLoops : Pass<"ftc-gpu-launch-to-loops", "::mlir::ModuleOp"> {
  let summary = "Runs gpu.launch bodies as loops on the host (the CUDA target, emulated)";
  let description = [{
    Each `gpu.launch` becomes six nested `scf.for` loops over its blocks and
    threads (x, y, z), its body inside with the block and thread ids the
    loops' induction variables. Kernels with barriers, shared memory or
    async tokens are refused. With it, `ftc --target=cuda --cuda-emulate`
    compiles the CUDA target's kernels for the CPU: what ftc-gpu-map-loops
    computes can be compared with the CPU step on a machine without a GPU.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::arith::ArithDialect"];
}

#endif // FTC_TRANSFORMS_PASSES_TD
