#!/usr/bin/python3
"""A training recipe through ftc and ftc-train against the same recipe in
PyTorch (Debian's python3-torch): examples/mlp.mlir compiled with gradient
clipping and parameter groups, trained by ftc-train with a warmup and a
cosine decay of the learning rate.

  recipe_parity.py MLP.mlir WORKDIR

1. Schedules: the learning rate ftc-train logs for each step (--log) equals
   PyTorch's schedulers' (LambdaLR, CosineAnnealingLR) to float rounding
   (relative 1e-12), for constant, linear and cosine, with and without
   warmup.
2. The recipe: 20 steps on Fashion-MNIST batches from the same initial
   parameters, AdamW (betas 0.9/0.99, weight decay 0.1 on matrices only, the
   classifier fc3 at half the learning rate), clip_grad_norm_ at 1.0, a
   4-step warmup then cosine to 2e-4. Under the numerical contract
   (ftcpy.Parity, anchored on float64): every loss, every parameter after 20
   steps; the logged gradient norm within 1e-5 of PyTorch float64's
   clip_grad_norm_ (or 3x PyTorch float32's own distance) every step. Clipping must have acted on some steps and
   not on others.
3. Resume: 10 steps, save, --resume for 10 more gives the checkpoint of the
   20-step run, bit for bit.
Exits 1 on any violation.
"""
import filecmp
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402
from torchref import MLP  # noqa: E402

STEPS, BATCH = 20, 128
PEAK, FLOOR, WARMUP, MAX_NORM = 2e-3, 2e-4, 4, 1.0
COMPILE = ["--lr=2e-3", "--beta2=0.99", "--weight-decay=0.1", "--clip-grad-norm=1.0",
           "--decay-params=matrices", "--lr-scale=^fc3\\.=0.5"]
SCHEDULE = ["--lr-schedule=cosine", f"--warmup-steps={WARMUP}", f"--min-lr={FLOOR}",
            f"--decay-steps={STEPS}"]


def warmup_factor(s, warmup):
    return (s + 1) / (warmup + 1)


def torch_lrs(kind, steps, warmup, decay_end, floor, peak=PEAK):
    """The learning rate of each update from PyTorch's schedulers: LambdaLR
    for the warmup, constant and linear parts, CosineAnnealingLR for the
    cosine (stepped from the warmup's end)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=peak)
    if kind == "constant":
        lam = lambda s: warmup_factor(s, warmup) if s < warmup else 1.0  # noqa: E731
    elif kind == "linear":
        def lam(s):
            if s < warmup:
                return warmup_factor(s, warmup)
            if s >= decay_end:
                return floor / peak
            return 1.0 - (1.0 - floor / peak) * (s - warmup) / (decay_end - warmup)
    else:
        lam = lambda s: warmup_factor(s, warmup) if s < warmup else 1.0  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    lrs = []
    for _ in range(steps):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    if kind == "cosine":
        opt2 = torch.optim.SGD([param], lr=peak)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=decay_end - warmup,
                                                            eta_min=floor)
        for s in range(warmup, steps):
            lrs[s] = cosine.get_last_lr()[0] if s < decay_end else floor
            opt2.step()
            cosine.step()
    return lrs


def read_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def run_torch(init, batches, dtype):
    model = MLP().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()).to(dtype) for k, v in init.items()})
    named = dict(model.named_parameters())
    groups = []
    for decay in (True, False):
        for scale in (1.0, 0.5):
            params = [p for n, p in named.items()
                      if (p.dim() >= 2) == decay and n.startswith("fc3.") == (scale == 0.5)]
            groups.append({"params": params, "weight_decay": 0.1 if decay else 0.0,
                           "lr": PEAK * scale})
    opt = torch.optim.AdamW(groups, lr=PEAK, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)  # replaced below
    lrs = torch_lrs("cosine", len(batches), WARMUP, STEPS, FLOOR)
    losses, norms = [], []
    for s, batch in enumerate(batches):
        for g, base in zip(opt.param_groups, sched.base_lrs):
            g["lr"] = base * lrs[s] / PEAK
        opt.zero_grad()
        loss = model(torch.from_numpy(batch["image"]).to(dtype),
                     torch.from_numpy(batch["label"]).long())
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_NORM)))
        opt.step()
        losses.append(loss.item())
    return model, losses, norms


def main():
    model_file, work = sys.argv[1:3]
    os.makedirs(work, exist_ok=True)
    checks = ftcpy.Checks()
    so = os.path.join(work, "mlp.so")
    subprocess.run(["ftc", model_file, "-o", so, *COMPILE], check=True)

    def train(*flags, log=None):
        args = ["ftc-train", so, *flags]
        if log:
            args.append(f"--log={log}")
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        return read_log(log) if log else None

    # 1. Each schedule's learning rates against PyTorch's.
    cases = [("constant", 12, 5, None, 0.0), ("linear", 25, 3, 20, 1e-4),
             ("cosine", 25, 0, 20, 1e-4), ("cosine", 25, 4, 20, 1e-4)]
    for kind, steps, warmup, decay_end, floor in cases:
        flags = ["--synthetic", f"--steps={steps}", f"--lr-schedule={kind}",
                 f"--warmup-steps={warmup}"]
        if decay_end is not None:
            flags += [f"--decay-steps={decay_end}", f"--min-lr={floor}"]
        log = train(*flags, log=os.path.join(work, f"{kind}-{warmup}.jsonl"))
        ours = [entry["lr"] for entry in log]
        theirs = torch_lrs(kind, steps, warmup, decay_end or steps, floor)
        worst = max(abs(a - b) / b for a, b in zip(ours, theirs))
        checks(f"schedule {kind} warmup {warmup}: {steps} learning rates", len(ours) == steps
               and worst <= 1e-12, f"max relative difference {worst:.1e} from torch")

    # 2. The recipe, against PyTorch in float64 and float32.
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init = {k: v.detach().numpy().copy() for k, v in MLP().state_dict().items()}
    init_file = os.path.join(work, "init.safetensors")
    ftcpy.write_safetensors(init_file, init)
    images, labels = ftcpy.fashion_mnist("train")
    batches = [{"image": images[i * BATCH:(i + 1) * BATCH],
                "label": labels[i * BATCH:(i + 1) * BATCH]} for i in range(STEPS)]
    data = os.path.join(work, "batches.safetensors")
    ftcpy.write_safetensors(data, {"image": np.stack([b["image"] for b in batches]),
                                   "label": np.stack([b["label"] for b in batches])})
    full = os.path.join(work, "full.safetensors")
    log = train(f"--data={data}", f"--init={init_file}", f"--steps={STEPS}", *SCHEDULE,
                f"--save={full}", log=os.path.join(work, "recipe.jsonl"))
    model32, losses32, norms32 = run_torch(init, batches, torch.float32)
    model64, losses64, norms64 = run_torch(init, batches, torch.float64)

    parity = ftcpy.Parity()
    for s, entry in enumerate(log):
        parity.loss(f"{s + 1}", entry["loss"], losses64[s], losses32[s])
    ours = ftcpy.read_safetensors(full)
    for name in init:
        parity.parameter(name, ours[name], model32.state_dict()[name].numpy(),
                         model64.state_dict()[name].numpy(), init[name])
    parity.norms("logged vs torch64 clip_grad_norm_", [e["grad_norm"] for e in log], norms64, norms32)
    clipped = sum(n > MAX_NORM for n in norms64)
    checks("clipping acted on some steps and not on others", 0 < clipped < STEPS,
           f"{clipped} of {STEPS} steps clipped")
    lr_err = max(abs(e["lr"] - t) / t
                 for e, t in zip(log, torch_lrs("cosine", STEPS, WARMUP, STEPS, FLOOR)))
    checks("recipe learning rates vs torch", lr_err <= 1e-12, f"{lr_err:.1e}")

    # 3. Resume mid-schedule: the same bits as the run without a stop.
    half = os.path.join(work, "half.safetensors")
    resumed = os.path.join(work, "resumed.safetensors")
    train(f"--data={data}", f"--init={init_file}", f"--steps={STEPS // 2}", *SCHEDULE,
          f"--save={half}")
    train(f"--data={data}", f"--resume={half}", f"--steps={STEPS - STEPS // 2}", *SCHEDULE,
          f"--save={resumed}")
    checks("resumed at step 10: the checkpoint of the uninterrupted run, bit for bit",
           filecmp.cmp(full, resumed, shallow=False))

    failed = parity.summary() or checks.failures
    print("recipe:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
