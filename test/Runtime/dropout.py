#!/usr/bin/python3
"""What train.dropout promises, checked on compiled steps.

  dropout.py FTC WORKDIR

A model with two dropouts (p = 0.25) of one [256, 1024] parameter, returning
both as outputs, and one with p = 0:
  - about p of the elements are dropped (within 5 sigma), the others are
    x * (1 / (1 - p)) exactly;
  - the two dropouts draw different masks (streams), each step a new one;
  - the same seed and step give the same mask, another seed another one;
  - training off (ftc_set_training(state, 0)) and p = 0 are the identity;
  - the gradient goes through the forward mask, scaled;
  - a checkpoint carries the seed: a state made with another seed that
    loads it draws the masks of the run it came from.
Prints one line per check; exits 1 if any fails.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

P = 0.25
MODEL = """
train.param @x : tensor<256x1024xf32> init #train.normal
func.func @loss(%t: tensor<256x1024xf32> {{train.input = "t"}})
    -> (tensor<f32>, tensor<256x1024xf32> {{train.output = "a"}}, tensor<256x1024xf32> {{train.output = "b"}})
    attributes {{train.loss}} {{
  %x = train.get_param @x : tensor<256x1024xf32>
  %a = train.dropout %x p {p} : tensor<256x1024xf32>
  %b = train.dropout %x p {p} : tensor<256x1024xf32>
  %l = train.mse_loss %a, %t : (tensor<256x1024xf32>, tensor<256x1024xf32>) -> tensor<f32>
  return %l, %a, %b : tensor<f32>, tensor<256x1024xf32>, tensor<256x1024xf32>
}}
"""

check = ftcpy.Checks()


def build(ftc, work, name, p):
    mlir = os.path.join(work, name + ".mlir")
    with open(mlir, "w") as f:
        f.write(MODEL.format(p=p))
    so = os.path.join(work, name + ".so")
    subprocess.run([ftc, mlir, "-o", so], check=True)
    return so


def main():
    ftc, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    so = build(ftc, work, "dropout", P)
    batch = {"t": np.zeros((256, 1024), np.float32)}
    s = ftcpy.Step(so, seed=5)
    x = s.param(0).copy()
    s.eval(batch)
    a, b = s.output(0), s.output(1)
    s.grad(batch)
    grad = s.grad_of(0)
    keep = a != 0
    n = keep.size
    dropped = 1 - keep.mean()
    sigma = np.sqrt(P * (1 - P) / n)
    check("fraction dropped", abs(dropped - P) < 5 * sigma, f"{dropped:.4f} for p = {P}")
    scale = np.float32(1 / (1 - P))
    check("kept elements are x / (1 - p)", np.array_equal(a[keep], x[keep] * scale))
    agree = ((a != 0) == (b != 0)).mean()
    check("two dropouts, two masks", abs(agree - (P * P + (1 - P) ** 2)) < 0.01,
          f"masks agree on {agree:.3f} of elements (independent: {P * P + (1 - P) ** 2:.3f})")
    expected = np.where(keep, scale * (2 * a / n), 0).astype(np.float32)
    check("gradient through the mask eval drew (same step)", np.allclose(grad, expected, rtol=1e-5, atol=0)
          and np.array_equal(grad != 0, keep & (a != 0)))

    s.eval(batch)
    check("eval again, same mask", np.array_equal(s.output(0), a))
    same = ftcpy.Step(so, seed=5)
    same.eval(batch)
    check("same seed, same mask", np.array_equal(same.output(0), a))
    other = ftcpy.Step(so, seed=6)
    other.eval(batch)
    check("another seed, another mask", not np.array_equal(other.output(0) != 0, keep))

    s.set_training(False)
    s.eval(batch)
    check("training off: identity", np.array_equal(s.output(0), x) and np.array_equal(s.output(1), x))
    s.set_training(True)

    s.step(batch)
    s.eval(batch)
    after = s.output(0) != 0
    check("a new mask each step", abs((after == keep).mean() - (P * P + (1 - P) ** 2)) < 0.01)
    ckpt = os.path.join(work, "after-one-step.safetensors")
    s.save(ckpt)
    resumed = ftcpy.Step(so, seed=99)
    resumed.check(resumed.load(ckpt))
    resumed.eval(batch)
    check("a checkpoint carries the seed", np.array_equal(resumed.output(0), s.output(0)))
    s.step(batch)
    resumed.step(batch)
    check("resumed steps are bit-identical", np.array_equal(resumed.param(0), s.param(0)))

    identity = ftcpy.Step(build(ftc, work, "p0", 0.0), seed=5)
    identity.eval(batch)
    check("p = 0: identity", np.array_equal(identity.output(0), identity.param(0)))
    print("dropout:", "FAILED" if check.failures else "ok")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
