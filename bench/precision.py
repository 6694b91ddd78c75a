#!/usr/bin/python3
"""fp32, bf16 (widened and on vdpbf16ps) and fp16 training steps of the same model, as one table.

A benchmark, not a test. After ./setup.sh:

  /usr/bin/python3 bench/precision.py [--models mlp,gpt2-tiny] [--steps N]
                                      [--rounds R] [--threads T] [--out FILE]

For each model and each configuration it compiles examples/<model>.mlir with
build/bin/ftc (flags below) and runs

  build/bin/ftc-train <so> --synthetic --steps N+3 --warmup 3 --threads T

R times, the configurations one after the other in each round (the machine is
noisy: compare the ratios to fp32 within one run). Columns: the instruction
set the products were tiled for (ftc --dump-pipeline), the median step time
(the median over the rounds of ftc-train's median of N steps) and its ratio to
fp32's, and the fastest and slowest round.

Configurations:
  fp32       --precision=fp32
  bf16       --precision=bf16 (the default: packed bf16 operands widened to
             f32, the f32 kernel)
  bf16-dot   --precision=bf16 --bf16-dot (vdpbf16ps; only on a host with
             AVX512_BF16)
  fp16       --precision=fp16 (packed f16 operands widened to f32)
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
CONFIGS = {
    "fp32": ["--precision=fp32"],
    "bf16": ["--precision=bf16"],
    "bf16-dot": ["--precision=bf16", "--bf16-dot"],
    "fp16": ["--precision=fp16"],
}
FLAGS = ("avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def compile_step(model, name, flags, work):
    so = os.path.join(work, f"{model}-{name}.so")
    err = subprocess.run([FTC, os.path.join(ROOT, "examples", f"{model}.mlir"), "-o", so,
                          "--dump-pipeline", *flags], check=True, capture_output=True,
                         text=True).stderr
    return so, re.search(r"ftc-cpu-tile-contractions\{isa=(\w+)", err).group(1)


def run_step(so, steps, threads):
    out = subprocess.run([FTC_TRAIN, so, "--synthetic", "--steps", str(steps + WARMUP),
                          "--warmup", str(WARMUP), "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"median step ([\d.]+) ms", out).group(1))


def cpu_line():
    with open("/proc/cpuinfo") as f:
        info = f.read()
    name = re.search(r"^model name\s*:\s*(.+)$", info, re.M).group(1)
    flags = set(re.search(r"^flags\s*:\s*(.+)$", info, re.M).group(1).split())
    return f"CPU: {name}, {os.cpu_count()} cores; flags: " + ", ".join(
        f if f in flags else f"no {f}" for f in FLAGS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,gpt2-tiny")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out")
    args = parser.parse_args()
    configs = args.configs.split(",")
    with open("/proc/cpuinfo") as f:
        if "avx512_bf16" not in f.read() and "bf16-dot" in configs:
            configs.remove("bf16-dot")  # --bf16-dot needs AVX512_BF16
    lines = []
    with tempfile.TemporaryDirectory() as work:
        for model in args.models.split(","):
            compiled = {}
            for name in configs:
                progress(f"compiling {model} {name}")
                compiled[name] = compile_step(model, name, CONFIGS[name], work)
            times = {name: [] for name in configs}
            for r in range(args.rounds):
                for name in configs:
                    progress(f"{model} {name} round {r + 1}/{args.rounds}")
                    times[name].append(run_step(compiled[name][0], args.steps, args.threads))
            base = statistics.median(times["fp32"]) if "fp32" in times else None
            lines.append(f"{model} ({args.threads} threads, median of {args.rounds} rounds "
                         f"of {args.steps} steps)")
            lines.append(f"  {'config':<11}{'products':>11}{'step ms':>9}{'vs fp32':>8}"
                         f"{'fastest':>9}{'slowest':>9}")
            for name in configs:
                t = statistics.median(times[name])
                ratio = f"{t / base:.2f}x" if base else "-"
                lines.append(f"  {name:<11}{compiled[name][1]:>11}{t:>9.1f}{ratio:>8}"
                             f"{min(times[name]):>9.1f}{max(times[name]):>9.1f}")
            lines.append("")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    header = (f"bench/precision.py at {commit}, {datetime.date.today()}: "
              f"{' '.join(sys.argv[1:]) or '(defaults)'}")
    text = "\n".join([header, cpu_line(), ""] + lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
