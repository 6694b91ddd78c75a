import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402


def bf16(a):
    """a rounded to bf16, as f32 (bf16 operands are then exact)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).bfloat16().float().numpy()


def spacing(v):
    """The gap between v and the next bf16 (subnormals: 2^-133)."""
    e = np.floor(np.log2(np.maximum(np.abs(v.astype(np.float64)), 2.0 ** -126)))
    return np.exp2(e - 7)


step = ftcpy.Step(sys.argv[1], seed=1)
rng = np.random.default_rng(0)
x = bf16(rng.standard_normal((96, 256)))
x[5] = bf16(rng.standard_normal(256) * 2.0 ** -130)  # bf16 subnormals
w = bf16(rng.standard_normal((81, 256)) * 0.05)
g = bf16(rng.standard_normal((96, 81)))
step.param(0)[...] = x
step.param(1)[...] = w
step.eval({"g": g})
y = step.output(0)
step.grad({"g": g})
dx, dw = step.grad_of(0), step.grad_of(1)
with open(sys.argv[2], "wb") as f:
    for a in (y, dx, dw):
        f.write(a.tobytes())

for name, ours, a, b in (("y", y, x, w.T), ("dx", dx, g, w), ("dW", dw, g.T, x)):
    a, b = a.astype(np.float64), b.astype(np.float64)
    k = a.shape[1]
    exact = a @ b
    bound = (0.5 * spacing(ours) + k * 2.0 ** -24 * (np.abs(a) @ np.abs(b)) +
             k * 2.0 ** -126 * (1 + np.abs(a).max() + np.abs(b).max()))
    bad = int(np.sum(np.abs(ours - exact) > bound))
    print(f"{name}: {bad} of {exact.size} outside the bound")
print(f"y of the subnormal row of x: {int(np.count_nonzero(y[5]))} of {y.shape[1]} nonzero")
