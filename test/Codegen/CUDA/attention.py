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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))
import ftcpy  # noqa: E402

work, precision = sys.argv[1], sys.argv[2]
shape = [int(x) for x in sys.argv[3:7]]
causal = sys.argv[7] == "causal"
scale = None if sys.argv[8] == "none" else float(sys.argv[8])
t, d = shape[2], shape[3]
os.makedirs(work, exist_ok=True)
path = os.path.join(work, "attention.mlir")
with open(path, "w") as f:
    f.write(ftcpy.attention_model(shape, causal, scale))
emulated, cpu = os.path.join(work, "emulated.so"), os.path.join(work, "cpu.so")
flags = [f"--precision={precision}"] + (["--loss-scale=none"] if precision == "fp16" else [])
subprocess.run(["ftc", path, *flags, "--target=cuda", "--cuda-emulate", "-o", emulated],
               check=True)
subprocess.run(["ftc", path, *flags, "-o", cpu], check=True)
lowered = subprocess.run(["ftc", path, *flags, "--target=cuda", "--stop-after=after-tiling"],
                         check=True, capture_output=True, text=True).stdout
# (With T = D, q's shape is [..., T, T] too: the op alone is checked.)
fused = "train.fused_attention_grad" in lowered and (t == d or f"x{t}x{t}x" not in lowered)

check = ftcpy.Checks()
check(f"fused kernels, no [{t}, {t}] scores in memory", fused)
ftcpy.check_attention(check, {"emulated": ftcpy.Step(emulated, seed=3),
                              "cpu": ftcpy.Step(cpu, seed=3)}, "emulated", causal, scale)
sys.exit(1 if check.failures else 0)
