"""ftc-train's Fashion-MNIST subsets (--classes, --examples) against numpy,
with Inputs/fashion-mlp.mlir's parameters from a checkpoint. Each command
prints what it checked and ends with "<command>: ok", or raises.

  fashion_subset.py losses LOG CKPT CLASSES N
      LOG is a run at learning rate 0 (every step sees the checkpoint's
      model) with --classes CLASSES --examples N: each epoch's mean loss is
      the model's mean loss over the first N training examples of CLASSES.
  fashion_subset.py accuracy LOG CKPT CLASSES
      LOG's test accuracy is the model's over the test examples of CLASSES.
"""
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "lib"))
import ftcpy  # noqa: E402


def check(ok, what):
    if not ok:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def classes_of(text):
    out = set()
    for item in text.split(","):
        low, _, high = item.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return sorted(out)


def logits(ckpt, images):
    p = {k: v.astype(np.float64) for k, v in ftcpy.read_safetensors(ckpt).items()}
    h = np.maximum(images @ p["fc1.weight"].T + p["fc1.bias"], 0)
    h = np.maximum(h @ p["fc2.weight"].T + p["fc2.bias"], 0)
    return h @ p["fc3.weight"].T + p["fc3.bias"]


def mean_loss(z, labels):
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def losses(log, ckpt, classes, n):
    text = open(log).read()
    steps = [float(x) for x in re.findall(r"^step \d+/\d+  loss ([0-9.]+)", text, re.M)]
    per_epoch = int(re.search(r"\((\d+) per epoch\)", text).group(1))
    images, labels = ftcpy.fashion_mnist("train")
    keep = np.isin(labels, classes_of(classes))
    expected = mean_loss(logits(ckpt, images[keep][:n]), labels[keep][:n])
    # The test has power: the N examples after them give another loss.
    other = mean_loss(logits(ckpt, images[keep][n:2 * n]), labels[keep][n:2 * n])
    check(per_epoch == n // 64, f"{per_epoch} batches of 64 an epoch for {n} examples")
    check(len(steps) % per_epoch == 0 and steps, f"{len(steps)} steps, whole epochs")
    for e in range(len(steps) // per_epoch):
        got = sum(steps[e * per_epoch:(e + 1) * per_epoch]) / per_epoch
        check(abs(got - expected) < 2e-4,
              f"epoch {e}: mean loss {got:.4f}, the first {n} of classes {classes}: {expected:.4f}")
    check(abs(other - expected) > 1e-3, f"the next {n} give another loss ({other:.4f})")
    print("losses: ok")


def accuracy(log, ckpt, classes):
    text = open(log).read()
    m = re.search(r"^accuracy ([0-9.]+)% \((\d+) test examples of classes? ([0-9, -]+)\)", text, re.M)
    images, labels = ftcpy.fashion_mnist("test")
    keep = np.isin(labels, classes_of(classes))
    z = logits(ckpt, images[keep])
    expected = 100.0 * float((z.argmax(axis=1) == labels[keep]).mean())
    check(int(m.group(2)) == int(keep.sum()), f"{m.group(2)} test examples of classes {m.group(3)}")
    check(abs(float(m.group(1)) - expected) < 0.006,
          f"accuracy {m.group(1)}%, numpy's over those examples {expected:.2f}%")
    everything = 100.0 * float((logits(ckpt, images).argmax(axis=1) == labels).mean())
    check(abs(everything - expected) > 0.5, f"over all classes another accuracy ({everything:.2f}%)")
    print("accuracy: ok")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "losses":
        losses(args[0], args[1], args[2], int(args[3]))
    elif command == "accuracy":
        accuracy(*args)
    else:
        raise SystemExit(f"unknown command {command}")
