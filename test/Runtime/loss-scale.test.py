import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

base = sys.argv[1]
images, labels = ftcpy.fashion_mnist("train")
batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
           for i in range(60)]
SCALER = ("grad_scaler.scale", "grad_scaler.growth_tracker")


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def snapshot(step, name):
    path = f"{base}.{name}.safetensors"
    step.save(path)
    return ftcpy.read_safetensors(path)


def log2(x):
    return int(np.log2(x))


def with_scale(step, name, scale):
    """The state of `step` with its loss scale replaced (an injected overflow)."""
    tensors = dict(snapshot(step, name))
    tensors["grad_scaler.scale"] = np.float32(scale)
    path = f"{base}.{name}.scaled.safetensors"
    ftcpy.write_safetensors(path, tensors)
    step.check(step.load(path))


# The settings travel in the model description.
fp16 = ftcpy.Step(f"{base}.fp16.so", seed=0)
settings = fp16.description()["loss_scale"]
print(f"fp16: loss scaling {json.dumps(settings, sort_keys=True, separators=(',', ':'))}, "
      f"scale {fp16.loss_scale():g}")
fp32 = ftcpy.Step(f"{base}.fp32.so", seed=0)
print(f"fp32: no loss scaling (scale {fp32.loss_scale():g})")


def overflow(path, label):
    """Three steps, then an injected scale of 2^40: fp16 gradients overflow."""
    s = ftcpy.Step(path, seed=0)
    for b in batches[:3]:
        s.step(b)
    with_scale(s, label, 2.0 ** 40)
    before = snapshot(s, label + ".before")
    loss = s.step(batches[3])
    after = snapshot(s, label + ".after")
    if not np.isfinite(loss):
        fail(f"{label}: the skipped step's loss is {loss}")
    same = [k for k in before if k not in SCALER and before[k].tobytes() == after[k].tobytes()]
    changed = [k for k in before if k not in SCALER and k not in same]
    if changed:
        fail(f"{label}: a skipped step changed {changed}")
    print(f"{label}: overflow at scale 2^40: skipped, all {len(same)} other tensors bit-identical, "
          f"step counter {int(after['optim.step'])}, scale 2^{log2(after['grad_scaler.scale'])}, "
          f"growth tracker {int(after['grad_scaler.growth_tracker'])}")
    if s.skipped() != 1 or s.steps() != 3:
        fail(f"{label}: skipped {s.skipped()}, steps {s.steps()}")
    return s, before


s, before = overflow(f"{base}.fp16.so", "fp16 adamw")
# Each skip halves the scale; the first finite step updates.
batch = 4
while s.steps() == 3:
    scale = s.loss_scale()
    s.step(batches[batch])
    batch += 1
    if s.steps() == 3 and s.loss_scale() != scale / 2:
        fail(f"a skip took the scale from {scale} to {s.loss_scale()}")
after = snapshot(s, "first-update")
updated = [k for k in before if k not in SCALER and before[k].tobytes() != after[k].tobytes()]
if "optim.step" not in updated or len(updated) < 2:
    fail(f"the first finite step changed only {updated}")
print(f"fp16 adamw: {s.skipped() - 1} more skipped steps halve the scale to "
      f"2^{log2(s.loss_scale())}, then step {s.steps()} updates the parameters")
losses = [s.step(b) for b in batches[batch:batch + 20]]
if not all(np.isfinite(losses)) or not np.mean(losses[-5:]) < np.mean(losses[:5]):
    fail(f"training did not go on: {losses}")
print(f"fp16 adamw: 20 more steps, loss {np.mean(losses[:5]):.4f} -> {np.mean(losses[-5:]):.4f}, "
      f"all finite")

overflow(f"{base}.sgd.so", "fp16 sgd")


def reference_scales(finite_steps, init=65536.0, growth=2.0, backoff=0.5, interval=3):
    """GradScaler.update (torch's _amp_update_scale_), step by step."""
    scale, tracker, out = init, 0, []
    for finite in finite_steps:
        if not finite:
            scale, tracker = scale * backoff, 0
        elif tracker + 1 == interval:
            scale, tracker = scale * growth, 0
        else:
            tracker += 1
        out.append(scale)
    return out, tracker


g = ftcpy.Step(f"{base}.grow.so", seed=0)
scales, finite = [], []
for b in batches[:7]:
    n = g.steps()
    g.step(b)
    finite.append(g.steps() == n + 1)
    scales.append(g.loss_scale())
expected, tracker = reference_scales(finite)
state = snapshot(g, "grow")
if scales != expected or int(state["grad_scaler.growth_tracker"]) != tracker:
    fail(f"scales {scales}, expected {expected}; tracker {state['grad_scaler.growth_tracker']}")
print(f"growth interval 3: scales [{', '.join(f'{x:g}' for x in scales)}] as GradScaler's, "
      f"tracker {tracker}")

# ftc_grad unscales: each gradient has fp32's norm to within 1% (a scale
# left in would be off by 2^16, one applied twice by 2^-16). They differ in
# direction by up to a few percent: fp16 rounding of the activations flips
# some ReLUs, which moves whole rows of the earlier layers' gradients.
a, b = ftcpy.Step(f"{base}.fp16.so", seed=0), ftcpy.Step(f"{base}.fp32.so", seed=0)
a.grad(batches[0])
b.grad(batches[0])
ratios = []
for i in range(len(a.params)):
    ga, gb = a.grad_of(i).astype(np.float64), b.grad_of(i).astype(np.float64)
    ratios.append(np.linalg.norm(ga) / np.linalg.norm(gb))
if not all(abs(r - 1) < 0.01 for r in ratios):
    fail(f"fp16 gradient norms against fp32's: {ratios}")
print(f"ftc_grad: unscaled gradients, norms within {100 * max(abs(r - 1) for r in ratios):.2f}% "
      f"of fp32's")

# Resume: 5 + 5 steps equal 10 steps, bit for bit.
whole = ftcpy.Step(f"{base}.grow.so", seed=0)
for b in batches[:10]:
    whole.step(b)
first = ftcpy.Step(f"{base}.grow.so", seed=0)
for b in batches[:5]:
    first.step(b)
first.save(f"{base}.half.safetensors")
second = ftcpy.Step(f"{base}.grow.so", seed=1)
second.check(second.load(f"{base}.half.safetensors"))
for b in batches[5:10]:
    second.step(b)
x, y = snapshot(whole, "whole"), snapshot(second, "resumed")
if x.keys() != y.keys() or any(x[k].tobytes() != y[k].tobytes() for k in x):
    fail("a resumed run differs from an uninterrupted one")
print("resume: 5 + 5 steps bit-identical to 10 (scale and growth tracker included)")

# Checkpoints move between precisions.
c32 = ftcpy.Step(f"{base}.fp32.so", seed=0)
c32.step(batches[0])
c32.save(f"{base}.from-fp32.safetensors")
c16 = ftcpy.Step(f"{base}.fp16.so", seed=3)
c16.step(batches[0])
c16.check(c16.load(f"{base}.from-fp32.safetensors"))
print(f"fp32 checkpoint into fp16: scale {c16.loss_scale():g} (fresh), "
      f"skipped {c16.report()['skipped']}")
with_scale(c16, "from-fp16", 1024.0)
c32.check(c32.load(f"{base}.from-fp16.scaled.safetensors"))
skipped = sorted(e["name"] for e in c32.report()["skipped"] if e["reason"] == "state")
print(f"fp16 checkpoint into fp32: skipped {', '.join(skipped)}")
