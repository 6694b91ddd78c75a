#!/usr/bin/python3
"""QLoRA's NF4 storage in compiled steps (`ftc --lora-base=nf4`), against a
reference written here from QLoRA's and bitsandbytes' definitions: the 16
NormalFloat values, one absmax per block of 64, x * (1 / absmax) coded as the
nearest value (ties to the lower one), two codes a byte, the even element in
the high nibble.

  qlora.py FTC MLP.mlir WORKDIR

Checks:
  - the codes and scales ftc_create stores are the reference quantization of
    the f32 weights the same model without storage draws (same seed);
  - a float state_dict loaded into the step is quantized the same way, and
    values on a midpoint between two codes take the lower one;
  - the compiled dequantize matches the table exactly: the step's loss and
    gradients equal those of the f32 step given the dequantized weights, and
    the merged file holds nf4[code] * absmax;
  - memory: the stored base takes 0.5625 bytes an element;
  - double quantization (`--lora-base=nf4-dq`): the scales' 8-bit codes of
    bitsandbytes' dynamic map (the map against create_dynamic_map computed
    with PyTorch as bitsandbytes does), their absmax per 256 and offset (the
    mean) against the reference, and the compiled dequantize bit for bit;
  - training: the MLP pretrained on Fashion-MNIST, then fine-tuned with LoRA
    (rank 8 on fc1, fc2; fc3 trained) for 200 steps from an f32 base and from
    its nf4 quantization: the mean loss of the last 20 steps within 3%.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

# QLoRA's NormalFloat4 (Dettmers et al. 2023, appendix; bitsandbytes' table).
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                0.7229568362236023, 1.0], dtype=np.float32)
MIDPOINTS = ((NF4[:-1] + NF4[1:]) * np.float32(0.5)).astype(np.float32)
LORA = ["--lora-targets=fc[12]", "--lora-rank=8", "--lora-trainable=^fc3"]
failures = 0


def check(ok, message):
    global failures
    failures += not ok
    print(f"{message}: {'ok' if ok else 'FAIL'}")


def quantize(w):
    """The reference: (codes [n/2] u8, absmax [ceil(n/64)] f32)."""
    x = w.astype(np.float32).reshape(-1)
    n = x.size
    blocks = np.pad(x, (0, (-n) % 64)).reshape(-1, 64)
    absmax = np.abs(blocks).max(axis=1).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (blocks * (np.float32(1.0) / absmax)[:, None]).reshape(-1)[:n]
    # An all-zero block: 0 * inf is NaN, which bitsandbytes' CUDA decision
    # tree (every comparison false) codes as 0; it dequantizes to 0 there.
    codes = np.where(np.isnan(scaled), 0,
                     np.searchsorted(MIDPOINTS, scaled, side="left")).astype(np.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax


def dequantize(codes, absmax, shape):
    c = np.empty(codes.size * 2, np.uint8)
    c[0::2], c[1::2] = codes >> 4, codes & 15
    return (NF4[c] * np.repeat(absmax, 64)[:c.size]).reshape(shape)


def dynamic_map():
    """bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
    total_bits=8), computed with PyTorch the way bitsandbytes does."""
    import torch
    data = []
    for i in range(7):
        bounds = torch.linspace(0.1, 1, 2 ** i + 1, dtype=torch.float32)
        means = (bounds[:-1] + bounds[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0, 1.0]
    return np.sort(np.array(data, dtype=np.float32))


def nearest(table, x):
    """Index of the nearest entry of the sorted table (ties to the lower)."""
    up = np.clip(np.searchsorted(table, x, side="left"), 1, table.size - 1)
    return np.where(x - table[up - 1] <= table[up] - x, up - 1, up).astype(np.uint8)


def double_quantization(so, images, labels):
    q, f = ftcpy.Step(so["frozen-dq"], seed=3), ftcpy.Step(so["frozen-lora"], seed=3)
    qp, fp = q.params_by_name(), f.params_by_name()
    ours = qp["fc1.weight.nested_quant_map"]
    theirs = dynamic_map()
    ulps = np.abs(ours.astype(np.float64) - theirs) / np.spacing(np.abs(theirs).astype(np.float32))
    # PyTorch's f32 linspace, which bitsandbytes builds the map from, takes
    # its bits from its SIMD path (here AVX2: 8 lanes, two vectors a
    # round, FMAs for each vector's base): ftc computes every element as
    # its scalar path does (start + k step, end - (n - 1 - k) step), which
    # moves some entries by an ulp or two, and keeps the map in the state.
    check(ours.size == 256 and np.array_equal(np.sign(ours), np.sign(theirs)) and
          float(ulps.max()) <= 2.0,
          f"the scales' code map is bitsandbytes' dynamic map within 2 ulp (max {ulps.max():.0f} "
          f"ulp, {int(np.count_nonzero(ulps))} of 256 entries differ)")
    for name in ("fc1.weight", "fc2.weight", "fc3.weight"):
        codes, absmax = quantize(fp[name])
        offset = np.float32(absmax.astype(np.float64).mean())
        centred = (absmax - offset).astype(np.float32)
        blocks = np.pad(centred, (0, (-centred.size) % 256)).reshape(-1, 256)
        top = np.abs(blocks).max(axis=1).astype(np.float32)
        scaled = (blocks / top[:, None]).reshape(-1)[:centred.size].astype(np.float32)
        ok = (np.array_equal(qp[name], codes) and qp[name + ".nested_offset"][0] == offset and
              np.array_equal(qp[name + ".nested_absmax"], top) and
              np.array_equal(qp[name + ".absmax"], nearest(ours, scaled)))
        check(ok, f"{name}: nf4 codes, the scales' codes, their absmax and offset are the reference's")
    stored = sum(v.nbytes for n, v in qp.items() if "lora" not in n and "bias" not in n)
    elements = sum(fp[n].size for n in ("fc1.weight", "fc2.weight", "fc3.weight"))
    print(f"double-quantized base: {stored} bytes for {elements} elements "
          f"({stored / elements:.4f} a byte; nf4 alone 0.5625)")
    for i, info in enumerate(f.params):
        name = info["name"]
        if name in ("fc1.weight", "fc2.weight", "fc3.weight"):
            c, n = qp[name + ".absmax"], qp[name + ".nested_absmax"]
            absmax = (ours[c] * np.repeat(n, 256)[:c.size] + qp[name + ".nested_offset"][0]).astype(np.float32)
            f.param(i)[...] = dequantize(qp[name], absmax, info["shape"])
        else:
            f.param(i)[...] = qp[name]
    b = batches(images, labels, 0, 1)[0]
    check(q.eval(b) == f.eval(b),
          "the nf4-dq step's loss equals the f32 step's on the reference dequantization")


def batches(images, labels, first, count):
    return [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
            for i in range(first, first + count)]


def main():
    ftc, model, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    so = {}
    # "frozen-*": fc3 frozen too (stored as nf4 without adapters).
    for name, flags in {"full": [], "lora": LORA, "qlora": LORA + ["--lora-base=nf4"],
                        "qlora-dq": LORA + ["--lora-base=nf4-dq"],
                        "frozen-lora": LORA[:2],
                        "frozen-qlora": LORA[:2] + ["--lora-base=nf4"],
                        "frozen-dq": LORA[:2] + ["--lora-base=nf4-dq"]}.items():
        so[name] = os.path.join(work, f"{name}.so")
        subprocess.run([ftc, model, "-o", so[name], *flags], check=True)

    # Creation: the f32 values of the same seed, quantized.
    q, f = ftcpy.Step(so["frozen-qlora"], seed=3), ftcpy.Step(so["frozen-lora"], seed=3)
    qp, fp = q.params_by_name(), f.params_by_name()
    stored = [n for n, v in qp.items() if v.dtype == np.uint8]
    print("nf4-stored:", ", ".join(stored))
    for name in stored:
        codes, absmax = quantize(fp[name])
        check(np.array_equal(qp[name], codes) and np.array_equal(qp[name + ".absmax"], absmax),
              f"{name}: ftc_create's codes and scales are the reference quantization")
    elements = sum(fp[n].size for n in stored)
    stored_bytes = sum(qp[n].nbytes + qp[n + ".absmax"].nbytes for n in stored)
    check(stored_bytes * 16 == elements * 9,
          f"stored base: {stored_bytes} bytes for {elements} elements (0.5625 a byte)")

    # The compiled dequantize: the f32 step with the dequantized weights
    # computes the same loss and gradients, bit for bit.
    for i, info in enumerate(f.params):
        name = info["name"]
        f.param(i)[...] = (dequantize(qp[name], qp[name + ".absmax"], info["shape"])
                           if name in stored else qp[name])
    images, labels = ftcpy.fashion_mnist("train")
    batch = batches(images, labels, 0, 1)[0]
    same_loss = q.eval(batch) == f.eval(batch)
    q.grad(batch)
    f.grad(batch)
    same_grads = all(np.array_equal(q.grad_of(i), f.grad_of(f.params.index(
        next(p for p in f.params if p["name"] == info["name"]))))
        for i, info in enumerate(q.params) if info["trainable"])
    check(same_loss and same_grads,
          "the nf4 step's loss and gradients equal the f32 step's on the dequantized weights")
    merged = os.path.join(work, "merged.safetensors")
    q.check(q.save_merged(merged))
    fc3 = ftcpy.read_safetensors(merged)["fc3.weight"]
    check(np.array_equal(fc3, dequantize(qp["fc3.weight"], qp["fc3.weight.absmax"], (10, 1024))),
          "merged fc3.weight (nf4, no adapters) is nf4[code] * absmax")

    # Midpoints: a checkpoint whose fc3 block holds every midpoint (absmax 1,
    # so x * (1 / absmax) is x) and the next float above each.
    probe = f.params_by_name()
    row = np.concatenate([MIDPOINTS, np.nextafter(MIDPOINTS, np.float32(2)), [np.float32(1.0)]])
    probe["fc3.weight"] = np.zeros((10, 1024), np.float32)
    probe["fc3.weight"][0, :row.size] = row
    ckpt = os.path.join(work, "midpoints.safetensors")
    ftcpy.write_safetensors(ckpt, {n: v for n, v in probe.items() if "lora" not in n})
    q.check(q.load(ckpt))
    print("load report quantized:", ", ".join(q.report().get("quantized", [])))
    got = q.params_by_name()["fc3.weight"]
    codes = np.empty(got.size * 2, np.uint8)
    codes[0::2], codes[1::2] = got >> 4, got & 15
    check(np.array_equal(codes[:15], np.arange(15)) and np.array_equal(codes[15:30], np.arange(1, 16)),
          "a value on a midpoint takes the lower code, the next float above the upper")
    reference, _ = quantize(probe["fc3.weight"])
    check(np.array_equal(got, reference), "a float checkpoint is quantized as the reference")

    double_quantization(so, images, labels)

    # QLoRA against LoRA: pretrain, then fine-tune from the f32 base and from
    # its nf4 quantization on the same batches.
    full = ftcpy.Step(so["full"], seed=0)
    for b in batches(images, labels, 0, 200):
        full.step(b)
    base = os.path.join(work, "pretrained.safetensors")
    ftcpy.write_safetensors(base, full.params_by_name())
    means = {}
    for name in ("lora", "qlora", "qlora-dq"):
        step = ftcpy.Step(so[name], seed=1)
        step.check(step.load(base))
        losses = [step.step(b) for b in batches(images, labels, 200, 200)]
        means[name] = float(np.mean(losses[-20:]))
        print(f"{name}: loss {losses[0]:.4f} at step 1, mean of steps 181-200 {means[name]:.4f}")
    for name in ("qlora", "qlora-dq"):
        rel = abs(means[name] - means["lora"]) / means["lora"]
        check(rel <= 0.03, f"{name}: the loss after 200 steps within 3% of LoRA's ({100 * rel:.2f}%)")
    print("qlora:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
