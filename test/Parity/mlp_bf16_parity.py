#!/usr/bin/python3
"""Parity of ftc's bf16 step with PyTorch's own mixed precision:
examples/mlp.mlir compiled with `ftc --precision=bf16` against the same MLP
under `torch.autocast("cpu", dtype=torch.bfloat16)` (Debian's
python3-torch), both with f32 master weights and AdamW, from the same
initial parameters on the first Fashion-MNIST batches; both anchored on a
float64 run of the same steps.

  mlp_bf16_parity.py FTC MLP.mlir WORKDIR

A bf16 step cannot match float64 to float32's digits: each bf16 rounding
has a relative error up to u = 2^-9 (8 significand bits, round to nearest),
and ftc and PyTorch round different values (PyTorch's oneDNN kernels and
ftc's tiles sum in other orders, and a ReLU whose input is near 0 may flip
either way). So ftc's error is measured against PyTorch bf16's own error,
both from float64:
  - the gradients of the first batch: per tensor, the relative L2 error
    |g - g64| / |g64| of ftc within 2x PyTorch bf16's, or within 4u;
  - each of the losses of STEPS AdamW steps: relative error within 4u
    (a mean of 128 cross-entropies computed in f32 from bf16 logits);
  - the parameters after STEPS steps: |p - p64| within 2x PyTorch bf16's
    |t16 - p64|.
Prints the measured errors; exits 1 on any violation.
"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402
from mlp_parity import MLP  # noqa: E402

STEPS = 5
U = 2.0 ** -9
FACTOR = 2.0


def run_torch(init, batches, dtype, autocast):
    """PyTorch's MLP and AdamW (defaults) on the batches: the first batch's
    gradients, every step's loss, the final parameters."""
    model = MLP().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()).to(dtype) for k, v in init.items()})
    opt = torch.optim.AdamW(model.parameters())
    grads, losses = None, []
    for batch in batches:
        opt.zero_grad()
        x = torch.from_numpy(batch["image"]).to(dtype)
        y = torch.from_numpy(batch["label"]).long()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(x, y)
        loss.backward()
        if grads is None:
            grads = {k: p.grad.double().numpy().copy() for k, p in model.named_parameters()}
        opt.step()
        losses.append(loss.item())
    params = {k: v.double().numpy() for k, v in model.state_dict().items()}
    return grads, losses, params


def relative(a, b):
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))


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
    so = os.path.join(work, "mlp-bf16.so")
    subprocess.run([ftc, model_file, "-o", so, "--precision=bf16"], check=True)
    step = ftcpy.Step(so)
    step.check(step.load(ckpt))

    exact_grads, exact_losses, exact_params = run_torch(init, batches, torch.float64, False)
    torch_grads, torch_losses, torch_params = run_torch(init, batches, torch.float32, True)
    failures = 0

    def verdict(ok):
        nonlocal failures
        failures += not ok
        return "ok" if ok else "FAIL"

    step.grad(batches[0])
    for i, info in enumerate(step.params):
        name = info["name"]
        ours = relative(step.grad_of(i), exact_grads[name])
        theirs = relative(torch_grads[name], exact_grads[name])
        ok = ours <= max(FACTOR * theirs, 4 * U)
        print(f"grad {name:>10}: |g-g64|/|g64| ftc {ours:.2e}  torch-bf16 {theirs:.2e}  "
              f"{verdict(ok)}")
    for i, batch in enumerate(batches):
        ours = step.step(batch)
        rel, theirs = abs(ours - exact_losses[i]) / exact_losses[i], \
            abs(torch_losses[i] - exact_losses[i]) / exact_losses[i]
        print(f"loss {i + 1}: ftc {ours:.6f}  torch-bf16 {torch_losses[i]:.6f}  "
              f"torch64 {exact_losses[i]:.6f}  rel ftc {rel:.2e} torch-bf16 {theirs:.2e}  "
              f"{verdict(rel <= 4 * U)}")
    for i, info in enumerate(step.params):
        name = info["name"]
        ours = float(np.linalg.norm(step.param(i).astype(np.float64) - exact_params[name]))
        theirs = float(np.linalg.norm(torch_params[name] - exact_params[name]))
        print(f"param {name:>10}: |p-p64| ftc {ours:.2e}  torch-bf16 {theirs:.2e}  "
              f"{verdict(ours <= FACTOR * theirs)}")
    print("parity:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
