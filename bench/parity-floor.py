#!/usr/bin/python3
"""How close two correct float32 implementations of a parity run can be.

Runs the PyTorch side of a parity test three times: float32 on the system
BLAS (OpenBLAS when libopenblas0-pthread is installed), float32 on Debian's
reference BLAS (libblas3, through LD_LIBRARY_PATH), and float64. Prints, per
parameter tensor, how far apart they land next to the parity test's bound.
A measurement, not a test.

  /usr/bin/python3 bench/parity-floor.py mlp          # mlp_parity.py: 10 AdamW steps, bound 1e-4 * max|w|
  /usr/bin/python3 bench/parity-floor.py gpt2-tiny    # gpt2_parity.py: 5 AdamW steps, bound 1e-3 * max|w|
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PEERS = os.environ.get("FTC_PEERS") or os.path.join(ROOT, "..", "shared", "peers")
REFERENCE_BLAS = "/usr/lib/x86_64-linux-gnu/blas"
BOUNDS = {"mlp": 1e-4, "gpt2-tiny": 1e-3}


def train_mlp(torch, dtype):
    sys.path.insert(0, os.path.join(ROOT, "test", "Parity"))
    import mlp_parity
    torch.manual_seed(0)
    init = {k: v.detach().numpy().copy() for k, v in mlp_parity.MLP().state_dict().items()}
    images, labels = ftcpy().fashion_mnist("train")
    batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
               for i in range(mlp_parity.STEPS)]
    model, _ = mlp_parity.run_torch(init, batches, lambda p: torch.optim.AdamW(p), dtype)
    return model


def train_gpt2_tiny(torch, dtype):
    # The same init and batches as test/Parity/gpt2_parity.py.
    sys.path.insert(0, PEERS)
    import torch_step
    cfg = torch_step.MODELS["gpt2-tiny"]
    torch.manual_seed(0)
    model = torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"]).to(dtype)
    rng = np.random.default_rng(2)
    shape = (cfg["batch"], cfg["ctx"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    for _ in range(5):
        tokens = torch.from_numpy(rng.integers(0, cfg["vocab"], shape).astype(np.int64))
        targets = torch.from_numpy(rng.integers(0, cfg["vocab"], shape).astype(np.int64))
        opt.zero_grad()
        model(tokens, targets).backward()
        opt.step()
    return model


def ftcpy():
    sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
    import ftcpy as module
    return module


def child(name, out, dtype):
    import torch
    torch.set_num_threads(1)
    train = train_mlp if name == "mlp" else train_gpt2_tiny
    model = train(torch, getattr(torch, dtype))
    np.savez(out, **{k: v.double().numpy() for k, v in model.state_dict().items()})


def run(tmp, name, run_name, dtype, env=None):
    out = os.path.join(tmp, run_name + ".npz")
    subprocess.run([sys.executable, __file__, "--child", name, out, dtype], check=True,
                   env={**os.environ, **(env or {})})
    return np.load(out)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        return child(*sys.argv[2:5])
    name = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    if name not in BOUNDS:
        print("usage: parity-floor.py [" + "|".join(BOUNDS) + "]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        system = run(tmp, name, "system", "float32")
        reference = run(tmp, name, "reference", "float32", {"LD_LIBRARY_PATH": REFERENCE_BLAS})
        exact = run(tmp, name, "exact", "float64")
    print(f"{'tensor':34} {f'{BOUNDS[name]:g}*max|w|':>12} {'|sys-ref|':>10} {'|sys-f64|':>10} "
          f"{'|ref-f64|':>10}")
    over = 0
    for tensor in system.files:
        bound = BOUNDS[name] * np.abs(system[tensor]).max()
        spread = np.abs(system[tensor] - reference[tensor]).max()
        over += spread > bound
        print(f"{tensor:34} {bound:12.2e} {spread:10.2e}"
              f" {np.abs(system[tensor] - exact[tensor]).max():10.2e}"
              f" {np.abs(reference[tensor] - exact[tensor]).max():10.2e}"
              f"{'  sys-ref over the bound' if spread > bound else ''}")
    print(f"{over} of {len(system.files)} tensors: PyTorch float32 on one BLAS is further than the "
          "bound from PyTorch float32 on the other")
    print("sys: PyTorch float32 on", os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"))
    print("ref: PyTorch float32 on", REFERENCE_BLAS, "(reference BLAS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
