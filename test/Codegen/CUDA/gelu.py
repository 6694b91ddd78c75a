#!/usr/bin/python3
"""GELU in cuBLASLt's epilogues (ftc-gpu-library-contractions,
--cuda-gelu=epilogue), run on the CPU (ftc --cuda-emulate), against float64
(see gelu.test).

  gelu.py WORKDIR PRECISION ROWS IN HIDDEN

Builds a two-layer MLP whose loss is sum(linear2(gelu(linear1(x))) * probe),
gelu the tanh form, x and probe inputs of [ROWS, IN], the products rounded
to PRECISION (bf16, fp16 or fp32) by autocast. Checks that the emulated
step's first product computes the GELU (GELU_AUX: its input kept for the
backward; GELU in the forward-only entry) and the backward's product
through it its gradient (DGELU), and that no product does with
--cuda-gelu=kernel. Then takes the gradients of
the emulated step and of the CPU step (whose GELU is an elementwise op on
the rounded product) from the same parameters and batch, and compares each
with PyTorch's in float64: the epilogue takes each f32 sum before it is
rounded, so it must be as close as the CPU step: each gradient's relative
error (Frobenius) within 1.5 times the CPU step's and under 2e-2, the loss
within 1e-2 relative of float64's. In fp32 no product takes the GELU (the
kernels stay; ftc-gpu-library-contractions says why), and the same bounds
hold (1e-6 for the gradients, 1e-5 for the loss).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

work, precision = sys.argv[1], sys.argv[2]
rows, width, hidden = (int(x) for x in sys.argv[3:6])
os.makedirs(work, exist_ok=True)
x_t, f_t = f"tensor<{rows}x{width}xf32>", f"tensor<{rows}x{hidden}xf32>"
model = f"""train.param @w1 : tensor<{hidden}x{width}xf32> init #train.normal<mean = 0.0, std = 0.35>
train.param @b1 : tensor<{hidden}xf32> init #train.normal<mean = 0.0, std = 0.5>
train.param @w2 : tensor<{width}x{hidden}xf32> init #train.normal<mean = 0.0, std = 0.125>
train.param @b2 : tensor<{width}xf32> init #train.normal<mean = 0.0, std = 0.5>
func.func @loss(%x: {x_t} {{train.input = "x"}}, %probe: {x_t} {{train.input = "probe"}}) -> tensor<f32> attributes {{train.loss}} {{
  %w1 = train.get_param @w1 : tensor<{hidden}x{width}xf32>
  %b1 = train.get_param @b1 : tensor<{hidden}xf32>
  %w2 = train.get_param @w2 : tensor<{width}x{hidden}xf32>
  %b2 = train.get_param @b2 : tensor<{width}xf32>
  %f = train.linear %x, %w1, %b1 : ({x_t}, tensor<{hidden}x{width}xf32>, tensor<{hidden}xf32>) -> {f_t}
  %g = train.gelu %f tanh : {f_t}
  %y = train.linear %g, %w2, %b2 : ({f_t}, tensor<{width}x{hidden}xf32>, tensor<{width}xf32>) -> {x_t}
  %w = train.mul %y, %probe : ({x_t}, {x_t}) -> {x_t}
  %l = train.sum %w dims [0, 1] : {x_t} -> tensor<f32>
  return %l : tensor<f32>
}}
"""
path = os.path.join(work, "gelu.mlir")
with open(path, "w") as f:
    f.write(model)
flags = [f"--precision={precision}"] + (["--loss-scale=none"] if precision == "fp16" else [])
emulated, cpu = os.path.join(work, "emulated.so"), os.path.join(work, "cpu.so")
subprocess.run(["ftc", path, *flags, "--target=cuda", "--cuda-emulate", "-o", emulated],
               check=True)
subprocess.run(["ftc", path, *flags, "-o", cpu], check=True)

check = ftcpy.Checks()
# The activation of each product of the step's entries (the descriptor's
# last field: ftc/Codegen/Gemm.h's Activation).
DESCRIPTOR = re.compile(r"memref\.global \"private\" constant @ftc_gemm_\d+ : "
                        r"memref<\d+xi64> = dense<\[([-0-9, ]*)\]>")


def activations(*extra):
    text = subprocess.run(["ftc", path, *flags, "--target=cuda", *extra,
                           "--stop-after=after-bufferize"],
                          check=True, capture_output=True, text=True).stdout
    return sorted(int(m.group(1).split(",")[-1]) for m in DESCRIPTOR.finditer(text))


found, kernel = activations(), activations("--cuda-gelu=kernel")
if precision == "fp32":
    # cuBLASLt's tanh is not documented to f32 precision: f32 steps keep
    # the kernels (ftc-gpu-library-contractions).
    check(f"fp32: products' activations {found}, none (the GELU a kernel)", set(found) == {0})
else:
    check(f"products' activations {found}: GELU (1) in eval, GELU_AUX (2) forward and DGELU "
          "(3) backward in the others", found.count(1) == 1 and found.count(2) == found.count(3) > 0)
check(f"--cuda-gelu=kernel: products' activations {kernel}, none", set(kernel) == {0})

steps = {"emulated": ftcpy.Step(emulated, seed=3), "cpu": ftcpy.Step(cpu, seed=3)}
batch = ftcpy.random_batch(steps["cpu"], np.random.default_rng(7))
losses = {name: s.grad(batch) for name, s in steps.items()}

import torch  # noqa: E402
params = [torch.tensor(steps["cpu"].param(i), dtype=torch.float64, requires_grad=True)
          for i in range(4)]
w1, b1, w2, b2 = params
x, probe = (torch.tensor(batch[n], dtype=torch.float64) for n in ("x", "probe"))
g = torch.nn.functional.gelu(x @ w1.T + b1, approximate="tanh")
ref = ((g @ w2.T + b2) * probe).sum()
ref.backward()
fp32 = precision == "fp32"
rel = abs(losses["emulated"] - ref.item()) / abs(ref.item())
loss_bound = 1e-5 if fp32 else 1e-2
check(f"loss: emulated {losses['emulated']:.6f} float64 {ref.item():.6f} rel {rel:.1e} "
      f"(<= {loss_bound:g})", rel <= loss_bound)
for i, name in enumerate(["w1", "b1", "w2", "b2"]):
    exact = params[i].grad.numpy()
    errors = {n: np.linalg.norm(s.grad_of(i).astype(np.float64) - exact) / np.linalg.norm(exact)
              for n, s in steps.items()}
    bound = min(max(1.5 * errors["cpu"], 1e-6 if fp32 else 0), 2e-2)
    check(f"d{name}: emulated rel {errors['emulated']:.2e}, cpu rel {errors['cpu']:.2e} "
          f"(<= {bound:.2e})", errors["emulated"] <= bound)
sys.exit(1 if check.failures else 0)
