#!/usr/bin/python3
"""Finite-difference check of ftc's gradients on a small f64 model.

  gradcheck.py MODEL.mlir WORKDIR

Compiles the model with `ftc`, draws its parameters (seed 0) and random
inputs, takes ftc's gradient, and compares every element of every trainable
parameter (at most 64 per tensor, chosen at random) with the central
difference (L(p + h) - L(p - h)) / 2h. Fails when an element's relative error
|fd - g| / max(|fd|, |g|, 1e-3) exceeds 1e-6, or when a parameter that
should have a gradient has none. Float inputs are N(0, 1) unless named
`positive*` (uniform [0.5, 2]); integer inputs are uniform over their range.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

H = 1e-6
TOLERANCE = 1e-6
SAMPLES = 64


def main():
    model, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    so = os.path.join(work, "model.so")
    subprocess.run(["ftc", model, "-o", so], check=True)
    step = ftcpy.Step(so, seed=0)
    rng = np.random.default_rng(0)
    batch = {}
    for info in step.inputs:
        if np.issubdtype(info["dtype"], np.integer):
            batch[info["name"]] = rng.integers(0, info["high"], info["shape"]).astype(info["dtype"])
        elif info["name"].startswith("positive"):
            batch[info["name"]] = rng.uniform(0.5, 2.0, info["shape"])
        else:
            batch[info["name"]] = rng.standard_normal(info["shape"])
    # Parameters named positive* (log's operand, a divisor) move away from 0.
    for i, info in enumerate(step.params):
        if info["name"].startswith("positive"):
            p = step.param(i)
            p[...] = np.abs(p) + 0.5

    step.grad(batch)
    worst, failures = 0.0, 0
    for i, info in enumerate(step.params):
        if not info["trainable"]:
            continue
        g = step.grad_of(i)
        if g is None:
            print(f"{info['name']}: no gradient")
            failures += 1
            continue
        p = step.param(i).reshape(-1)
        g = g.reshape(-1)
        picks = rng.choice(p.size, size=min(SAMPLES, p.size), replace=False)
        errors = []
        for k in picks:
            saved = p[k]
            p[k] = saved + H
            up = step.eval(batch)
            p[k] = saved - H
            down = step.eval(batch)
            p[k] = saved
            fd = (up - down) / (2 * H)
            errors.append(abs(fd - g[k]) / max(abs(fd), abs(g[k]), 1e-3))
        err = max(errors)
        worst = max(worst, err)
        bad = err > TOLERANCE
        failures += bad
        print(f"{info['name']:>12} {str(info['shape']):>14}: max relative error {err:.2e}"
              f"{'  FAIL' if bad else ''}")
    print(f"gradcheck: {'FAILED' if failures else 'ok'} (worst {worst:.2e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
