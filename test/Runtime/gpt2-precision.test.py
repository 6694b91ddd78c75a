import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

base = sys.argv[1]
# The GPL-3's bytes as tokens: windows of 129 at seeded offsets, the
# targets one token on.
text = np.frombuffer(open("/usr/share/common-licenses/GPL-3", "rb").read(), dtype=np.uint8)
rng = np.random.default_rng(0)
batches = []
for _ in range(200):
    starts = rng.integers(0, len(text) - 129, size=8)
    windows = np.stack([text[s:s + 129] for s in starts]).astype(np.int32)
    batches.append({"tokens": windows[:, :-1].copy(), "targets": windows[:, 1:].copy()})

steps = {p: ftcpy.Step(f"{base}.{p}.so", seed=0) for p in ("fp32", "bf16", "fp16")}
steps["fp32"].save(f"{base}.init.safetensors")
for p in ("bf16", "fp16"):
    steps[p].check(steps[p].load(f"{base}.init.safetensors"))
means = {}
for p, step in steps.items():
    losses = [step.step(b) for b in batches]
    means[p] = float(np.mean(losses[-20:]))
for p in ("bf16", "fp16"):
    gap = abs(means[p] - means["fp32"]) / means["fp32"] * 100
    extra = f", {steps[p].skipped()} skipped" if p == "fp16" else ""
    print(f"{p}: mean loss of steps 181-200 {means[p]:.4f} against fp32's {means['fp32']:.4f}: "
          f"{'within' if gap <= 2 else 'NOT within'} 2% ({gap:.2f}%){extra}")
