#!/usr/bin/python3
"""Random models: ftc's gradients against PyTorch's in float64.

  models.py WORKDIR FIRST [COUNT] [--keep] [--blocks] [--bits] [--lora] [FTC FLAGS...]

Draws COUNT models (default 1) from the seeds FIRST, FIRST + 1, ...: a chain
of train ops (an embedding or an input, then linears, elementwise ops, layer
norms, softmaxes, causal attention through split, reshape and transpose,
splits and concats, residual adds, broadcasts of parameters; from seed 1000
on also means over the tokens, row maxima and batched products; from seed
2000 on half the models have more attention, at shapes the GPU's fused
kernels take) ending in a loss (cross-entropy, MSE, or a probe's weighted
sum). Shapes are drawn so that the products have tails (sizes that are no
multiples of the register tiles) and the elementwise ops several parallel
blocks. Each model is compiled with `ftc` (f32, the host's CPU, FTC FLAGS
added) and checked against the same model in PyTorch from the same
parameters and batch:

- the loss and every parameter's gradient under the numerical contract
  (DESIGN.md): within 1e-5 relative (the loss) and 2e-5 max|g64| (a
  gradient) of float64, or within 3x of PyTorch float32's own distance;
- the gradients bit-identical on 1, 2 and 3 threads;
- with --blocks, runs of the drawn ops outlined into functions the loss
  calls (the model's blocks): the same loss and gradients, to the bit, from
  steps compiled with --remat=blocks, --remat=sqrt and two memory budgets
  (the least feasible and one between it and the peak without recomputation),
  each budget's planned peak within it;
- with --bits, only the checks of bits (threads, --blocks), not PyTorch's
  numbers: for steps outside the contract's float32 (--precision=bf16);
- with --lora, the linear weights named as modules' (lN.weight) and LoRA
  settings drawn from the seed (some of the layers, rank 1-8, alpha, rsLoRA,
  DoRA, trainable biases): the reference adds the same adapters (PEFT's
  arithmetic, DoRA's norm detached), B and DoRA's magnitude moved off their
  initial values so that every adapter gradient counts.

Prints one line per model and a summary `N models: N ok`; a failing model's
file stays in WORKDIR (all of them with --keep), with the command that
replays it. Exits 1 on any failure.
"""
import os
import re
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402


def tensor_type(shape, elem="f32"):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elem + ">"


class Model:
    """A model being drawn: its MLIR text and the same ops on torch tensors."""

    def __init__(self, rng):
        self.rng = rng
        self.params = []  # (name, shape, init)
        self.inputs = []  # (name, shape, elem)
        self.body = []  # MLIR lines
        self.ops = []  # functions of env (name -> tensor), in order
        self.count = 0
        self.modules = []  # the linear layers, in order
        self.named = False  # linear weights named as modules' (lN.weight)
        self.segments = []  # where each drawn op's lines start in body, and their end

    def fresh(self):
        self.count += 1
        return f"%v{self.count}"

    def emit(self, line, fn):
        self.body.append("    " + line)
        self.ops.append(fn)

    def param(self, shape, mean=0.0, std=1.0, name=None):
        name = name or f"p{len(self.params)}"
        self.params.append((name, shape, f"#train.normal<mean = {float(mean)!r}, std = {float(std)!r}>"))
        v = self.fresh()
        self.emit(f"{v} = train.get_param @{name} : {tensor_type(shape)}",
                  lambda env, v=v, name=name: env.__setitem__(v, env["@" + name]))
        return v, shape

    def input(self, shape, elem="f32"):
        name = f"in{len(self.inputs)}"
        self.inputs.append((name, shape, elem))
        return "%" + name, shape

    # -- ops ---------------------------------------------------------------

    def linear(self, x, out, bias=None):
        (xv, xs) = x
        bias = self.rng.random() < 0.6 if bias is None else bias
        # Named as a module's (lN.weight, lN.bias) for LoRA, whose targets are modules.
        module = f"l{len(self.modules)}"
        self.modules.append(module)
        w = self.param([out, xs[-1]], std=1 / np.sqrt(xs[-1]),
                       name=f"{module}.weight" if self.named else None)
        b = self.param([out], std=0.1, name=f"{module}.bias" if self.named else None) \
            if bias else None
        y, ys = self.fresh(), xs[:-1] + [out]
        operands = [xv, w[0]] + ([b[0]] if b else [])
        types = [tensor_type(xs), tensor_type(w[1])] + ([tensor_type(b[1])] if b else [])

        def run(env):
            adapter = env.get(f"lora {module}")  # (scale s, DoRA or not)
            if adapter is None:
                env[y] = F.linear(env[xv], env[w[0]], env[b[0]] if b else None)
                return
            scale, dora = adapter
            a, up = env[f"@{module}.lora_A.weight"], env[f"@{module}.lora_B.weight"]
            out = F.linear(env[xv], env[w[0]]) + scale * F.linear(F.linear(env[xv], a), up)
            if dora:  # m / ||W + s B A|| per row, the norm detached (PEFT)
                norm = (env[w[0]] + scale * up @ a).detach().norm(dim=1)
                out = out * (env[f"@{module}.lora_magnitude_vector"] / norm)
            env[y] = out + env[b[0]] if b else out
        self.emit(f"{y} = train.linear {', '.join(operands)} : ({', '.join(types)}) -> "
                  f"{tensor_type(ys)}", run)
        return y, ys

    UNARY = {
        "tanh": torch.tanh,
        "gelu": lambda t: F.gelu(t, approximate="tanh"),
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
        "neg": torch.neg,
    }

    def unary(self, kind, x):
        (xv, xs) = x
        y = self.fresh()
        suffix = " tanh" if kind == "gelu" else ""
        fn = self.UNARY.get(kind, torch.exp)
        self.emit(f"{y} = train.{kind} {xv}{suffix} : {tensor_type(xs)}",
                  lambda env: env.__setitem__(y, fn(env[xv])))
        return y, xs

    def layer_norm(self, x):
        (xv, xs) = x
        w = self.param([xs[-1]], mean=1.0, std=0.1)
        b = self.param([xs[-1]], std=0.1)
        y = self.fresh()
        self.emit(f"{y} = train.layer_norm {xv}, {w[0]}, {b[0]} : ({tensor_type(xs)}, "
                  f"{tensor_type(w[1])}, {tensor_type(b[1])}) -> {tensor_type(xs)}",
                  lambda env: env.__setitem__(
                      y, F.layer_norm(env[xv], (xs[-1],), env[w[0]], env[b[0]], 1e-5)))
        return y, xs

    def softmax(self, x, log=False):
        (xv, xs) = x
        y = self.fresh()
        fn = F.log_softmax if log else F.softmax
        self.emit(f"{y} = train.{'log_softmax' if log else 'softmax'} {xv} : {tensor_type(xs)}",
                  lambda env: env.__setitem__(y, fn(env[xv], -1)))
        return y, xs

    BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}

    def binary(self, kind, a, b):
        (av, ash), (bv, bsh) = a, b
        y = self.fresh()
        fn = self.BINARY[kind]
        self.emit(f"{y} = train.{kind} {av}, {bv} : ({tensor_type(ash)}, {tensor_type(bsh)}) -> "
                  f"{tensor_type(ash)}",
                  lambda env: env.__setitem__(y, fn(env[av], env[bv])))
        return y, ash

    def reduce(self, kind, x, dim):
        """train.mean or train.max over `dim`, kept (size 1)."""
        (xv, xs) = x
        y, ys = self.fresh(), [1 if d == dim else n for d, n in enumerate(xs)]

        def run(env):
            t = env[xv]
            env[y] = t.mean(dim, keepdim=True) if kind == "mean" else t.amax(dim, keepdim=True)
        self.emit(f"{y} = train.{kind} {xv} dims [{dim}] keepdim : {tensor_type(xs)} -> "
                  f"{tensor_type(ys)}", run)
        return y, ys

    def matmul(self, a, b, transpose_rhs=False):
        (av, ash), (bv, bsh) = a, b
        y = self.fresh()
        ys = ash[:-1] + [bsh[-2] if transpose_rhs else bsh[-1]]
        self.emit(f"{y} = train.matmul {av}, {bv}{' transpose_rhs' if transpose_rhs else ''} : "
                  f"({tensor_type(ash)}, {tensor_type(bsh)}) -> {tensor_type(ys)}",
                  lambda env: env.__setitem__(
                      y, env[av] @ (env[bv].transpose(-1, -2) if transpose_rhs else env[bv])))
        return y, ys

    def reshape(self, x, shape):
        (xv, xs) = x
        y = self.fresh()
        self.emit(f"{y} = train.reshape {xv} : {tensor_type(xs)} -> {tensor_type(shape)}",
                  lambda env: env.__setitem__(y, env[xv].reshape(shape)))
        return y, shape

    def transpose(self, x, perm):
        (xv, xs) = x
        y, ys = self.fresh(), [xs[p] for p in perm]
        self.emit(f"{y} = train.transpose {xv} {perm} : {tensor_type(xs)} -> {tensor_type(ys)}",
                  lambda env: env.__setitem__(y, env[xv].permute(*perm).contiguous()))
        return y, ys

    def split(self, x, sizes):
        (xv, xs) = x
        outs = [self.fresh() for _ in sizes]
        shapes = [xs[:-1] + [s] for s in sizes]
        dim = len(xs) - 1

        def run(env):
            for name, part in zip(outs, torch.split(env[xv], sizes, dim)):
                env[name] = part
        self.emit(f"{', '.join(outs)} = train.split {xv} dim {dim} : {tensor_type(xs)} -> "
                  f"({', '.join(tensor_type(s) for s in shapes)})", run)
        return list(zip(outs, shapes))

    def concat(self, parts):
        dim = len(parts[0][1]) - 1
        shape = parts[0][1][:-1] + [sum(s[-1] for _, s in parts)]
        y = self.fresh()
        self.emit(f"{y} = train.concat {', '.join(v for v, _ in parts)} dim {dim} : "
                  f"({', '.join(tensor_type(s) for _, s in parts)}) -> {tensor_type(shape)}",
                  lambda env: env.__setitem__(y, torch.cat([env[v] for v, _ in parts], dim)))
        return y, shape

    def attention(self, x, heads, depth, causal):
        b, t = x[1][0], x[1][1]
        q, k, v = self.split(self.linear(x, 3 * heads * depth), [heads * depth] * 3)
        qkv = [self.transpose(self.reshape(m, [b, t, heads, depth]), [0, 2, 1, 3])
               for m in (q, k, v)]
        y, ys = self.fresh(), [b, heads, t, depth]
        (qv, _), (kv, _), (vv, _) = qkv

        def run(env):
            s = env[qv] @ env[kv].transpose(-1, -2) / np.sqrt(depth)
            if causal:
                mask = torch.ones(t, t, dtype=torch.bool).triu(1)
                s = s.masked_fill(mask, float("-inf"))
            env[y] = torch.softmax(s, -1) @ env[vv]
        self.emit(f"{y} = train.attention {qv}, {kv}, {vv}{' causal' if causal else ''} : "
                  f"({tensor_type(ys)}, {tensor_type(ys)}, {tensor_type(ys)}) -> {tensor_type(ys)}",
                  run)
        back = self.transpose((y, ys), [0, 2, 1, 3])
        return self.reshape(back, [b, t, heads * depth])

    # -- the loss ----------------------------------------------------------

    def finish(self, x):
        (xv, xs) = x
        kind = self.rng.choice(["cross_entropy", "mse", "probe"])
        loss = self.fresh()
        if kind == "cross_entropy":
            classes = int(self.rng.integers(2, 300))
            logits = self.linear(x, classes)
            targets = self.input(xs[:-1], "i32")
            self.emit(f"{loss} = train.cross_entropy {logits[0]}, {targets[0]} : "
                      f"({tensor_type(logits[1])}, {tensor_type(targets[1], 'i32')}) -> tensor<f32>",
                      lambda env: env.__setitem__(
                          loss, F.cross_entropy(env[logits[0]].reshape(-1, classes),
                                                env[targets[0]].reshape(-1))))
        elif kind == "mse":
            target = self.input(xs)
            self.emit(f"{loss} = train.mse_loss {xv}, {target[0]} : ({tensor_type(xs)}, "
                      f"{tensor_type(xs)}) -> tensor<f32>",
                      lambda env: env.__setitem__(loss, F.mse_loss(env[xv], env[target[0]])))
        else:
            probe = self.input(xs)
            weighted = self.binary("mul", x, probe)
            dims = list(range(len(xs)))
            self.emit(f"{loss} = train.sum {weighted[0]} dims {dims} : {tensor_type(xs)} -> "
                      "tensor<f32>",
                      lambda env: env.__setitem__(loss, env[weighted[0]].sum()))
        self.loss = loss
        return kind

    def text(self, blocks=None):
        """The module; with `blocks` (an rng), runs of drawn ops outlined into
        private functions that the loss calls, as a model's blocks are."""
        lines = ["module {"]
        for name, shape, init in self.params:
            lines.append(f"  train.param @{name} : {tensor_type(shape)} init {init}")
        body, functions = self.body, []
        if blocks is not None:
            body, functions = self.outline(blocks)
        args = ", ".join(f'%{n}: {tensor_type(s, e)} {{train.input = "{n}"}}'
                         for n, s, e in self.inputs)
        lines += functions
        lines.append(f"  func.func @loss({args}) -> tensor<f32> attributes {{train.loss}} {{")
        lines += body
        lines.append(f"    return {self.loss} : tensor<f32>")
        lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def types(self):
        """Each value's MLIR type, from running the ops on zeros."""
        env = {"@" + n: torch.zeros(s, dtype=torch.float64) for n, s, _ in self.params}
        for n, s, e in self.inputs:
            env["%" + n] = torch.zeros(s, dtype=torch.int64 if e == "i32" else torch.float64)
        for op in self.ops:
            op(env)
        return {k: tensor_type(list(t.shape), "i32" if t.dtype == torch.int64 else "f32")
                for k, t in env.items() if k.startswith("%")}

    def outline(self, rng):
        """The loss's body with runs of one to three drawn ops each moved into
        a private function (most runs; the rest stay in the loss), and those
        functions. A function takes what its ops read from before it (the
        parameters' get_param stay in the loss) and returns what is read after."""
        types = self.types()
        defs = lambda line: ([v.strip() for v in line.split("=")[0].split(",")]
                             if " = " in line else [])
        uses = lambda line: re.findall(r"%[A-Za-z0-9_]+", line.split(" = ", 1)[-1].split(" : ")[0])
        bounds = self.segments
        body, functions, i, made = self.body[:bounds[0]], [], 0, 0
        while i < len(bounds) - 1:
            j = min(i + int(rng.integers(1, 4)), len(bounds) - 1)
            run = self.body[bounds[i]:bounds[j]]
            later = self.body[bounds[j]:] + [f"return {self.loss}"]
            inner = [line for line in run if "train.get_param" not in line]
            if rng.random() < 0.25 or not inner:
                body += run
                i = j
                continue
            body += [line for line in run if "train.get_param" in line]
            defined = {v for line in inner for v in defs(line)}
            params = list(dict.fromkeys(v for line in inner for v in uses(line)
                                        if v not in defined))
            read_later = {v for line in later for v in uses(line)}
            results = [v for line in inner for v in defs(line) if v in read_later]
            name, made = f"@block{made}", made + 1
            result_types = ", ".join(types[v] for v in results)
            if len(results) != 1:
                result_types = f"({result_types})"
            functions.append(f"  func.func private {name}("
                             + ", ".join(f"{v}: {types[v]}" for v in params)
                             + f") -> {result_types} {{")
            functions += inner
            functions.append(f"    return {', '.join(results)} : "
                             f"{', '.join(types[v] for v in results)}")
            functions.append("  }")
            body.append(f"    {', '.join(results)} = func.call {name}({', '.join(params)}) : "
                        f"({', '.join(types[v] for v in params)}) -> {result_types}")
            i = j
        return body + self.body[bounds[-1]:], functions

OPS = ["linear", "unary", "layer_norm", "softmax", "attention", "residual", "broadcast",
       "split", "mix"]
# Drawn from seed 1000 on, so that the models of the seeds before stay what
# they were (the tests name seeds that found bugs).
LATER_OPS = ["center", "shift", "bilinear"]


def draw(seed, named=False):
    """A random model and a line saying what it is; `named`: its linear
    weights named as modules' (lN.weight, lN.bias), the same model else."""
    rng = np.random.default_rng(seed)
    m = Model(rng)
    m.named = named
    batch, tokens = int(rng.integers(1, 4)), int(rng.integers(2, 49))
    # From seed 2000 on, half the models have attention the GPU's fused
    # kernels take (--target=cuda, 16-bit: rows and depth multiples of 16).
    kernel_shapes = seed >= 2000 and rng.random() < 0.5
    if kernel_shapes:
        tokens = 16 * int(rng.integers(1, 4))
    width = int(rng.integers(2, 101))
    what = []
    if rng.random() < 0.4:
        vocab = int(rng.integers(2, 400))
        table = m.param([vocab, width], std=1.0)
        ids = m.input([batch, tokens], "i32")
        y = m.fresh()
        m.emit(f"{y} = train.embedding {table[0]}, {ids[0]} : ({tensor_type(table[1])}, "
               f"{tensor_type(ids[1], 'i32')}) -> {tensor_type([batch, tokens, width])}",
               lambda env, y=y, ids=ids[0], table=table[0]:
                   env.__setitem__(y, F.embedding(env[ids], env[table])))
        x = (y, [batch, tokens, width])
        what.append(f"embedding {vocab}")
    else:
        x = m.input([batch, tokens, width])
    for _ in range(int(rng.integers(2, 8))):
        m.segments.append(len(m.body))
        op = rng.choice(OPS + (LATER_OPS if seed >= 1000 else []))
        if kernel_shapes and rng.random() < 0.3:
            op = "attention"
        if op == "linear":
            x = m.linear(x, int(rng.integers(2, 160)))
        elif op == "unary":
            kind = str(rng.choice(["tanh", "gelu", "relu", "sigmoid", "neg", "exp"]))
            if kind == "exp":  # bounded first
                x = m.unary("tanh", x)
            x = m.unary(kind, x)
        elif op == "layer_norm":
            x = m.layer_norm(x)
        elif op == "softmax":
            x = m.softmax(x, log=bool(rng.random() < 0.3))
        elif op == "attention":
            heads, depth = int(rng.integers(1, 4)), int(rng.integers(2, 25))
            if kernel_shapes:
                depth = 16 * int(rng.integers(1, 3))
            x = m.attention(x, heads, depth, causal=bool(rng.random() < 0.7))
        elif op == "residual":
            y = m.unary(str(rng.choice(["tanh", "gelu"])), m.linear(x, x[1][-1]))
            x = m.binary("add", x, y)
        elif op == "broadcast":
            p = m.param([x[1][-1]], mean=1.0, std=0.5)
            x = m.binary(str(rng.choice(["add", "sub", "mul"])), x, p)
        elif op == "split" and x[1][-1] >= 2:
            cut = int(rng.integers(1, x[1][-1]))
            a, b = m.split(x, [cut, x[1][-1] - cut])
            x = m.concat([m.unary("tanh", b), a])
        elif op == "center":  # minus the mean over the tokens (column sums)
            x = m.binary("sub", x, m.reduce("mean", x, 1))
        elif op == "shift":  # minus each row's max
            x = m.binary("sub", x, m.reduce("max", x, len(x[1]) - 1))
        elif op == "bilinear":  # softmax(x x^T / sqrt(C)) x, batched products
            scores = m.matmul(m.unary("tanh", x), x, transpose_rhs=True)
            x = m.matmul(m.softmax(scores), x)
        elif op == "mix":  # a linear across the tokens
            mixed = m.linear(m.transpose(x, [0, 2, 1]), int(rng.integers(2, 49)))
            x = m.transpose(mixed, [0, 2, 1])
        what.append(str(op))
    m.segments.append(len(m.body))
    if not m.params:  # something to differentiate
        x = m.binary("mul", x, m.param([x[1][-1]], mean=1.0, std=0.5))
        what.append("broadcast")
    loss = m.finish(x)
    return m, f"[{batch}, {tokens}, {width}] {' '.join(what)} -> {loss}"


def reference(m, params, batch, dtype, adapters=None):
    """Loss and gradients (name -> array) of the model in torch at `dtype`,
    from `params` (name -> array: every parameter the step has, adapters
    too); `adapters` maps each adapted linear layer to its (scale, DoRA or
    not), as draw_lora gives them."""
    env = {f"lora {module}": scale for module, scale in (adapters or {}).items()}
    leaves = {}
    for name, value in params.items():
        leaves[name] = torch.tensor(value, dtype=dtype, requires_grad=True)
        env["@" + name] = leaves[name]
    for name, _, elem in m.inputs:
        value = batch[name]
        env["%" + name] = torch.tensor(value.astype(np.int64) if elem == "i32" else value,
                                       dtype=torch.int64 if elem == "i32" else dtype)
    for op in m.ops:
        op(env)
    loss = env[m.loss]
    loss.backward()
    return loss.item(), {name: leaf.grad.numpy().astype(np.float64)
                         for name, leaf in leaves.items() if leaf.grad is not None}


def draw_lora(seed, m):
    """LoRA or DoRA settings for model `m` from the seed: ftc's flags and
    each adapted layer's (scale, DoRA or not), the scale alpha / r (alpha /
    sqrt(r) with rsLoRA)."""
    if not m.modules:
        return [], None
    rng = np.random.default_rng([seed, 2])
    picked = [mod for mod in m.modules if rng.random() < 0.6] or [m.modules[-1]]
    rank = int(rng.integers(1, 9))
    alpha = float(rng.choice([rank, 2 * rank, 16]))
    rslora = bool(rng.random() < 0.3)
    flags = [f"--lora-targets=^({'|'.join(picked)})\\.weight$", f"--lora-rank={rank}",
             f"--lora-alpha={alpha:g}"] + (["--lora-rslora=true"] if rslora else [])
    if rng.random() < 0.5:  # the biases stay trainable
        flags.append("--lora-trainable=\\.bias$")
    dora = bool(rng.random() < 0.3)
    if dora:
        flags.append("--lora-variant=dora")
    scale = alpha / (np.sqrt(rank) if rslora else rank)
    return flags, {mod: (scale, dora) for mod in picked}


def compile_step(path, so, flags):
    """Compiles the model at `path` to `so`: whether it did, and ftc's error
    or its planned peak (the report's total, in bytes)."""
    compiled = subprocess.run(["ftc", path, "-o", so, "--report", *flags],
                              capture_output=True, text=True)
    if compiled.returncode != 0:
        return False, compiled.stderr.strip()
    return True, int(re.search(r"^  total +(\d+)$", compiled.stdout, re.M).group(1))


def remat_problems(path, so, flags, peak, step, batch, loss, grads):
    """What differs from `grads` (a step without recomputation) in steps
    compiled with each remat policy and two memory budgets: the least
    feasible, which ftc's error for a budget of 1 B names, and the midpoint
    between it and the peak without recomputation. Each must give the same
    loss and gradients to the bit, and a planned peak within its budget."""
    problems = []
    ok, error = compile_step(path, so[:-3] + "-least.so", [*flags, "--memory-budget=1"])
    least = re.search(r"smallest feasible budget is (\d+) B", str(error))
    if ok or not least:
        return [f"--memory-budget=1: no smallest feasible budget ({error})"]
    least = int(least.group(1))
    variants = [(["--remat=blocks"], None), (["--remat=sqrt"], None),
                ([f"--memory-budget={least}"], least)]
    if peak > least + 1:
        middle = (least + peak) // 2
        variants.append(([f"--memory-budget={middle}"], middle))
    for k, (extra, budget) in enumerate(variants):
        # A file of its own: a library loaded again by its name is the same.
        variant = f"{so[:-3]}-{k}.so"
        ok, planned = compile_step(path, variant, [*flags, *extra])
        if not ok:
            problems.append(f"{' '.join(extra)}: ftc: {planned}")
            continue
        other = ftcpy.Step(os.path.abspath(variant), seed=0)
        for i in range(len(step.params)):
            other.param(i)[...] = step.param(i)
        other.set_num_threads(2)
        other_loss = other.grad(batch)
        same = other_loss == loss and all(
            np.array_equal(other.grad_of(i), g) for i, g in enumerate(grads))
        if not same:
            problems.append(f"{' '.join(extra)}: loss or gradients differ from --remat=none")
        if budget is not None and planned > budget:
            problems.append(f"{' '.join(extra)}: planned peak {planned} B")
        os.remove(variant)
    return problems


def check(seed, work, flags, keep=False, blocks=False, bits=False, lora=False):
    m, what = draw(seed, named=lora)
    given, adapters = flags, None
    if lora:
        lora_flags, adapters = draw_lora(seed, m)
        flags = [*flags, *lora_flags]
        what += f" lora {' '.join(lora_flags)}" if lora_flags else " (no linear layer to adapt)"
    path = os.path.join(work, f"model-{seed}.mlir")
    with open(path, "w") as f:
        # The outlining draws from its own generator: the model is the seed's.
        f.write(m.text(np.random.default_rng([seed, 1]) if blocks else None))
    so = os.path.join(work, f"model-{seed}.so")
    ok, peak = compile_step(path, so, flags)
    if not ok:
        print(f"seed {seed}: {what}: FAIL (ftc: {peak})")
        return False
    step = ftcpy.Step(os.path.abspath(so), seed=0)
    rng = np.random.default_rng(seed + 1)
    batch = ftcpy.random_batch(step, rng)
    names = [info["name"] for info in step.params]
    for i, name in enumerate(names):
        if name.endswith("lora_B.weight"):  # zero at init: A's gradient with it
            step.param(i)[...] = 0.1 * rng.standard_normal(step.param(i).shape)
        if name.endswith("lora_magnitude_vector"):  # W's row norms at init
            step.param(i)[...] *= 1 + 0.1 * rng.standard_normal(step.param(i).shape)
    params = {name: step.param(i).astype(np.float64) for i, name in enumerate(names)}
    grads = {}
    for threads in (1, 2, 3):
        step.set_num_threads(threads)
        loss = step.grad(batch)
        grads[threads] = [step.grad_of(i) for i in range(len(step.params))]
    problems = []
    if not all((a is None and b is None) or (a is not None and b is not None and
                                              np.array_equal(a, b))
               for t in (2, 3) for a, b in zip(grads[1], grads[t])):
        problems.append("gradients differ between 1, 2 and 3 threads")
    if blocks:
        problems += remat_problems(path, so, flags, peak, step, batch, loss, grads[1])
    worst, compared = 0.0, []
    if not bits:
        loss64, exact = reference(m, params, batch, torch.float64, adapters)
        loss32, theirs = reference(m, params, batch, torch.float32, adapters)
        if abs(loss - loss64) > max(1e-5 * abs(loss64), 3 * abs(loss32 - loss64)):
            problems.append(f"loss {loss:.9g}, float64 {loss64:.9g}")
        # The step's trainable parameters (frozen ones have no gradient).
        compared = [(info, ours, exact[info["name"]], theirs[info["name"]])
                    for info, ours in zip(step.params, grads[1]) if ours is not None]
    for info, ours, g64, g32 in compared:
        err = float(np.max(np.abs(ours - g64)))
        bound = max(2e-5 * float(np.max(np.abs(g64))), 3 * float(np.max(np.abs(g32 - g64))))
        worst = max(worst, err / bound if bound > 0 else (0.0 if err == 0 else np.inf))
        if err > bound:
            problems.append(f"{info['name']} {list(info['shape'])}: max error {err:.3g} > "
                            f"{bound:.3g}")
    ok = not problems
    checked = "bits" if bits else f"worst error {worst:.3f} of the bound"
    print(f"seed {seed}: {what}: {checked} {'ok' if ok else 'FAIL'}")
    for p in problems:
        print(f"  {p}")
    if ok and not keep:
        os.remove(path)
    elif not ok:
        options = [o for o, on in (("--blocks", blocks), ("--bits", bits), ("--lora", lora))
                   if on]
        print(f"  replay: {' '.join([sys.argv[0], work, str(seed), '1', *options, *given])}")
    os.remove(so)
    return ok


def main():
    args = sys.argv[1:]
    options = {o: o in args for o in ("--keep", "--blocks", "--bits", "--lora")}
    args = [a for a in args if a not in options]
    work, first = args[0], int(args[1])
    counted = len(args) > 2 and not args[2].startswith("-")
    count = int(args[2]) if counted else 1
    flags = args[3:] if counted else args[2:]
    os.makedirs(work, exist_ok=True)
    passed = sum(check(seed, work, flags, options["--keep"], options["--blocks"],
                       options["--bits"], options["--lora"])
                 for seed in range(first, first + count))
    print(f"{count} models: {passed} ok")
    sys.exit(0 if passed == count else 1)


if __name__ == "__main__":
    main()
