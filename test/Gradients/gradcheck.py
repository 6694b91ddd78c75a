#!/usr/bin/python3
"""Finite-difference check of ftc's gradients on a small f64 model.

  gradcheck.py MODEL.mlir WORKDIR [FTC FLAGS...]

Compiles the model with `ftc`, draws its parameters (seed 0) and random
inputs, takes ftc's gradient, and compares every element of every trainable
parameter (at most 64 per tensor, chosen at random) with the central
difference (L(p + h) - L(p - h)) / 2h. Fails when an element's relative error
|fd - g| / max(|fd|, |g|, 1e-3) exceeds 1e-6, or when a parameter that
should have a gradient has none. Float inputs are N(0, 1) unless named
`positive*` (uniform [0.5, 2]); integer inputs are uniform over their range.

FTC FLAGS go to `ftc` (`--lora-targets=fc --lora-variant=dora`, say).
LoRA's B starts at zero, where A's gradient is zero too: it is drawn N(0, 1)
instead. DoRA detaches its weight norm n = ||W + s B A|| (per row), so its
gradient is that of the loss with n held constant: when an element of A or
B moves, the magnitude m moves with n (m n'/n), which keeps m / n, and so
everything but the held norm, as it was.
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
    model, work, flags = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(work, exist_ok=True)
    so = os.path.join(work, "model.so")
    subprocess.run(["ftc", model, "-o", so, *flags], check=True)
    step = ftcpy.Step(so, seed=0)
    rng = np.random.default_rng(0)
    names = [info["name"] for info in step.params]
    lora = step.description().get("lora", {})
    # DoRA: adapter parameter index -> (W, A, B, m) indices of its module.
    held = {}
    for module in lora.get("modules", []) if lora.get("use_dora") else []:
        w, a, b, m = (names.index(f"{module}.{part}") for part in
                      ("weight", "lora_A.weight", "lora_B.weight", "lora_magnitude_vector"))
        held[a] = held[b] = (w, a, b, m)

    def norm(w, a, b):
        return np.linalg.norm(step.param(w) + lora["scaling"] * step.param(b) @ step.param(a),
                              axis=1)
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
        if info["name"].endswith(".lora_B.weight"):
            step.param(i)[...] = rng.standard_normal(info["shape"])

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
        def moved(k, value):
            """The loss with element k at `value` (DoRA's norm held)."""
            saved = p[k]
            if i in held:
                w, a, b, m = held[i]
                before, magnitude = norm(w, a, b), step.param(m).copy()
                p[k] = value
                step.param(m)[...] = magnitude * norm(w, a, b) / before
            p[k] = value
            loss = step.eval(batch)
            p[k] = saved
            if i in held:
                step.param(m)[...] = magnitude
            return loss

        for k in picks:
            saved = p[k]
            up = moved(k, saved + H)
            down = moved(k, saved - H)
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
