import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

step = ftcpy.Step(sys.argv[1])
rng = np.random.default_rng(0)
x = (rng.standard_normal(4096) * np.exp2(rng.integers(-30, 20, 4096))).astype(np.float32)
specials = [65504.0, -65504.0, 65520.0, 6.1e-5, 5.96e-8, 1e-7, 3.0e-8, 1.0 + 2.0 ** -8,
            1.0 + 3 * 2.0 ** -9, 2049.0, 2051.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e30]
x[:len(specials)] = specials
step.eval({"x": x})
y, z = step.output(0), step.output(1)
t = torch.from_numpy(x)
ty = t.half().bfloat16().float().numpy()
tz = t.bfloat16().half().float().numpy()
for name, ours, theirs in (("f16 -> bf16", y, ty), ("bf16 -> f16", z, tz)):
    same = np.sum((ours.view(np.uint32) == theirs.view(np.uint32)) |
                  (np.isnan(ours) & np.isnan(theirs)))
    print(f"{name}: {same} of {x.size} bit-identical to torch")
