#!/usr/bin/python3
"""The README's recipe, measured: a character-level GPT of nanoGPT's baby
kind (examples/gpt-chars.mlir: 4 layers, 4 heads, width 128, context 64,
batch 12) trained 2000 iterations on a text from Debian's fortunes
package, lr 1e-3 with 100 warmup steps and cosine decay to 1e-4, AdamW
betas 0.9/0.99, weight decay 0.1 on matrices only, gradient clipping at
1.0, no dropout; the last 10% of the text for validation, evaluated every
250 steps. Once by ftc (flags alone) and once by PyTorch (the same model
as ../shared/peers/torch_step.py builds it, the same recipe in Python) in
the same run, then a table.

  /usr/bin/python3 bench/recipe.py [--steps N] [--text FILE] [--out DIR]
                                   [--peers ../shared/peers] [--no-torch]
                                   [--torch-threads N]

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (a fair PyTorch
CPU baseline on these machines): `env -u OPENBLAS_CORETYPE -u
OPENBLAS_L2_SIZE /usr/bin/python3 bench/recipe.py`. ftc runs at its
default (OpenMP: one thread per core), PyTorch at its own default
(physical cores) unless --torch-threads N.
"""
import argparse
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WARMUP, PEAK, FLOOR, EVERY = 100, 1e-3, 1e-4, 250
COMPILE = ["--beta2=0.99", "--weight-decay=0.1", "--decay-params=matrices",
           "--clip-grad-norm=1.0"]


def tool(name):
    built = os.path.join(ROOT, "build", "bin", name)
    return built if os.path.exists(built) else name


def run_ftc(args, out):
    so = os.path.join(out, "gpt-chars.so")
    subprocess.run([tool("ftc"), os.path.join(ROOT, "examples", "gpt-chars.mlir"), "-o", so,
                    *COMPILE], check=True)
    cmd = [tool("ftc-train"), so, "--data", args.text, "--vocab=chars", "--val-split=0.1",
           f"--steps={args.steps}", "--lr-schedule=cosine", f"--warmup-steps={WARMUP}",
           f"--min-lr={FLOOR}", f"--eval-every={EVERY}",
           f"--save-best={os.path.join(out, 'best.safetensors')}",
           f"--log={os.path.join(out, 'ftc.jsonl')}", f"--plot={os.path.join(out, 'ftc.svg')}",
           "--warmup=10", "--sample=300"]
    print("$", " ".join(cmd), flush=True)
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    with open(os.path.join(out, "ftc.log"), "w") as f:
        f.write(text)
    median = float(re.search(r"median step ([0-9.]+) ms", text).group(1))
    vals = [float(v) for v in re.findall(r"validation loss ([0-9.]+), training", text)]
    return dict(median_ms=median, val=vals[-1], best=min(vals), vals=vals,
                sample=text.split("sample, after", 1)[1])


def run_torch(args, out):
    """The same recipe in PyTorch: the GPT-2 of torch_step.py at this size,
    AdamW param groups, LambdaLR with the same schedule, clip_grad_norm_."""
    import torch
    spec = importlib.util.spec_from_file_location("torch_step",
                                                  os.path.join(args.peers, "torch_step.py"))
    peers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peers)
    torch.manual_seed(0)
    # PyTorch's own default (the physical cores) unless told: on the 2-vCPU
    # machine of bench/results/2026-11-29-recipe.txt 2 threads took 2.6x
    # as long as its default 1.
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    text = open(args.text, encoding="utf-8").read()
    chars = sorted(set(text))
    ids = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
    split = len(ids) - round(0.1 * len(ids))
    train, val = ids[:split], ids[split:]
    B, T = 12, 64
    model = peers.GPT2(vocab=96, ctx=T, d=128, layers=4, heads=4)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": other, "weight_decay": 0.0}], lr=PEAK, betas=(0.9, 0.99))

    def factor(s):
        if s < WARMUP:
            return (s + 1) / (WARMUP + 1)
        if s >= args.steps:
            return FLOOR / PEAK
        progress = (s - WARMUP) / (args.steps - WARMUP)
        return (FLOOR + (PEAK - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))) / PEAK

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    # Validation as ftc-train: consecutive windows of the tail, full batches.
    windows = (len(val) - 1) // T
    batches = windows // B

    def val_loss():
        model.eval()
        with torch.no_grad():
            total = 0.0
            for b in range(batches):
                rows = [val[(b * B + r) * T:(b * B + r) * T + T + 1] for r in range(B)]
                x = torch.stack([w[:-1] for w in rows])
                y = torch.stack([w[1:] for w in rows])
                total += model(x, y).item()
        model.train()
        return total / batches

    gen = torch.Generator().manual_seed(0)
    times, vals = [], []
    for s in range(args.steps):
        offsets = torch.randint(0, split - T, (B,), generator=gen)
        x = torch.stack([train[o:o + T] for o in offsets])
        y = torch.stack([train[o + 1:o + T + 1] for o in offsets])
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if s >= 10:
            times.append((time.perf_counter() - t0) * 1e3)
        if (s + 1) % EVERY == 0:
            vals.append(val_loss())
            print(f"torch step {s + 1}: validation loss {vals[-1]:.4f}", flush=True)
    return dict(median_ms=statistics.median(times), val=vals[-1], best=min(vals), vals=vals,
                threads=torch.get_num_threads(), version=torch.__version__)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--text", default="/usr/share/games/fortunes/songs-poems")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "recipe"))
    ap.add_argument("--peers", default=os.path.join(ROOT, "..", "shared", "peers"))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-threads", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ours = run_ftc(args, args.out)
    theirs = None if args.no_torch else run_torch(args, args.out)
    print(f"\nrecipe: {args.steps} iterations on {args.text} "
          f"({os.cpu_count()} cores; evaluations every {EVERY} steps)\n")
    print("| | validation loss at the end | best | ms per iteration | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(f"| ftc | {ours['val']:.4f} | {ours['best']:.4f} | {ours['median_ms']:.2f} | 1.00x |")
    if theirs:
        print(f"| PyTorch {theirs['version']} eager ({theirs['threads']} threads) | "
              f"{theirs['val']:.4f} | {theirs['best']:.4f} | {theirs['median_ms']:.2f} | "
              f"{theirs['median_ms'] / ours['median_ms']:.2f}x |")
    print("\nvalidation losses every", EVERY, "steps:")
    print("  ftc    ", " ".join(f"{v:.4f}" for v in ours["vals"]))
    if theirs:
        print("  PyTorch", " ".join(f"{v:.4f}" for v in theirs["vals"]))
    print(f"\nloss curves: {os.path.join(args.out, 'ftc.svg')}; ftc's sample:{ours['sample']}")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(dict(ftc=ours, torch=theirs), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
