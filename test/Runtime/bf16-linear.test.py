import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

K = 512
step = ftcpy.Step(sys.argv[1], seed=1)
rng = np.random.default_rng(0)
x = rng.standard_normal((64, K)).astype(np.float32)
step.eval({"x": x})
w = step.param(0)


def spacing(v, dtype):
    """The gap between v and the next value of the 16-bit format."""
    if dtype == torch.float16:
        return np.spacing(np.abs(v.numpy())).astype(np.float64)
    e = np.floor(np.log2(np.maximum(np.abs(v.double().numpy()), 2.0 ** -126)))
    return np.exp2(e - 7)


for name, dtype, output in (("bf16", torch.bfloat16, 0), ("f16", torch.float16, 1)):
    xs = torch.from_numpy(x).to(dtype).double()
    ws = torch.from_numpy(w.copy()).to(dtype).double()
    exact = (xs @ ws.T).numpy()
    # f32 summation of K products, then one rounding: within half a unit of
    # the result plus K u32 times the sum of |products| (u32 = 2^-24).
    slack = K * 2.0 ** -24 * (xs.abs() @ ws.abs().T).numpy()
    ours = torch.from_numpy(step.output(output)).to(dtype)
    bound = 0.5 * spacing(ours, dtype) + slack
    bad = int(np.sum(np.abs(ours.double().numpy() - exact) > bound))
    equal = float(np.mean(ours.double().numpy() == torch.from_numpy(exact).to(dtype).double().numpy())) * 100
    # The same bound with the products summed in the 16-bit type instead.
    acc = torch.zeros(64, 96, dtype=dtype)
    for k in range(K):
        acc = (acc.float() + (xs[:, k:k + 1] * ws[:, k][None, :]).float()).to(dtype)
    strawman = int(np.sum(np.abs(acc.double().numpy() - exact) > 0.5 * spacing(acc, dtype) + slack))
    print(f"{name}: {bad} of {exact.size} outside the f32-summation bound, {equal:.2f}% equal to the "
          f"exact sum rounded (summing in {name}: {strawman} outside)")
