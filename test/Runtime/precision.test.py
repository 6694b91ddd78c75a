import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

base = sys.argv[1]
images, labels = ftcpy.fashion_mnist("train")
batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
           for i in range(200)]
steps = {p: ftcpy.Step(f"{base}.{p}.so", seed=0) for p in ("fp32", "bf16", "fp16")}
ckpt = f"{base}.init.safetensors"
steps["fp32"].save(ckpt)
abi = ftcpy.describe(steps["fp32"].lib)
for p in ("bf16", "fp16"):
    same = ftcpy.describe(steps[p].lib) == abi and steps[p].lib.ftc_buffer_bytes(b"slot") == \
        steps["fp32"].lib.ftc_buffer_bytes(b"slot")
    steps[p].check(steps[p].load(ckpt))
    print(f"{p}: {'the same' if same else 'DIFFERENT'} f32 parameters, optimizer state and "
          f"gradients as fp32")
means = {}
for p, step in steps.items():
    losses = [step.step(b) for b in batches]
    means[p] = float(np.mean(losses[-20:]))
for p in ("bf16", "fp16"):
    gap = abs(means[p] - means["fp32"]) / means["fp32"] * 100
    print(f"{p}: mean loss of steps 181-200 {means[p]:.4f} against fp32's {means['fp32']:.4f}: "
          f"{'within' if gap <= 2 else 'NOT within'} 2% ({gap:.2f}%)")
