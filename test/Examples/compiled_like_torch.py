#!/usr/bin/python3
"""A compiled GPT-2 example has torch_step.py's parameters and inputs.

  compiled_like_torch.py STEP.so PEERS MODEL

Reads the step library's description (no state is created, so this is cheap
for gpt2-small) and compares it with torch_step.py's model MODEL: the same
parameter names, shapes and element types as its state_dict (the tied LM
head appears once; the order may differ), the same parameter count, inputs `tokens` and `targets`
[batch, ctx] i32 with token ids below the vocabulary size. Exits 1 on a
difference.
"""
import ctypes
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402


def main():
    so, peers, name = sys.argv[1:4]
    sys.path.insert(0, peers)
    import torch_step  # noqa: E402
    cfg = torch_step.MODELS[name]
    described = ftcpy.describe(ctypes.CDLL(so))
    params = [(t["name"], t["shape"], t["dtype"], t["high"]) for t in described["params"]]
    inputs = [(t["name"], t["shape"], t["dtype"], t["high"]) for t in described["inputs"]]
    model = torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"])
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()
              if not k.startswith("lm_head")}
    ours = {n: s for n, s, _, _ in params}
    bad = 0
    if ours != theirs or len(ours) != len(params):
        bad += 1
        for k in sorted(set(ours) | set(theirs)):
            if ours.get(k) != theirs.get(k):
                print(f"{k}: ftc {ours.get(k)}, torch_step.py {theirs.get(k)}")
    if any(dtype.__name__ != "float32" for _, _, dtype, _ in params):
        bad += 1
        print("parameters must be f32")
    total = sum(int(torch.tensor(s).prod()) if s else 1 for s in ours.values())
    print(f"{name}: {len(ours)} parameter tensors, {total} parameters")
    expected_inputs = [("tokens", (cfg["batch"], cfg["ctx"]), "int32", cfg["vocab"]),
                       ("targets", (cfg["batch"], cfg["ctx"]), "int32", cfg["vocab"])]
    got_inputs = [(n, s, d.__name__, h) for n, s, d, h in inputs]
    if got_inputs != expected_inputs:
        bad += 1
        print("inputs", got_inputs, "expected", expected_inputs)
    print("like torch_step.py:", "NO" if bad else "yes")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
