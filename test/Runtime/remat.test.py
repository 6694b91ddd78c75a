#!/usr/bin/python3
"""Gradient checkpointing changes memory, never results.

  remat.test.py FTC WORKDIR EXAMPLES

Each model is compiled with every ftc-remat policy (none, blocks, sqrt, and
a --memory-budget halfway between none's planned peak and blocks'); from the
same seed, on the same batches, 3 steps of each must leave parameters
bit-identical to none's, and the losses too. The models: gpt2-tiny (fp32
and bf16), gpt2-bytes with nanoGPT's dropouts (the recomputed dropouts
must draw the masks of the forward), and the MLP (no functions: segments
at articulation values). The plans must shrink: blocks' workspace below
none's, the budget's total within the budget.
Prints one line per check; exits 1 if any fails.
"""
import os
import re
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

check = ftcpy.Checks()


def compile_step(ftc, model, so, *flags):
    out = subprocess.run([ftc, model, "-o", so, "--report", *flags], check=True,
                         capture_output=True, text=True).stdout
    total = int(re.search(r"^  total +(\d+)", out, re.M).group(1))
    workspace = int(re.search(r"workspace \(temporaries\) +(\d+)", out).group(1))
    return total, workspace


def batches(step, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        batch = {}
        for i in step.inputs:
            shape = tuple(i["shape"])
            if np.dtype(i["dtype"]).kind in "iu":
                batch[i["name"]] = rng.integers(0, i.get("high") or 10, size=shape).astype(i["dtype"])
            else:
                batch[i["name"]] = rng.standard_normal(shape).astype(i["dtype"])
        out.append(batch)
    return out


def run(so, steps=3):
    s = ftcpy.Step(so, seed=7)
    losses = [s.step(b) for b in batches(s, steps, 11)]
    return losses, [s.param(i).copy() for i in range(len(s.params))]


def compare(label, ftc, work, model, extra=()):
    name = os.path.basename(model).replace(".mlir", "")
    so = lambda policy: os.path.join(work, f"{name}{''.join(extra)}-{policy}.so")
    plans = {p: compile_step(ftc, model, so(p), f"--remat={p}", *extra)
             for p in ("none", "blocks", "sqrt")}
    results = {p: run(so(p)) for p in plans}
    policies = ["blocks", "sqrt"]
    if plans["blocks"][0] < plans["none"][0]:
        budget = (plans["none"][0] + plans["blocks"][0]) // 2
        plans["budget"] = compile_step(ftc, model, so("budget"), f"--memory-budget={budget}", *extra)
        check(f"{label}: budget plan within the budget", plans["budget"][0] <= budget,
              f"{plans['budget'][0]} <= {budget} B")
        results["budget"] = run(so("budget"))
        policies.append("budget")
    base_losses, base_params = results["none"]
    for p in policies:
        losses, params = results[p]
        same = losses == base_losses and all(np.array_equal(a, b) for a, b in zip(params, base_params))
        check(f"{label} --remat={p}: bit-identical losses and parameters after 3 steps", same,
              f"workspace {plans[p][1]} B (none {plans['none'][1]} B)")
    return plans


def main():
    ftc, work, examples = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    tiny = compare("gpt2-tiny", ftc, work, os.path.join(examples, "gpt2-tiny.mlir"))
    check("gpt2-tiny: blocks plans a smaller workspace than none", tiny["blocks"][1] < tiny["none"][1],
          f"{tiny['blocks'][1]} < {tiny['none'][1]}")
    compare("gpt2-tiny bf16", ftc, work, os.path.join(examples, "gpt2-tiny.mlir"), ("--precision=bf16",))
    dropout = os.path.join(work, "gpt2-bytes-dropout.mlir")
    with open(dropout, "w") as f:
        subprocess.run([sys.executable, os.path.join(examples, "gpt2.py"), "--print", "gpt2-bytes",
                        "--dropout", "0.1"], check=True, stdout=f)
    compare("gpt2-bytes dropout 0.1", ftc, work, dropout)
    compare("mlp", ftc, work, os.path.join(examples, "mlp.mlir"))
    sys.exit(1 if check.failures else 0)


if __name__ == "__main__":
    main()
