#!/usr/bin/python3
"""LoRA, DoRA and QLoRA beside full fine-tuning of the same model, as one table.

A benchmark, not a test. After ./setup.sh:

  /usr/bin/python3 bench/lora.py [--models gpt2-tiny,gpt2-mini] [--steps N]
                                 [--rounds R] [--threads T] [--out FILE]

For each model and each configuration it compiles examples/<model>.mlir with
build/bin/ftc (flags below) and --report, and runs

  /usr/bin/time -f %M build/bin/ftc-train <so> --synthetic --steps N+3 --warmup 3 --threads T

R times, the configurations one after the other in each round. Columns:
trainable parameters and their share (ftc --report), the parameters as stored
(an nf4 base in its 0.5625 bytes an element), gradient and optimizer-state
bytes, the step's planned memory (every buffer of the state, ftc --report's
total), the median step time (the median over the rounds of ftc-train's
median of N steps) and its ratio to full fine-tuning's, and the peak resident
memory of the ftc-train process (the largest of the rounds, in MiB).

Configurations (PEFT's usual GPT-2 targets, the attention's c_attn; rank 8):
  full   no adapters: every parameter trained
  lora   --lora-targets=attn\\.c_attn --lora-rank=8 --lora-alpha=16
  dora   the same with --lora-variant=dora
  qlora  the same with --lora-base=nf4 (every frozen linear weight as nf4)
  lora-all  --lora-targets='attn\\.c_attn|attn\\.c_proj|mlp\\.c_fc|mlp\\.c_proj' (rank 8)
"""
import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FTC = os.path.join(ROOT, "build", "bin", "ftc")
FTC_TRAIN = os.path.join(ROOT, "build", "bin", "ftc-train")
WARMUP = 3
ADAPTERS = ["--lora-targets=attn\\.c_attn", "--lora-rank=8", "--lora-alpha=16"]
CONFIGS = {
    "full": [],
    "lora": ADAPTERS,
    "dora": ADAPTERS + ["--lora-variant=dora"],
    "qlora": ADAPTERS + ["--lora-base=nf4"],
    "lora-all": ["--lora-targets=attn\\.c_attn|attn\\.c_proj|mlp\\.c_fc|mlp\\.c_proj",
                 "--lora-rank=8", "--lora-alpha=16"],
}


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def compile_step(model, name, flags, work):
    so = os.path.join(work, f"{model}-{name}.so")
    out = subprocess.run([FTC, os.path.join(ROOT, "examples", f"{model}.mlir"), "-o", so,
                          "--report", *flags], check=True, capture_output=True, text=True).stdout
    report = {}
    for key, pattern in {"total": r"^\s+total\s+(\d+)", "grad": r"^\s+gradients\s+(\d+)",
                         "slot": r"^\s+optimizer state\s+(\d+)",
                         "param": r"^\s+parameters\s+(\d+)"}.items():
        report[key] = int(re.search(pattern, out, re.M).group(1))
    trainable = re.search(r"trainable parameters\s+([\d,]+) \(([\d.]+)%\)", out)
    report["trainable"] = int(trainable.group(1).replace(",", ""))
    report["share"] = float(trainable.group(2))
    return so, report


def run_step(so, steps, threads):
    result = subprocess.run(["/usr/bin/time", "-f", "%M", FTC_TRAIN, so, "--synthetic",
                             "--steps", str(steps + WARMUP), "--warmup", str(WARMUP),
                             "--threads", str(threads)],
                            check=True, capture_output=True, text=True)
    median = float(re.search(r"median step ([\d.]+) ms", result.stdout).group(1))
    rss_kib = int(result.stderr.strip().splitlines()[-1])
    return median, rss_kib / 1024


def mib(n):
    return f"{n / 2**20:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="gpt2-tiny,gpt2-mini")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    configs = args.configs.split(",")
    lines = []
    with tempfile.TemporaryDirectory() as work:
        for model in args.models.split(","):
            compiled = {}
            for name in configs:
                progress(f"compiling {model} {name}")
                compiled[name] = compile_step(model, name, CONFIGS[name], work)
            times = {name: [] for name in configs}
            rss = {name: 0.0 for name in configs}
            for r in range(args.rounds):
                for name in configs:
                    progress(f"{model} {name} round {r + 1}/{args.rounds}")
                    median, peak = run_step(compiled[name][0], args.steps, args.threads)
                    times[name].append(median)
                    rss[name] = max(rss[name], peak)
            full = statistics.median(times["full"]) if "full" in times else None
            lines.append(f"{model} ({args.threads} threads, median of {args.rounds} rounds "
                         f"of {args.steps} steps)")
            lines.append(f"  {'config':<9}{'trainable':>12}{'share':>8}{'params MiB':>11}"
                         f"{'grads MiB':>10}{'optim MiB':>10}{'planned MiB':>12}"
                         f"{'step ms':>9}{'vs full':>8}{'peak RSS MiB':>13}")
            for name in configs:
                report = compiled[name][1]
                t = statistics.median(times[name])
                ratio = f"{t / full:.2f}x" if full else "-"
                lines.append(f"  {name:<9}{report['trainable']:>12,}{report['share']:>7.2f}%"
                             f"{mib(report['param']):>11}{mib(report['grad']):>10}"
                             f"{mib(report['slot']):>10}{mib(report['total']):>12}"
                             f"{t:>9.1f}{ratio:>8}{rss[name]:>13.1f}")
            lines.append("")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    header = (f"bench/lora.py at {commit}, {datetime.date.today()}: "
              f"{' '.join(sys.argv[1:]) or '(defaults)'}")
    text = "\n".join([header, ""] + lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
