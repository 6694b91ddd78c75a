#!/usr/bin/python3
"""The fused attention kernels (ftc-gpu-attention-kernels), run on the CPU
(ftc --cuda-emulate), against float64 (see attention.test).

  attention.py WORKDIR PRECISION B H T D CAUSAL SCALE

Builds a model whose loss is sum(attention(q, k, v) * probe), q, k and v
parameters of shape [B, H, T, D] rounded to PRECISION (bf16 or fp16) by
autocast, SCALE `none` (1/sqrt(D)) or a number. Compiles it for the
emulated GPU and for the CPU (whose attention is the unfused ops), takes
both gradients from the same parameters and probe, and compares each with
PyTorch's in float64 from the same (unrounded) parameters. The kernels
round differently from the CPU step (the probabilities rounded to 16 bits
before they are normalized, delta summed from the output), not worse: each
gradient's relative error (Frobenius) must be within 1.5 times the CPU
step's and under 2e-2, the loss within 1e-2 relative of float64's. Also
checks that the emulated step has the fused kernels (no [T, T] buffer).
"""
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))
import ftcpy  # noqa: E402

work, precision = sys.argv[1], sys.argv[2]
b, h, t, d = (int(x) for x in sys.argv[3:7])
causal, scale = sys.argv[7] == "causal", sys.argv[8]
os.makedirs(work, exist_ok=True)
shape = f"{b}x{h}x{t}x{d}xf32"
attrs = "" if scale == "none" else f" {{scale = {float(scale)!r} : f64}}"
model = f"""train.param @q : tensor<{shape}> init #train.normal
train.param @k : tensor<{shape}> init #train.normal
train.param @v : tensor<{shape}> init #train.normal
func.func @loss(%probe: tensor<{shape}> {{train.input = "probe"}}) -> tensor<f32> attributes {{train.loss}} {{
  %q = train.get_param @q : tensor<{shape}>
  %k = train.get_param @k : tensor<{shape}>
  %v = train.get_param @v : tensor<{shape}>
  %y = train.attention %q, %k, %v{" causal" if causal else ""}{attrs} : (tensor<{shape}>, tensor<{shape}>, tensor<{shape}>) -> tensor<{shape}>
  %w = train.mul %y, %probe : (tensor<{shape}>, tensor<{shape}>) -> tensor<{shape}>
  %l = train.sum %w dims [0, 1, 2, 3] : tensor<{shape}> -> tensor<f32>
  return %l : tensor<f32>
}}
"""
path = os.path.join(work, "attention.mlir")
with open(path, "w") as f:
    f.write(model)
emulated, cpu = os.path.join(work, "emulated.so"), os.path.join(work, "cpu.so")
flags = [f"--precision={precision}", "--loss-scale=none"] if precision == "fp16" else [
    f"--precision={precision}"]
subprocess.run(["ftc", path, *flags, "--target=cuda", "--cuda-emulate", "-o", emulated],
               check=True)
subprocess.run(["ftc", path, *flags, "-o", cpu], check=True)
lowered = subprocess.run(["ftc", path, *flags, "--target=cuda", "--stop-after=after-tiling"],
                         check=True, capture_output=True, text=True).stdout
# (With T = D, q's shape is [..., T, T] too: the op alone is checked.)
fused = "train.fused_attention_grad" in lowered and (t == d or f"x{t}x{t}x" not in lowered)

check = ftcpy.Checks()
check(f"fused kernels, no [{t}, {t}] scores in memory", fused)
steps = {"emulated": ftcpy.Step(emulated, seed=3), "cpu": ftcpy.Step(cpu, seed=3)}
rng = np.random.default_rng(7)
batch = ftcpy.random_batch(steps["cpu"], rng)
losses = {name: s.grad(batch) for name, s in steps.items()}

params = [torch.tensor(steps["cpu"].param(i), dtype=torch.float64, requires_grad=True)
          for i in range(3)]
q, k, v = params
scores = q @ k.transpose(-1, -2)
scores = scores * float(scale) if scale != "none" else scores / np.sqrt(d)
if causal:
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
loss = (torch.softmax(scores, -1) @ v * torch.tensor(batch["probe"], dtype=torch.float64)).sum()
loss.backward()

ref = loss.item()
rel = abs(losses["emulated"] - ref) / abs(ref)
check(f"loss: emulated {losses['emulated']:.6f} float64 {ref:.6f} rel {rel:.1e} (<= 1e-2)",
      rel <= 1e-2)
for i, name in enumerate("qkv"):
    want = params[i].grad.numpy()
    errors = {n: np.linalg.norm(s.grad_of(i).astype(np.float64) - want) / np.linalg.norm(want)
              for n, s in steps.items()}
    bound = min(1.5 * errors["cpu"], 2e-2)
    check(f"d{name}: emulated rel {errors['emulated']:.2e}, cpu rel {errors['cpu']:.2e} "
          f"(<= {bound:.2e})", errors["emulated"] <= bound)
sys.exit(1 if check.failures else 0)
