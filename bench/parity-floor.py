#!/usr/bin/python3
"""How close two correct float32 implementations of the MLP parity run can be.

Runs test/Parity/mlp_parity.py's PyTorch reference (10 AdamW steps from the
same init, on the same Fashion-MNIST batches) three times: float32 on the
system BLAS (OpenBLAS when libopenblas0-pthread is installed), float32 on
Debian's reference BLAS (libblas3, through LD_LIBRARY_PATH), and float64.
Prints, per parameter tensor, how far apart they land next to the issue's
bound 1e-4 * max|w|. A measurement, not a test.

  /usr/bin/python3 bench/parity-floor.py
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
REFERENCE_BLAS = "/usr/lib/x86_64-linux-gnu/blas"


def child(out, dtype):
    sys.path.insert(0, os.path.join(ROOT, "test", "Parity"))
    sys.path.insert(0, os.path.join(ROOT, "test", "lib"))
    import torch
    import mlp_parity
    import ftcpy
    torch.manual_seed(0)
    torch.set_num_threads(1)
    init = {k: v.detach().numpy().copy() for k, v in mlp_parity.MLP().state_dict().items()}
    images, labels = ftcpy.fashion_mnist("train")
    batches = [{"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128]}
               for i in range(mlp_parity.STEPS)]
    model, _ = mlp_parity.run_torch(init, batches, lambda p: torch.optim.AdamW(p),
                                    getattr(torch, dtype))
    np.savez(out, **{k: v.double().numpy() for k, v in model.state_dict().items()})


def run(tmp, name, dtype, env=None):
    out = os.path.join(tmp, name + ".npz")
    subprocess.run([sys.executable, __file__, "--child", out, dtype], check=True,
                   env={**os.environ, **(env or {})})
    return np.load(out)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3])
    with tempfile.TemporaryDirectory() as tmp:
        system = run(tmp, "system", "float32")
        reference = run(tmp, "reference", "float32", {"LD_LIBRARY_PATH": REFERENCE_BLAS})
        exact = run(tmp, "exact", "float64")
    print(f"{'tensor':12} {'1e-4*max|w|':>12} {'|sys-ref|':>10} {'|sys-f64|':>10} {'|ref-f64|':>10}")
    for name in system.files:
        bound = 1e-4 * np.abs(system[name]).max()
        print(f"{name:12} {bound:12.2e} {np.abs(system[name] - reference[name]).max():10.2e}"
              f" {np.abs(system[name] - exact[name]).max():10.2e}"
              f" {np.abs(reference[name] - exact[name]).max():10.2e}")
    print("sys: PyTorch float32 on", os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"))
    print("ref: PyTorch float32 on", REFERENCE_BLAS, "(reference BLAS)")


if __name__ == "__main__":
    main()
