#!/usr/bin/python3
"""The fused attention op computes what the unfused ops compute.

  fused_attention.py FTC GPT2.py WORKDIR

Writes gpt2-bytes twice with examples/gpt2.py (attention as one
`train.attention ... causal` op, and written out as q k^T / sqrt(d), causal
mask, softmax, @ v), compiles both, and from the same seed on the same random
batches compares the loss and every gradient (ftc_grad), then the parameters
after 3 AdamW steps. The fused op is expanded into the same ops, in the same
order, so every number must be equal to the bit; its backward recomputes the
probabilities instead of keeping them, which must not change a digit either.
Exits 1 on any difference.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402


def build(ftc, gpt2, work, name, flags):
    mlir = os.path.join(work, name + ".mlir")
    with open(mlir, "w") as f:
        f.write(subprocess.run([sys.executable, gpt2, "--print", "gpt2-bytes", *flags],
                               check=True, capture_output=True, text=True).stdout)
    so = os.path.join(work, name + ".so")
    subprocess.run([ftc, mlir, "-o", so], check=True)
    return ftcpy.Step(so, seed=7)


def main():
    ftc, gpt2, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    fused = build(ftc, gpt2, work, "fused", [])
    unfused = build(ftc, gpt2, work, "unfused", ["--unfused-attention"])
    rng = np.random.default_rng(0)
    shape = fused.inputs[0]["shape"]
    batches = [{"tokens": rng.integers(0, 256, shape, dtype=np.int32),
                "targets": rng.integers(0, 256, shape, dtype=np.int32)} for _ in range(3)]
    differences = 0

    a, b = fused.grad(batches[0]), unfused.grad(batches[0])
    print(f"loss fused {a!r} unfused {b!r}")
    differences += a != b
    for i, info in enumerate(fused.params):
        same = np.array_equal(fused.grad_of(i), unfused.grad_of(i))
        differences += not same
        if not same:
            print(f"gradient of {info['name']} differs:",
                  np.max(np.abs(fused.grad_of(i) - unfused.grad_of(i))))
    print(f"{len(fused.params)} gradients compared")

    for batch in batches:
        a, b = fused.step(batch), unfused.step(batch)
        differences += a != b
        print(f"step loss fused {a!r} unfused {b!r}")
    for i, info in enumerate(fused.params):
        if not np.array_equal(fused.param(i), unfused.param(i)):
            differences += 1
            print(f"{info['name']} differs after 3 steps")
    print("fused attention:", "DIFFERS" if differences else "bit-identical")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
