import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

base = sys.argv[1]
images, labels = ftcpy.fashion_mnist("train")
batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
           for i in range(10)]


def losses(precision, target):
    step = ftcpy.Step(f"{base}.{precision}.{target}.so", seed=0)
    return [step.step(b) for b in batches]


def same(label, ours, theirs, of):
    print(f"{label}: 10 losses {'bit-identical' if ours == theirs else 'DIFFERENT'} "
          f"from {of}'s".replace("from", "to"))


fp16 = losses("fp16", "host")
for target in ("x86-64", "haswell"):
    same(f"fp16 {target}", losses("fp16", target), fp16, "the host")
bf16 = losses("bf16", "x86-64")
same("bf16 skylake-avx512", losses("bf16", "skylake-avx512"), bf16, "x86-64")
same("bf16 host", losses("bf16", "host"), bf16, "x86-64")
