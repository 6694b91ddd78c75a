"""Losses of 10 steps on Fashion-MNIST from the same init: each target's
step.so against a reference's (see precision-targets.test).

Usage: precision-targets.test.py BASE PRECISION REFERENCE TARGET...
(the libraries are BASE.PRECISION.TARGET.so)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

base, precision, reference, targets = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
images, labels = ftcpy.fashion_mnist("train")
batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
           for i in range(10)]


def losses(target):
    step = ftcpy.Step(f"{base}.{precision}.{target}.so", seed=0)
    return [step.step(b) for b in batches]


expected = losses(reference)
for target in targets:
    same = losses(target) == expected
    print(f"{precision} {target}: 10 losses {'bit-identical' if same else 'DIFFERENT'} "
          f"to {reference}'s")
