#!/usr/bin/python3
"""Gradient accumulation against one step on the K-times larger batch:
an MLP (batch 128; the test runs Inputs/mlp-gelu.mlir, whose trajectory
does not hinge on ReLU kinks) trained by `ftc-train --accumulate 4`
against PyTorch (Debian's python3-torch) stepping once per 512 examples,
the four batches together, from the same initial parameters.

  accumulate_parity.py MLP.mlir WORKDIR

1. The split is exact: ftc_zero_grad, one ftc_accumulate_grad and
   ftc_apply(1.0) give ftc_step's parameters bit for bit, step after step.
2. 5 steps of 4 x 128 Fashion-MNIST examples, AdamW with clip_grad_norm_
   at 1.0, under the numerical contract (ftcpy.Parity, anchored on
   float64): every step's loss (the mean of the four) against the loss on
   the 512 examples, the logged gradient norm (of the mean gradient) within
   1e-5 of PyTorch float64's (or 3x PyTorch float32's own distance), every
   parameter after 5 steps.
Exits 1 on any violation.
"""
import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402
from torchref import mlp_for  # noqa: E402

MLP = None  # the PyTorch model of the MLP file, set by main()

STEPS, K, BATCH, MAX_NORM = 5, 4, 128, 1.0


def run_torch(init, images, labels, dtype):
    model = MLP().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()).to(dtype) for k, v in init.items()})
    opt = torch.optim.AdamW(model.parameters())
    losses, norms = [], []
    for s in range(STEPS):
        rows = slice(s * K * BATCH, (s + 1) * K * BATCH)
        opt.zero_grad()
        loss = model(torch.from_numpy(images[rows]).to(dtype),
                     torch.from_numpy(labels[rows]).long())
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)))
        opt.step()
        losses.append(loss.item())
    return model, losses, norms


def main():
    model_file, work = sys.argv[1:3]
    global MLP
    MLP = mlp_for(model_file)
    os.makedirs(work, exist_ok=True)
    checks = ftcpy.Checks()
    so = os.path.join(work, "mlp.so")
    subprocess.run(["ftc", model_file, "-o", so, f"--clip-grad-norm={MAX_NORM}"], check=True)
    images, labels = ftcpy.fashion_mnist("train")
    n = STEPS * K * BATCH
    images, labels = images[:n], labels[:n]
    batch = lambda i: {"image": images[i * BATCH:(i + 1) * BATCH],  # noqa: E731
                       "label": labels[i * BATCH:(i + 1) * BATCH]}

    # 1. One batch accumulated and applied is ftc_step, bit for bit.
    plain, split = ftcpy.Step(so), ftcpy.Step(so)
    lib = split.lib
    lib.ftc_zero_grad.argtypes = [ctypes.c_void_p]
    lib.ftc_apply.argtypes = [ctypes.c_void_p, ctypes.c_double]
    lib.ftc_accumulate_grad.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.c_double)]
    same_loss = True
    for i in range(3):
        loss = plain.step(batch(i))
        split.check(lib.ftc_zero_grad(split.state))
        same_loss &= split._call(lib.ftc_accumulate_grad, batch(i)) == loss
        split.check(lib.ftc_apply(split.state, 1.0))
    same = all(np.array_equal(plain.param(i), split.param(i)) for i in range(len(plain.params)))
    checks("zero_grad + accumulate_grad + apply(1) = step, 3 steps, bit for bit",
           same and same_loss and split.steps() == 3, f"step counter {split.steps()}")

    # 2. K micro-batches against one step on K x B.
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init = {k: v.detach().numpy().copy() for k, v in MLP().state_dict().items()}
    init_file = os.path.join(work, "init.safetensors")
    ftcpy.write_safetensors(init_file, init)
    data = os.path.join(work, "batches.safetensors")
    ftcpy.write_safetensors(data, {"image": images.reshape(-1, BATCH, 784),
                                   "label": labels.reshape(-1, BATCH)})
    out = os.path.join(work, "out.safetensors")
    log_file = os.path.join(work, "log.jsonl")
    subprocess.run(["ftc-train", so, f"--data={data}", f"--init={init_file}", f"--steps={STEPS}",
                    f"--accumulate={K}", f"--save={out}", f"--log={log_file}"], check=True,
                   stdout=subprocess.DEVNULL)
    log = [json.loads(line) for line in open(log_file)]
    model32, losses32, norms32 = run_torch(init, images, labels, torch.float32)
    model64, losses64, norms64 = run_torch(init, images, labels, torch.float64)
    parity = ftcpy.Parity()
    for s, entry in enumerate(log):
        parity.loss(f"{s + 1}", entry["loss"], losses64[s], losses32[s])
    ours = ftcpy.read_safetensors(out)
    for name in init:
        parity.parameter(name, ours[name], model32.state_dict()[name].numpy(),
                         model64.state_dict()[name].numpy(), init[name])
    parity.norms("of the mean gradient vs torch64 on 512 examples", [e["grad_norm"] for e in log], norms64, norms32)
    checks("step counter after 5 accumulated steps", int(ours["optim.step"]) == STEPS,
           f"{int(ours['optim.step'])}")

    failed = parity.summary() or checks.failures
    print("accumulate:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
