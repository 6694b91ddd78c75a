#!/usr/bin/python3
"""Data parallelism against one rank on the concatenated batch:
`mpirun -np 2 ftc-train --mpi` over TCP loopback (each rank its own batch of B, the
gradients averaged over the ranks) against `ftc-train --accumulate 2` on
one rank (the same two batches per update, summed locally) and against
PyTorch stepping once per 2B examples (the two batches concatenated), from
the same initial parameters (drawn by PyTorch), under the numerical
contract (ftcpy.Parity, anchored on float64): each step's loss (ftc-train
--log: the mean over the ranks), every parameter after the run, for both
ftc runs; and the two runs' checkpoints are equal bit for bit (a sum of
two is the same either way). That the two ranks end with the same bits, ftc-train checks
itself (a hash of the parameters, gathered from every rank: it prints
"parameters bit-identical on every rank" or fails).

  data_parallel.py MODEL WORKDIR PEERS_DIR     (MODEL: mlp or gpt2-tiny)

MLP: Inputs/mlp-gelu.mlir (examples/mlp.mlir with GELU), Fashion-MNIST, clip_grad_norm_ at 1.0 (the norm of
the averaged gradient, in the log). gpt2-tiny: examples/gpt2-tiny.mlir as
../shared/peers/torch_step.py's GPT2, random tokens, AdamW lr 1e-4.
Exits 1 on any violation.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
import ftcpy  # noqa: E402

STEPS, RANKS = 4, 2
# The MLP with GELU: a comparison of parameters after several steps does
# not hinge on ReLU kinks there (see Inputs/mlp-gelu.mlir).
MLP_FILE = os.path.join(here, "Inputs", "mlp-gelu.mlir")


def mlp_setup(work):
    from torchref import mlp_for
    make = mlp_for(MLP_FILE)
    images, labels = ftcpy.fashion_mnist("train")
    batch = 128
    n = STEPS * RANKS * batch
    data = {"image": images[:n].reshape(-1, batch, 784), "label": labels[:n].reshape(-1, batch)}
    torch.manual_seed(0)
    forward = lambda m, d, rows: m(  # noqa: E731
        torch.from_numpy(d["image"][rows].reshape(-1, 784)).to(next(m.parameters()).dtype),
        torch.from_numpy(d["label"][rows].reshape(-1)).long())
    return make, forward, data, ["--clip-grad-norm=1.0"], dict(lr=1e-3), 1.0


def gpt_setup(work, peers):
    sys.path.insert(0, peers)
    import torch_step
    cfg = torch_step.MODELS["gpt2-tiny"]
    rng = np.random.default_rng(3)
    shape = (STEPS * RANKS, cfg["batch"], cfg["ctx"])
    data = {"tokens": rng.integers(0, cfg["vocab"], shape).astype(np.int32),
            "targets": rng.integers(0, cfg["vocab"], shape).astype(np.int32)}
    torch.manual_seed(0)
    make = lambda: torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"],  # noqa: E731
                                   cfg["layers"], cfg["heads"])
    forward = lambda m, d, rows: m(  # noqa: E731
        torch.from_numpy(d["tokens"][rows].reshape(-1, cfg["ctx"])).long(),
        torch.from_numpy(d["targets"][rows].reshape(-1, cfg["ctx"])).long())
    return make, forward, data, [], dict(lr=1e-4, weight_decay=0.01), None


def run_torch(make, forward, init, data, dtype, opt_args, clip):
    model = make().to(dtype)
    model.load_state_dict({k: torch.from_numpy(v.copy()).to(dtype) for k, v in init.items()})
    opt = torch.optim.AdamW(model.parameters(), **opt_args)
    losses = []
    for s in range(STEPS):
        opt.zero_grad()
        # The update's batches concatenated: rank r's batch of step s is
        # batch s * RANKS + r.
        loss = forward(model, data, slice(s * RANKS, (s + 1) * RANKS))
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return model.state_dict(), losses


def main():
    which, work, peers = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    if which == "mlp":
        make, forward, data, flags, opt_args, clip = mlp_setup(work)
    else:
        make, forward, data, flags, opt_args, clip = gpt_setup(work, peers)
    model_file = MLP_FILE if which == "mlp" else os.path.join(here, "..", "..", "examples",
                                                               f"{which}.mlir")
    so = os.path.join(work, f"{which}.so")
    subprocess.run(["ftc", model_file, "-o", so] + flags, check=True)
    init = {k: v.detach().numpy().copy() for k, v in make().state_dict().items()}
    init_file = os.path.join(work, "init.safetensors")
    ftcpy.write_safetensors(init_file, init)
    batches = os.path.join(work, "batches.safetensors")
    ftcpy.write_safetensors(batches, data)

    common = ["ftc-train", so, f"--data={batches}", f"--init={init_file}", f"--steps={STEPS}"]
    runs = {}
    env = dict(os.environ, FTC_NUM_THREADS="1")
    for name, prefix, extra in [
            # Over TCP on the loopback interface, as between machines (not
            # through shared memory, Open MPI's default on one machine).
            ("2 ranks", ["mpirun", "--oversubscribe", "--mca", "btl", "self,tcp", "--mca",
                         "btl_tcp_if_include", "lo", "-np", str(RANKS)], ["--mpi"]),
            ("1 rank, --accumulate 2", [], [f"--accumulate={RANKS}"])]:
        out = os.path.join(work, f"{len(runs)}.safetensors")
        log = os.path.join(work, f"{len(runs)}.jsonl")
        result = subprocess.run(prefix + common + extra + [f"--save={out}", f"--log={log}"],
                                env=env, stdout=subprocess.PIPE, text=True)
        print(result.stdout, end="")
        if result.returncode != 0:
            print(f"FAIL {name}: ftc-train exited with {result.returncode}")
            return 1
        runs[name] = (ftcpy.read_safetensors(out), [json.loads(line) for line in open(log)])

    state32, losses32 = run_torch(make, forward, init, data, torch.float32, opt_args, clip)
    state64, losses64 = run_torch(make, forward, init, data, torch.float64, opt_args, clip)
    parity = ftcpy.Parity()
    for name, (params, log) in runs.items():
        print(f"-- {name}")
        for s, entry in enumerate(log):
            parity.loss(f"{s + 1}", entry["loss"], losses64[s], losses32[s])
        for key in init:
            parity.parameter(key, params[key], state32[key].numpy(), state64[key].numpy(),
                             init[key])
    checks = ftcpy.Checks()
    # With two ranks the sums agree to the bit: g0 + g1 over MPI, and
    # (0 + g0) + g1 accumulated.
    (a, _), (b, _) = runs.values()
    checks("2 ranks = 1 rank with --accumulate 2, bit for bit (every tensor of the checkpoints)",
           a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a))
    steps = {name: int(params["optim.step"]) for name, (params, _) in runs.items()}
    checks("step counters", all(v == STEPS for v in steps.values()), str(steps))
    failed = parity.summary() or checks.failures
    print("data parallel:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
