#!/usr/bin/python3
"""Parity with PyTorch: examples/mlp.mlir compiled by ftc against the same MLP
in PyTorch (Debian's python3-torch), from the same initial parameters
(written by PyTorch as safetensors) on the same batches: the first ten of
Fashion-MNIST's training split (Debian's dataset-fashion-mnist).

  mlp_parity.py FTC MLP.mlir WORKDIR

The numerical contract of DESIGN.md (ftcpy.Parity), anchored on PyTorch in
float64: the gradients of the first batch per tensor within 2e-5 max|g64|;
then, for AdamW (defaults) and SGD with momentum, 10 steps each: every loss
within 1e-5 relative of float64's, and every parameter tensor within
1e-3 ||p64 - p0|| of the float64 run (or within 3x PyTorch float32's own
distance from it). An elementwise bound against PyTorch float32 measures its
BLAS's rounding, not correctness (bench/parity-floor.py mlp). Exits 1 on any
violation.
"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402
from torchref import MLP  # noqa: E402

STEPS = 10
CONFIGS = {
    "adamw": ([], lambda p: torch.optim.AdamW(p)),
    "sgd-momentum": (["--optimizer=sgd", "--lr=0.05", "--momentum=0.9"],
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
}


def run_torch(init, batches, make_opt, dtype):
    """The reference: PyTorch's MLP and optimizer on the batches; the model
    and the loss of every step."""
    model = MLP().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()).to(dtype) for k, v in init.items()})
    opt = make_opt(model.parameters())
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
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init = {k: v.detach().numpy().copy() for k, v in MLP().state_dict().items()}
    ckpt = os.path.join(work, "torch-init.safetensors")
    ftcpy.write_safetensors(ckpt, init)
    images, labels = ftcpy.fashion_mnist("train")
    batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
               for i in range(STEPS)]

    parity = ftcpy.Parity()
    for n, (name, (flags, make_opt)) in enumerate(CONFIGS.items()):
        so = os.path.join(work, f"mlp-{name}.so")
        subprocess.run([ftc, model_file, "-o", so, *flags], check=True)
        step = ftcpy.Step(so)
        step.check(step.load(ckpt))
        if n == 0:  # the gradients at the initial parameters, on the first batch
            exact_model, _ = run_torch(init, [], make_opt, torch.float64)
            exact_model(torch.from_numpy(batches[0]["image"]).double(),
                        torch.from_numpy(batches[0]["label"]).long()).backward()
            step.grad(batches[0])
            for i, info in enumerate(step.params):
                parity.gradient(info["name"], step.grad_of(i),
                                dict(exact_model.named_parameters())[info["name"]].grad.numpy())
        model, losses = run_torch(init, batches, make_opt, torch.float32)
        exact, exact_losses = run_torch(init, batches, make_opt, torch.float64)
        for i, batch in enumerate(batches):
            parity.loss(f"{name[:5]} {i + 1}", step.step(batch), exact_losses[i], losses[i])
        for i, info in enumerate(step.params):
            parity.parameter(f"{name[:5]} {info['name']}", step.param(i),
                             model.state_dict()[info["name"]].numpy(),
                             exact.state_dict()[info["name"]].numpy(), init[info["name"]])
    return parity.summary()


if __name__ == "__main__":
    sys.exit(main())
