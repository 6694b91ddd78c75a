#!/usr/bin/python3
"""ftc's training step beside PyTorch's and beside this machine's sgemm, as one table.

A benchmark, not a test. After ./setup.sh, with Debian's python:

  /usr/bin/python3 bench/table.py [--models mlp,gpt2-tiny,gpt2-mini] [--steps N]
                                  [--rounds R] [--out FILE]

For each model it compiles examples/<model>.mlir with build/bin/ftc, then, for R
rounds, times the models one after the other, each round running

  build/bin/ftc-train <model>.so --synthetic --steps N+3 --warmup 3
  /usr/bin/python3 $FTC_PEERS/torch_step.py --model M --device cpu --threads T --steps N --warmup 3

for T = 1 and 2 (ftc-train counts its warm-up steps in --steps, torch_step.py
does not: both time N steps after 3 warm-up steps). Each figure is the median
over the rounds of the medians of N steps; PyTorch's better thread count is
the one compared. The peers are ../shared/peers relative to the repository
root unless FTC_PEERS names another directory.

Every PyTorch command (the peer and the sgemm measurement) runs with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment alone.

Besides the times the table gives each model's FLOPs per step (the matrix
products only, see `step_products`) as a rate for ftc and for PyTorch, and the
rate OpenBLAS's sgemm reaches through torch.mm at the same product shapes and
layouts on this machine, at 1 and 2 threads: the ceiling a BLAS-bound step
could approach.
"""
import argparse
import ast
import datetime
import json
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
PYTHON = "/usr/bin/python3"
BLAS = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
WARMUP = 3
TORCH_THREADS = (1, 2)
# Removed from the environment of PyTorch's commands only (see the peers README).
OPENBLAS_TUNING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def die(message):
    sys.exit(f"bench/table.py: error: {message}")


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peers_dir():
    peers = os.environ.get("FTC_PEERS") or os.path.join(ROOT, "..", "shared", "peers")
    peers = os.path.normpath(peers)
    if not os.path.isfile(os.path.join(peers, "torch_step.py")):
        how = "from FTC_PEERS" if os.environ.get("FTC_PEERS") else \
            "the default, ../shared/peers relative to the repository root; set FTC_PEERS to another directory"
        die(f"no peers directory: looked for torch_step.py in {peers} ({how})")
    return peers


def model_configs(peers):
    """torch_step.py's MODELS dict, read from its source (without importing torch)."""
    path = os.path.join(peers, "torch_step.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MODELS"
                                                for t in node.targets):
            return eval(compile(ast.Expression(node.value), path, "eval"), {"__builtins__": {}},
                        {"dict": dict})
    die(f"{path} has no MODELS dict")


# --- FLOPs ------------------------------------------------------------------

def weight_product(name, M, N, K, input_grad=True):
    """The products of y = x Wᵀ (nn.Linear), x [M, K], W [N, K], y [M, N].

    Forward y = x Wᵀ; backward dW = dyᵀ x and, when x needs a gradient (not for
    a model's input), dx = dy W. Each entry is (name, count, M, N, K, ta, tb):
    C[M, N] = op(A)[M, K] op(B)[K, N], A stored [K, M] when ta, B stored [N, K]
    when tb, as BLAS sees them.
    """
    out = [(f"{name} fwd", 1, M, N, K, False, True),
           (f"{name} dW", 1, N, K, M, True, False)]
    if input_grad:
        out.append((f"{name} dx", 1, M, K, N, False, False))
    return out


def step_products(cfg):
    """Every matrix product of one training step (forward and backward) of a
    torch_step.py model: a list of (name, count, M, N, K, ta, tb) (see
    `weight_product`); the step's FLOPs are sum(2 M N K count).

    MLP (sizes s0..sn, batch B): per layer y = x Wᵀ with M = B; the first
    layer's input needs no gradient, so its backward is dW only (1x the
    forward), the others' dW and dx (2x).

    GPT-2 (batch B, context T, width d, L layers, H heads of hs = d / H; M = B T
    tokens): per layer the weight products c_attn (d -> 3d), attn.c_proj
    (d -> d), mlp.c_fc (d -> 4d), mlp.c_proj (4d -> d), each with dx and dW;
    and per layer and per (batch, head) the attention products S = q kᵀ
    [T, hs] x [hs, T] and Y = P v [T, T] x [T, hs], whose two operands both get
    gradients (dq = dS k, dk = dSᵀ q; dP = dY vᵀ, dv = Pᵀ dY). Scores are
    counted full T x T (as PyTorch computes them), not halved for the causal
    mask. The tied LM head logits = x wteᵀ (d -> vocab) is a weight product
    with dx and dW. Embedding lookups, layer norms, softmax, GELU, the loss
    and the optimizer are not products and are not counted, nor is any
    recomputation an implementation chooses (ftc's attention recomputes P in
    its backward): these are the model's FLOPs, the same for both sides.
    """
    if cfg["kind"] == "mlp":
        sizes, B = cfg["sizes"], cfg["batch"]
        out = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            out += weight_product(f"fc{i + 1}", B, b, a, input_grad=i > 0)
        return out
    B, T, d, L, H, V = (cfg[k] for k in ("batch", "ctx", "d", "layers", "heads", "vocab"))
    M, hs = B * T, d // H
    layer = (weight_product("attn.c_attn", M, 3 * d, d) + weight_product("attn.c_proj", M, d, d)
             + weight_product("mlp.c_fc", M, 4 * d, d) + weight_product("mlp.c_proj", M, d, 4 * d))
    heads = [("q kᵀ fwd", 1, T, T, hs, False, True),
             ("q kᵀ dq", 1, T, hs, T, False, False),
             ("q kᵀ dk", 1, T, hs, T, True, False),
             ("P v fwd", 1, T, hs, T, False, False),
             ("P v dP", 1, T, T, hs, False, True),
             ("P v dv", 1, T, hs, T, True, False)]
    out = [(n, c * L, m, nn, k, ta, tb) for n, c, m, nn, k, ta, tb in layer]
    out += [(n, c * L * B * H, m, nn, k, ta, tb) for n, c, m, nn, k, ta, tb in heads]
    return out + weight_product("lm_head", M, V, d)


def flops(products):
    return sum(2 * c * m * n * k for _, c, m, n, k, _, _ in products)


# --- sgemm through torch.mm ---------------------------------------------------

def sgemm_worker(threads):
    """Runs in a subprocess: reads [[M, N, K, ta, tb], ...] on stdin, prints
    JSON with the median seconds of one torch.mm at each shape and layout."""
    import ctypes
    import torch
    torch.set_num_threads(threads)
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))  # loads the BLAS
    info = dict(torch=torch.__version__, threads=threads)
    try:  # torch's generic BLAS does not pass its thread count on to OpenBLAS
        lib = ctypes.CDLL(os.path.basename(BLAS))
        info["openblas_default_threads"] = lib.openblas_get_num_threads()
        lib.openblas_set_num_threads(threads)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        info["openblas_threads"] = lib.openblas_get_num_threads()
        info["openblas_core"] = lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        pass
    times = {}
    for M, N, K, ta, tb in json.load(sys.stdin):
        a = torch.randn(K, M).t() if ta else torch.randn(M, K)
        b = torch.randn(N, K).t() if tb else torch.randn(K, N)
        c = torch.empty(M, N)
        t = time.perf_counter()
        torch.mm(a, b, out=c)  # warm-up, and the size of a sample
        one = time.perf_counter() - t
        calls = max(1, int(0.02 / max(one, 1e-7)))  # ~20 ms a sample
        samples = []
        for _ in range(3 if one > 0.1 else 5):
            t = time.perf_counter()
            for _ in range(calls):
                torch.mm(a, b, out=c)
            samples.append((time.perf_counter() - t) / calls)
        times[json.dumps([M, N, K, ta, tb])] = statistics.median(samples)
    print(json.dumps(dict(info, times=times)))


def torch_env():
    env = dict(os.environ)
    for var in OPENBLAS_TUNING:
        env.pop(var, None)
    return env


def run(cmd, env=None, stdin=None):
    r = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-15:]
        die(f"`{' '.join(cmd)}` exited with {r.returncode}:\n" + "\n".join(tail))
    return r.stdout


def measure_sgemm(shapes, threads):
    out = run([PYTHON, os.path.abspath(__file__), "--sgemm-worker", str(threads)],
              env=torch_env(), stdin=json.dumps(shapes))
    result = json.loads(out.strip().splitlines()[-1])
    result["times"] = {tuple(json.loads(k)): v for k, v in result["times"].items()}
    return result


# --- the step timings ---------------------------------------------------------

def ftc_step_ms(library, steps, threads):
    cmd = [FTC_TRAIN, library, "--synthetic", "--steps", str(steps + WARMUP), "--warmup", str(WARMUP)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = run(cmd)
    m = re.search(r"^median step ([0-9.]+) ms", out, re.M)
    if not m:
        die(f"no 'median step' line in the output of `{' '.join(cmd)}`:\n{out[-2000:]}")
    return float(m.group(1))


def torch_step_ms(peers, model, steps, threads):
    cmd = [PYTHON, os.path.join(peers, "torch_step.py"), "--model", model, "--device", "cpu",
           "--threads", str(threads), "--steps", str(steps), "--warmup", str(WARMUP)]
    out = run(cmd, env=torch_env())
    return json.loads(out.strip().splitlines()[-1])["step_ms_median"]


def ftc_threads():
    """[None] when ftc-train has no --threads (its step is single-threaded), else [1, 2]."""
    r = subprocess.run([FTC_TRAIN, "--help"], capture_output=True, text=True)
    return [1, 2] if "--threads" in r.stdout + r.stderr else [None]


# --- the machine -----------------------------------------------------------------

def cpu_description():
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = set(info.get("flags", "").split())
    if "avx512f" in flags:
        isa = "AVX-512 (" + ", ".join(sorted(f for f in flags if f.startswith("avx512"))) + ")"
    elif "avx2" in flags:
        isa = "AVX2" + (" + FMA" if "fma" in flags else "")
    elif "avx" in flags:
        isa = "AVX"
    elif "sse4_2" in flags:
        isa = "SSE4.2"
    else:
        isa = "no AVX/SSE4.2 flags"
    if "amx_tile" in flags:
        isa += "; AMX (" + ", ".join(sorted(f for f in flags if f.startswith("amx"))) + ")"
    name = info.get("model name", "unknown")
    if "cpu family" in info:
        name += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    return name, isa


# --- main ------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="mlp,gpt2-tiny,gpt2-mini",
                    help="comma-separated models of torch_step.py with an examples/<model>.mlir")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per run (default 20)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument("--sgemm-worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sgemm_worker:
        return sgemm_worker(a.sgemm_worker)
    if a.steps < 1 or a.rounds < 1:
        die("--steps and --rounds need to be at least 1")

    for tool in (FTC, FTC_TRAIN):
        if not os.access(tool, os.X_OK):
            die(f"{os.path.relpath(tool, ROOT)} not found in {ROOT}: run ./setup.sh first")
    peers = peers_dir()
    configs = model_configs(peers)
    models = [m for m in a.models.split(",") if m]
    for m in models:
        if m not in configs:
            die(f"unknown model '{m}': torch_step.py has {', '.join(configs)}")
        if not os.path.isfile(os.path.join(ROOT, "examples", f"{m}.mlir")):
            die(f"no examples/{m}.mlir for model '{m}'")
    products = {m: step_products(configs[m]) for m in models}
    fthreads = ftc_threads()
    started = time.time()

    with tempfile.TemporaryDirectory(prefix="ftc-table-") as tmp:
        libs = {}
        for m in models:
            progress(f"compiling examples/{m}.mlir")
            libs[m] = os.path.join(tmp, f"{m}.so")
            run([FTC, os.path.join(ROOT, "examples", f"{m}.mlir"), "-o", libs[m]])

        ftc_ms = {(m, t): [] for m in models for t in fthreads}
        torch_ms = {(m, t): [] for m in models for t in TORCH_THREADS}
        for r in range(a.rounds):
            for m in models:
                for t in fthreads:
                    label = "ftc" + (f" {t} thr" if t else "")
                    progress(f"round {r + 1}/{a.rounds} {m}: {label}")
                    ftc_ms[m, t].append(ftc_step_ms(libs[m], a.steps, t))
                    progress(f"  {label}: {ftc_ms[m, t][-1]:.2f} ms")
                for t in TORCH_THREADS:
                    progress(f"round {r + 1}/{a.rounds} {m}: PyTorch {t} thr")
                    torch_ms[m, t].append(torch_step_ms(peers, m, a.steps, t))
                    progress(f"  PyTorch {t} thr: {torch_ms[m, t][-1]:.2f} ms")

    shapes = sorted({(M, N, K, ta, tb) for ps in products.values() for _, _, M, N, K, ta, tb in ps})
    sgemm = {}
    for t in TORCH_THREADS:
        progress(f"sgemm through torch.mm at {len(shapes)} shapes, {t} thr")
        sgemm[t] = measure_sgemm([list(s) for s in shapes], t)

    rows = []
    for m in models:
        f = flops(products[m])
        ftc_best = min(statistics.median(ftc_ms[m, t]) for t in fthreads)
        t1, t2 = (statistics.median(torch_ms[m, t]) for t in TORCH_THREADS)
        best = min(t1, t2)
        blas = []
        for t in TORCH_THREADS:
            secs = sum(c * sgemm[t]["times"][M, N, K, ta, tb] for _, c, M, N, K, ta, tb in products[m])
            blas.append(f / secs / 1e9)
        rows.append([m, f"{f / 1e9:.3f}", f"{ftc_best:.2f}", f"{t1:.2f}", f"{t2:.2f}",
                     f"{best / ftc_best:.2f}x", f"{f / ftc_best / 1e6:.1f}", f"{f / best / 1e6:.1f}",
                     f"{blas[0]:.1f}", f"{blas[1]:.1f}"])

    head = ["model", "GFLOP/step", "ftc ms", "PyTorch ms 1 thr", "PyTorch ms 2 thr",
            "speedup", "ftc GFLOP/s", "PyTorch GFLOP/s", "sgemm GFLOP/s 1 thr", "2 thr"]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda row: "| " + " | ".join(
        str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(row, widths))) + " |"
    cpu, isa = cpu_description()
    info = sgemm[1]
    core = f", OpenBLAS core {info['openblas_core']}" if "openblas_core" in info else ""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    ftc_note = ("single-threaded (ftc-train has no --threads)" if fthreads == [None]
                else "the better of ftc-train --threads 1 and 2")
    lines = [
        f"date:     {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"CPU:      {cpu}",
        f"ISA:      {isa}",
        f"cores:    {os.cpu_count()} ({affinity} usable)",
        f"PyTorch:  {info['torch']} (Debian python3-torch), eager, AdamW foreach",
        f"BLAS:     {os.path.realpath(BLAS)}{core}"
        f" ({', '.join(OPENBLAS_TUNING)} unset for PyTorch)",
        f"runs:     {a.steps} timed steps after {WARMUP} warm-up, median over {a.rounds} rounds"
        f" ({time.time() - started:.0f} s in all)",
        "",
        fmt(head),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(fmt(r) for r in rows),
        "",
        f"ftc: {ftc_note}. speedup: PyTorch's better thread count / ftc.",
        "GFLOP/step: the matrix products of forward and backward (bench/table.py step_products);",
        "GFLOP/s: those FLOPs / median step time. sgemm: torch.mm at the same product shapes and",
        "layouts, FLOP-weighted, with torch.set_num_threads(T) and openblas_set_num_threads(T).",
    ]
    if "openblas_default_threads" in info:
        lines += [f"(torch.set_num_threads alone leaves OpenBLAS at {info['openblas_default_threads']}"
                  " threads: PyTorch's 1-thread step still runs its products on that many.)"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
