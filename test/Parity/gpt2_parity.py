#!/usr/bin/python3
"""Parity with PyTorch for GPT-2: examples/gpt2-tiny.mlir compiled by ftc
against ../shared/peers/torch_step.py's GPT2 (Debian's python3-torch), from
the same initial parameters (written by PyTorch as safetensors) on the same
batches, under the numerical contract of DESIGN.md (ftcpy.Parity), anchored
on the same model in float64: the gradients of the first batch per tensor
within 2e-5 max|g64|; then 5 AdamW steps (lr 1e-4, weight decay 0.01, as
torch_step.py): every loss within 1e-5 relative, every parameter tensor
within 1e-3 ||p64 - p0|| (or 3x PyTorch float32's own distance from
float64). The key part of attn.c_attn.bias has a true gradient of exactly 0
(softmax ignores a shift shared by all keys), so AdamW moves it by
normalized rounding noise in every implementation; the norm bound, and
PyTorch float32's own distance, say how much that noise is.

  gpt2_parity.py FTC MODEL.mlir WORKDIR [PEERS_DIR]    ($FTC_PEERS wins)
"""
import os
import subprocess
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
import ftcpy  # noqa: E402

STEPS = 5


def main():
    ftc, model_file, work = sys.argv[1:4]
    peers = os.environ.get("FTC_PEERS") or (
        sys.argv[4] if len(sys.argv) > 4 else os.path.join(here, "..", "..", "..", "shared", "peers"))
    if not os.path.exists(os.path.join(peers, "torch_step.py")):
        print(f"gpt2_parity.py: no torch_step.py in '{peers}' (the project's ../shared/peers); "
              "set FTC_PEERS to its folder", file=sys.stderr)
        return 1
    sys.path.insert(0, peers)
    import torch_step  # noqa: E402  the reference model definitions

    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    cfg = torch_step.MODELS["gpt2-tiny"]
    torch.manual_seed(0)
    model = torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"])
    init = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    exact = torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"]).double()
    exact.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in init.items()})
    ckpt = os.path.join(work, "torch-init.safetensors")
    ftcpy.write_safetensors(ckpt, init)
    rng = np.random.default_rng(2)
    shape = (cfg["batch"], cfg["ctx"])
    batches = [{"tokens": rng.integers(0, cfg["vocab"], shape).astype(np.int32),
                "targets": rng.integers(0, cfg["vocab"], shape).astype(np.int32)} for _ in range(STEPS)]

    so = os.path.join(work, "gpt2-tiny.so")
    subprocess.run([ftc, model_file, "-o", so], check=True)
    step = ftcpy.Step(so)
    step.check(step.load(ckpt))
    parity = ftcpy.Parity()
    long = lambda b, k: torch.from_numpy(b[k]).long()  # noqa: E731
    # The gradients at the initial parameters, on the first batch.
    exact(long(batches[0], "tokens"), long(batches[0], "targets")).backward()
    step.grad(batches[0])
    exact_params = dict(exact.named_parameters())
    for i, info in enumerate(step.params):
        parity.gradient(info["name"], step.grad_of(i), exact_params[info["name"]].grad.numpy())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    exact_opt = torch.optim.AdamW(exact.parameters(), lr=1e-4, weight_decay=0.01)
    for i, batch in enumerate(batches):
        opt.zero_grad()
        loss = model(long(batch, "tokens"), long(batch, "targets"))
        loss.backward()
        opt.step()
        exact_opt.zero_grad()
        exact_loss = exact(long(batch, "tokens"), long(batch, "targets"))
        exact_loss.backward()
        exact_opt.step()
        parity.loss(str(i + 1), step.step(batch), exact_loss.item(), loss.item())
    state, truth = model.state_dict(), exact.state_dict()
    for i, info in enumerate(step.params):
        name = info["name"]
        parity.parameter(name, step.param(i), state[name].numpy(), truth[name].numpy(), init[name])
    return parity.summary()


if __name__ == "__main__":
    sys.exit(main())
