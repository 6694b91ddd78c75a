#!/usr/bin/python3
"""Prepares the GPU check (bench/gpu/run.sh) on a machine with ftc built.

The GPU machines have PyTorch and the NVIDIA driver but no LLVM, so ftc's
outputs are made here, into OUT (carried there whole, a few MiB):

  - step.so for CUDA: mlp, gpt2-tiny (fp32, bf16), gpt2-small (fp32, bf16);
  - CPU step.so of the models the check compares (mlp, gpt2-tiny fp32 and
    bf16), for x86-64-v3 (AVX2: any recent server), with LLVM's OpenMP
    runtime beside them (libomp.so.5);
  - torch_step.py from ../shared/peers (the reference models and timings).

  /usr/bin/python3 bench/gpu/prepare.py OUT
"""
import os
import shutil
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(os.path.dirname(here))
CUDA_BUILDS = [("mlp", "fp32"), ("gpt2-tiny", "fp32"), ("gpt2-tiny", "bf16"),
               ("gpt2-small", "fp32"), ("gpt2-small", "bf16")]
CPU_BUILDS = [("mlp", "fp32"), ("gpt2-tiny", "fp32"), ("gpt2-tiny", "bf16")]


def main():
    out = os.path.abspath(sys.argv[1])
    ftc = os.environ.get("FTC", os.path.join(root, "build", "bin", "ftc"))
    peers = os.environ.get("FTC_PEERS", os.path.join(root, "..", "shared", "peers"))
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(peers, "torch_step.py"), out)
    shutil.copy(os.path.realpath("/usr/lib/llvm-22/lib/libomp.so.5"),
                os.path.join(out, "libomp.so.5"))
    builds = [(m, p, "cuda") for m, p in CUDA_BUILDS] + [(m, p, "cpu") for m, p in CPU_BUILDS]
    for n, (model, precision, target) in enumerate(builds, 1):
        so = os.path.join(out, f"{model}-{precision}-{target}.so")
        args = [ftc, os.path.join(root, "examples", model + ".mlir"), "-o", so,
                "--precision=" + precision]
        args += ["--target=cuda"] if target == "cuda" else ["--mcpu=x86-64-v3"]
        print(f"[{n}/{len(builds)}] ftc " + " ".join(args[1:]), flush=True)
        subprocess.run(args, check=True)
    print(f"prepared {out}: carry it to the GPU machine and run bench/gpu/run.sh {out}")


if __name__ == "__main__":
    main()
