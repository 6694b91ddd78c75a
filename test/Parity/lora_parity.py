#!/usr/bin/python3
"""LoRA and DoRA parity with PyTorch: an MLP (the test runs
Inputs/mlp-gelu.mlir, whose trajectory does not hinge on ReLU kinks) compiled with
`--lora-targets=fc[12]` against a LoRA MLP written here in PyTorch with
PEFT's semantics (frozen base Linear, y = W x + b + s * B (A x), A [r, in],
B [out, r] zero-initialized, s = alpha / r or alpha / sqrt(r) with rsLoRA,
fc3 trainable as PEFT's modules_to_save; DoRA: y = g (W x + s B A x) + b
with g = m / ||W + s B A|| per row, the norm detached, m starting at the
norms of W's rows), from the same parameters (the base from PyTorch's init,
A as ftc drew it) on the first ten batches of Fashion-MNIST's training split.

  lora_parity.py FTC MLP.mlir WORKDIR

Checks, besides the float64-anchored contract of ftcpy.Parity (gradients at
the start, every loss and every trained tensor after 10 AdamW steps, and
the gradients there, where B is no longer zero):
  - at the start (B = 0) the LoRA step's loss is the base model's bit for bit;
  - frozen tensors have no gradient, and after training they are the
    loaded ones bit for bit, while every adapter and fc3 moved.
Exits 1 on any violation.
"""
import math
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402
from torchref import mlp_for  # noqa: E402

MLP = None  # the PyTorch model of the MLP file, set by main()

STEPS = 10
RANK = 8
CONFIGS = {
    # name: (ftc flags, alpha, rslora, dora)
    "lora": (["--lora-targets=fc[12]", f"--lora-rank={RANK}", "--lora-alpha=16",
              "--lora-trainable=^fc3"], 16.0, False, False),
    "rslora": (["--lora-targets=fc[12]", f"--lora-rank={RANK}", "--lora-alpha=4",
                "--lora-rslora", "--lora-trainable=^fc3"], 4.0, True, False),
    "dora": (["--lora-targets=fc[12]", f"--lora-rank={RANK}", "--lora-alpha=16",
              "--lora-variant=dora", "--lora-trainable=^fc3"], 16.0, False, True),
}


class LoraLinear(torch.nn.Module):
    """PEFT's LoRA layer on a frozen nn.Linear (lora_dropout 0, bias "none")."""

    def __init__(self, base, rank, alpha, rslora):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = torch.nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = torch.nn.Linear(rank, base.out_features, bias=False)
        torch.nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / math.sqrt(rank) if rslora else alpha / rank

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class DoraLinear(LoraLinear):
    """PEFT's DoRA layer: the magnitude m over the detached norm of each row
    of W + s B A rescales the LoRA layer's output, the bias excepted."""

    def __init__(self, base, rank, alpha, rslora):
        super().__init__(base, rank, alpha, rslora)
        self.lora_magnitude_vector = torch.nn.Parameter(
            torch.linalg.norm(base.weight.detach(), dim=1))

    def forward(self, x):
        lora = self.lora_B(self.lora_A(x))
        weight = self.base.weight + self.scaling * (self.lora_B.weight @ self.lora_A.weight).detach()
        g = self.lora_magnitude_vector / torch.linalg.norm(weight, dim=1).detach()
        result = self.base(x)
        base = F.linear(x, self.base.weight)
        return result + (g - 1) * base + g * lora * self.scaling


def torch_key(name):
    """ftc's parameter name -> the reference model's: fc1.weight is the
    frozen base's (fc1.base.weight), fc1.lora_A.weight the adapter's."""
    module, rest = name.split(".", 1)
    if module in ("fc1", "fc2") and not rest.startswith("lora_"):
        return f"{module}.base.{rest}"
    return name


def lora_model(start, alpha, rslora, dora, dtype):
    model = MLP()
    layer = DoraLinear if dora else LoraLinear
    model.fc1 = layer(model.fc1, RANK, alpha, rslora)
    model.fc2 = layer(model.fc2, RANK, alpha, rslora)
    model = model.to(dtype)
    model.load_state_dict({torch_key(k): torch.from_numpy(v.copy()).to(dtype)
                           for k, v in start.items()})
    return model


def run_torch(start, alpha, rslora, dora, batches, dtype):
    model = lora_model(start, alpha, rslora, dora, dtype)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    losses = []
    for batch in batches:
        opt.zero_grad()
        loss = model(torch.from_numpy(batch["image"]).to(dtype),
                     torch.from_numpy(batch["label"]).long())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def main():
    ftc, model_file, work = sys.argv[1:4]
    global MLP
    MLP = mlp_for(model_file)
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init = {k: v.detach().numpy().copy() for k, v in MLP().state_dict().items()}
    images, labels = ftcpy.fashion_mnist("train")
    batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
               for i in range(STEPS)]

    base_so = os.path.join(work, "mlp.so")
    subprocess.run([ftc, model_file, "-o", base_so], check=True)
    base = ftcpy.Step(base_so)
    for i, info in enumerate(base.params):
        base.param(i)[...] = init[info["name"]]
    base_loss = base.eval(batches[0])

    parity = ftcpy.Parity()
    failures = 0
    for name, (flags, alpha, rslora, dora) in CONFIGS.items():
        so = os.path.join(work, f"mlp-{name}.so")
        subprocess.run([ftc, model_file, "-o", so, *flags], check=True)
        step = ftcpy.Step(so)
        names = [info["name"] for info in step.params]
        if dora:
            # ftc_create sets each magnitude to the norms of its W's rows.
            for module in ("fc1", "fc2"):
                m = step.param(names.index(f"{module}.lora_magnitude_vector"))
                w = step.param(names.index(f"{module}.weight")).astype(np.float64)
                same = np.array_equal(m, np.linalg.norm(w, axis=1).astype(np.float32))
                failures += not same
                print(f"{name}: {module}.lora_magnitude_vector at creation: "
                      f"{'the norms of the rows of W' if same else 'WRONG'}")
        # The base's parameters from PyTorch's init, DoRA's magnitudes its
        # rows' norms; the adapters as ftc drew them.
        start = {}
        for i, info in enumerate(step.params):
            if info["name"] in init:
                step.param(i)[...] = init[info["name"]]
            if info["name"].endswith(".lora_magnitude_vector"):
                w = init[info["name"].replace("lora_magnitude_vector", "weight")]
                step.param(i)[...] = np.linalg.norm(w.astype(np.float64), axis=1)
            start[info["name"]] = step.param(i).copy()
        frozen = [i for i, info in enumerate(step.params) if not info["trainable"]]
        print(f"{name}: trainable {', '.join(p['name'] for p in step.params if p['trainable'])}")

        loss0 = step.eval(batches[0])
        if not dora:  # DoRA's m / ||W|| is 1 only up to rounding
            same = loss0 == base_loss
            failures += not same
            print(f"{name}: loss at the start {loss0!r}, the base model's {base_loss!r}: "
                  f"{'bit-identical' if same else 'DIFFERENT'}")

        exact_model = lora_model(start, alpha, rslora, dora, torch.float64)
        exact_model(torch.from_numpy(batches[0]["image"]).double(),
                    torch.from_numpy(batches[0]["label"]).long()).backward()
        exact_params = dict(exact_model.named_parameters())
        step.grad(batches[0])
        for i, info in enumerate(step.params):
            g = step.grad_of(i)
            if i in frozen:
                if g is not None:
                    failures += 1
                    print(f"{name}: frozen {info['name']} has a gradient: FAIL")
                continue
            parity.gradient(f"{name[:6]} {info['name']}", g,
                            exact_params[torch_key(info["name"])].grad.numpy())

        model, losses = run_torch(start, alpha, rslora, dora, batches, torch.float32)
        exact, exact_losses = run_torch(start, alpha, rslora, dora, batches, torch.float64)
        for i, batch in enumerate(batches):
            parity.loss(f"{name[:6]} {i + 1}", step.step(batch), exact_losses[i], losses[i])
        theirs, exact_state = model.state_dict(), exact.state_dict()
        unchanged = moved = 0
        for i, info in enumerate(step.params):
            p = step.param(i)
            if i in frozen:
                if np.array_equal(p.view(np.uint32), start[info["name"]].view(np.uint32)):
                    unchanged += 1
                else:
                    failures += 1
                    print(f"{name}: frozen {info['name']} changed: FAIL")
                continue
            moved += not np.array_equal(p, start[info["name"]])
            key = torch_key(info["name"])
            parity.parameter(f"{name[:6]} {info['name']}", p, theirs[key].numpy(),
                             exact_state[key].numpy(), start[info["name"]])
        # Gradients again where B is no longer zero (A's was zero at the
        # start), at ftc's trained parameters.
        here = {info["name"]: step.param(i).copy() for i, info in enumerate(step.params)}
        exact_model = lora_model(here, alpha, rslora, dora, torch.float64)
        exact_model(torch.from_numpy(batches[0]["image"]).double(),
                    torch.from_numpy(batches[0]["label"]).long()).backward()
        exact_params = dict(exact_model.named_parameters())
        step.grad(batches[0])
        for i, info in enumerate(step.params):
            if i not in frozen:
                parity.gradient(f"{name[:6]} {info['name']} @10", step.grad_of(i),
                                exact_params[torch_key(info["name"])].grad.numpy())
        trained = len(step.params) - len(frozen)
        print(f"{name}: {unchanged} of {len(frozen)} frozen tensors bit-identical after "
              f"{STEPS} steps; {moved} of {trained} trained tensors moved")
        failures += moved != trained
    parity.failures += failures
    return parity.summary()


if __name__ == "__main__":
    sys.exit(main())
