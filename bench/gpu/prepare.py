#!/usr/bin/python3
"""Prepares the GPU check (bench/gpu/run.sh) on a machine with ftc built.

The GPU machines have PyTorch and the NVIDIA driver but no LLVM, so ftc's
outputs are made here, into OUT (carried there whole, a few MiB):

  - step.so for CUDA: mlp, gpt2-tiny (fp32, bf16), gpt2-small (fp32, bf16),
    the products on cuBLASLt (the default); gpt2-tiny bf16 again with the
    products as generated kernels (--cuda-products=kernels), to compare;
  - CPU step.so of the models the check compares (mlp, gpt2-tiny fp32 and
    bf16), for x86-64-v3 (AVX2: any recent server), with LLVM's OpenMP
    runtime beside them (libomp.so.5);
  - the fused attention kernels' check (check.py attention): a model whose
    loss is attention's output times a probe (q, k, v [2, 12, 256, 64],
    causal), for CUDA and the CPU, in bf16;
  - gpt2-small bf16 with attention unfused (--cuda-attention=unfused), to
    time against the fused default, and with its biases broadcast by a
    kernel (--cuda-bias=kernel), against cuBLASLt's bias epilogue, and with
    its GELU and GELU gradient as kernels (--cuda-gelu=kernel), against
    cuBLASLt's GELU epilogues;
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
# (model, precision, suffix, extra ftc flags)
VARIANTS = [("gpt2-tiny", "bf16", "kernels", ["--cuda-products=kernels"]),
            ("gpt2-small", "bf16", "unfused", ["--cuda-attention=unfused"]),
            ("gpt2-small", "bf16", "biaskernel", ["--cuda-bias=kernel"]),
            ("gpt2-small", "bf16", "gelukernel", ["--cuda-gelu=kernel"])]
# The fused attention check's shape and mask (check.py attention).
ATTENTION_SHAPE, ATTENTION_CAUSAL = [2, 12, 256, 64], True


def main():
    out = os.path.abspath(sys.argv[1])
    ftc = os.environ.get("FTC", os.path.join(root, "build", "bin", "ftc"))
    peers = os.environ.get("FTC_PEERS", os.path.join(root, "..", "shared", "peers"))
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(peers, "torch_step.py"), out)
    shutil.copy(os.path.realpath("/usr/lib/llvm-22/lib/libomp.so.5"),
                os.path.join(out, "libomp.so.5"))
    sys.path.insert(0, os.path.join(root, "test", "lib"))
    import ftcpy
    attention = os.path.join(out, "attention.mlir")
    with open(attention, "w") as f:
        f.write(ftcpy.attention_model(ATTENTION_SHAPE, ATTENTION_CAUSAL))
    examples = os.path.join(root, "examples")
    builds = ([(m, p, "cuda", "cuda", []) for m, p in CUDA_BUILDS] +
              [(m, p, "cpu", "cpu", []) for m, p in CPU_BUILDS] +
              [(m, p, "cuda", s + "-cuda", f) for m, p, s, f in VARIANTS] +
              [(attention, "bf16", t, t, []) for t in ("cuda", "cpu")])
    for n, (model, precision, target, suffix, flags) in enumerate(builds, 1):
        name = os.path.splitext(os.path.basename(model))[0]
        so = os.path.join(out, f"{name}-{precision}-{suffix}.so")
        source = model if os.path.isabs(model) else os.path.join(examples, model + ".mlir")
        args = [ftc, source, "-o", so, "--precision=" + precision] + flags
        args += ["--target=cuda"] if target == "cuda" else ["--mcpu=x86-64-v3"]
        print(f"[{n}/{len(builds)}] ftc " + " ".join(args[1:]), flush=True)
        subprocess.run(args, check=True)
    print(f"prepared {out}: carry it to the GPU machine and run bench/gpu/run.sh {out}")


if __name__ == "__main__":
    main()
