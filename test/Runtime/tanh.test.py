import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

step = ftcpy.Step(sys.argv[1])
rng = np.random.default_rng(0)
n = 65536
# Most of the values where tanh bends (|x| < 10), the rest of every magnitude,
# and the edges: the two formulas' boundary at |x| = 1, saturation, specials.
x = rng.uniform(-10, 10, n)
x[:4096] = rng.standard_normal(4096) * np.exp2(rng.integers(-30, 8, 4096))
edges = [1.0, -1.0, np.nextafter(np.float32(1), np.float32(0)), 9.0, 9.5, 20.0, 100.0, 1e30,
         0.0, -0.0, 1e-30, np.inf, -np.inf]
x[4096:4096 + len(edges)] = edges
x = x.astype(np.float32)
moderate = np.abs(x) < 100  # GELU's x^3 overflows beyond
step.eval({"x": x})
ours = {"tanh": step.output(0).astype(np.float64), "gelu": step.output(1).astype(np.float64)}
step.grad({"x": x})
ours_d = {"tanh": step.grad_of(0).astype(np.float64), "gelu": step.grad_of(1).astype(np.float64)}

functions = {"tanh": torch.tanh, "gelu": lambda t: F.gelu(t, approximate="tanh")}


def reference(name, dtype):
    t = torch.tensor(x, dtype=dtype, requires_grad=True)
    y = functions[name](t)
    y.sum().backward()
    return y.detach().double().numpy(), t.grad.double().numpy()


exact, exact_d = reference("tanh", torch.float64)
ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
ulps = np.abs(ours["tanh"] - exact) / ulp
print(f"tanh: {int(np.sum(ulps <= 1.5))} of {n} within 1.5 ulp of float64 (at most {ulps.max():.2f})")
special = [(np.inf, 1.0), (-np.inf, -1.0), (1e30, 1.0), (100.0, 1.0), (0.0, 0.0)]
print("tanh of inf, -inf, 1e30, 100, 0:", [float(ours["tanh"][x == v][0]) for v, _ in special]
      == [want for _, want in special])
for name in ("tanh", "gelu"):
    _, exact_d = reference(name, torch.float64)
    _, theirs_d = reference(name, torch.float32)
    err = np.abs(ours_d[name] - exact_d)[moderate].max()
    torch_err = np.abs(theirs_d - exact_d)[moderate].max()
    print(f"{name}': largest error {'within' if err <= 1.7 * torch_err else 'beyond'} "
          f"1.7x PyTorch float32's ({err:.3g}, PyTorch {torch_err:.3g})")
