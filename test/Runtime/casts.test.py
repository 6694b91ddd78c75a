import math
import os
import sys
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402


def rounded(x, bits, emin, largest):
    """x (a double) to nearest even in a binary format with `bits`
    significant bits, smallest normal exponent `emin` (subnormals below)
    and largest finite value `largest`, as a float."""
    if math.isnan(x) or math.isinf(x) or x == 0:
        return x
    e = max(math.frexp(abs(x))[1] - 1, emin)
    ulp = Fraction(2) ** (e - bits + 1)
    q, r = divmod(Fraction(abs(x)), ulp)
    if r > ulp / 2 or (r == ulp / 2 and q % 2 == 1):
        q += 1
    v = float(q * ulp)
    if v > largest:  # past the largest finite value and half an ulp beyond it
        v = math.inf
    return math.copysign(v, x)


step = ftcpy.Step(sys.argv[1])
rng = np.random.default_rng(0)
x = (rng.standard_normal(4096) * np.exp2(rng.integers(-30, 20, 4096))).astype(np.float32)
specials = [65504.0, -65504.0, 65520.0, 6.1e-5, 5.96e-8, 1e-7, 3.0e-8, 1.0 + 2.0 ** -8,
            1.0 + 3 * 2.0 ** -9, 2049.0, 2051.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 1e30]
x[:len(specials)] = specials
d = rng.standard_normal(4096) * np.exp2(rng.integers(-140, 20, 4096).astype(np.float64))
# Just above and below midpoints of bf16 and f16 (off by far less than an
# f32 ulp: rounding to f32 first would land on the midpoint, then on even).
d[:8] = [1 + 2.0 ** -8 + 2.0 ** -40, 1 + 2.0 ** -8 - 2.0 ** -40, 1 + 3 * 2.0 ** -8 + 2.0 ** -45,
         1 + 2.0 ** -11 + 2.0 ** -40, 1 + 2.0 ** -11 - 2.0 ** -40, 65520.0 - 2.0 ** -30,
         3.4e38 * 1.001, 2.0 ** -133 * 1.5 + 2.0 ** -170]
d[8:12] = [np.nan, np.inf, -np.inf, -0.0]
step.eval({"x": x, "d": d})
y, z, u, v = (step.output(i) for i in range(4))
t = torch.from_numpy(x)


def same(ours, theirs):
    return int(np.sum((ours.view(np.uint32) == theirs.view(np.uint32)) |
                      (np.isnan(ours) & np.isnan(theirs))))


print(f"f16 -> bf16: {same(y, t.half().bfloat16().float().numpy())} of 4096 bit-identical to torch")
print(f"bf16 -> f16: {same(z, t.bfloat16().half().float().numpy())} of 4096 bit-identical to torch")
bf16 = np.array([rounded(a, 8, -126, float.fromhex("0x1.fep127")) for a in d], np.float32)
f16 = np.array([rounded(a, 11, -14, 65504.0) for a in d], np.float32)
print(f"f64 -> bf16: {same(u, bf16)} of 4096 rounded exactly")
print(f"f64 -> f16: {same(v, f16)} of 4096 rounded exactly")
