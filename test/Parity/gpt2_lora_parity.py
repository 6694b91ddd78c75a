#!/usr/bin/python3
"""LoRA and DoRA parity with PyTorch on GPT-2: examples/gpt2-tiny.mlir
compiled with `--lora-targets=attn\\.c_attn --lora-rank=4 --lora-alpha=8`
(and `--lora-variant=dora`) against ../shared/peers/torch_step.py's GPT2
with every attn.c_attn wrapped in the PEFT-semantics LoRA and DoRA layers of
lora_parity.py. ftc loads PyTorch's initial parameters as a base model's
state_dict (the adapters keep ftc's init; DoRA's magnitudes are derived
from the loaded weights by the runtime), and the reference starts from
ftc's resulting parameters. Under the float64-anchored contract
(ftcpy.Parity): the adapters' gradients on the first batch, then 5 AdamW
steps (lr 1e-4, weight decay 0.01, as torch_step.py): every loss and every
trained tensor; frozen tensors stay bit-identical. Then DoRA on the layers
whose outputs join the residual stream (attn.c_proj, mlp.c_proj): the
adapters' gradients on the first batch against float64, and computed on 1
and on 3 threads, bit for bit (their magnitude gradients sum the
residual stream's gradient over the tokens).

  gpt2_lora_parity.py FTC MODEL.mlir WORKDIR [PEERS_DIR]    ($FTC_PEERS wins)
"""
import os
import subprocess
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
sys.path.insert(0, here)
import ftcpy  # noqa: E402
from lora_parity import DoraLinear, LoraLinear  # noqa: E402

STEPS = 5
RANK, ALPHA = 4, 8.0
SIZES = [f"--lora-rank={RANK}", f"--lora-alpha={ALPHA:g}"]
# name, adapted layers of each block, DoRA or LoRA, AdamW steps checked.
CONFIGS = [("lora", ["attn.c_attn"], False, STEPS),
           ("dora", ["attn.c_attn"], True, STEPS),
           ("dora-residual", ["attn.c_proj", "mlp.c_proj"], True, 0)]


def flags(targets, dora):
    pattern = "|".join(t.replace(".", "\\.") for t in targets)
    return [f"--lora-targets={pattern}", *SIZES] + (["--lora-variant=dora"] if dora else [])


def torch_key(name, targets):
    """ftc's name -> the wrapped reference's: an adapted layer's own weight
    and bias live in its `base`."""
    prefix, _, last = name.rpartition(".")
    if any(prefix.endswith(t) for t in targets) and last in ("weight", "bias"):
        return f"{prefix}.base.{last}"
    return name


def main():
    ftc, model_file, work = sys.argv[1:4]
    peers = os.environ.get("FTC_PEERS") or (
        sys.argv[4] if len(sys.argv) > 4 else os.path.join(here, "..", "..", "..", "shared", "peers"))
    sys.path.insert(0, peers)
    import torch_step  # noqa: E402  the reference model definitions

    os.makedirs(work, exist_ok=True)
    torch.set_num_threads(1)
    cfg = torch_step.MODELS["gpt2-tiny"]
    torch.manual_seed(0)

    def gpt2(targets, dora, dtype):
        model = torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"], cfg["heads"])
        for p in model.parameters():
            p.requires_grad_(False)
        layer = DoraLinear if dora else LoraLinear
        for block in model.transformer.h:
            for target in targets:
                group, _, name = target.partition(".")
                getattr(block, group)[name] = layer(getattr(block, group)[name], RANK, ALPHA,
                                                    False)
        return model.to(dtype)

    init = {k: v.detach().numpy().copy()
            for k, v in torch_step.GPT2(cfg["vocab"], cfg["ctx"], cfg["d"], cfg["layers"],
                                        cfg["heads"]).state_dict().items()}
    ckpt = os.path.join(work, "torch-init.safetensors")
    ftcpy.write_safetensors(ckpt, init)
    rng = np.random.default_rng(2)
    shape = (cfg["batch"], cfg["ctx"])
    batches = [{"tokens": rng.integers(0, cfg["vocab"], shape).astype(np.int32),
                "targets": rng.integers(0, cfg["vocab"], shape).astype(np.int32)}
               for _ in range(STEPS)]
    long = lambda b, k: torch.from_numpy(b[k]).long()  # noqa: E731

    parity = ftcpy.Parity()
    for name, targets, dora, steps in CONFIGS:
        so = os.path.join(work, f"gpt2-tiny-{name}.so")
        subprocess.run([ftc, model_file, "-o", so, *flags(targets, dora)], check=True)
        key = lambda k: torch_key(k, targets)  # noqa: E731
        step = ftcpy.Step(so, seed=4)
        step.check(step.load(ckpt))
        start = step.params_by_name()
        trained = [info["name"] for info in step.params if info["trainable"]]
        print(f"{name}: {len(trained)} trained tensors, kept at --init: "
              f"{len(step.report()['kept'])}")

        def reference(dtype):
            model = gpt2(targets, dora, dtype)
            model.load_state_dict({key(k): torch.from_numpy(v.copy()).to(dtype)
                                   for k, v in start.items()})
            return model

        exact = reference(torch.float64)
        exact(long(batches[0], "tokens"), long(batches[0], "targets")).backward()
        step.grad(batches[0])
        exact_params = dict(exact.named_parameters())
        for i, info in enumerate(step.params):
            if info["trainable"] and "lora_A" not in info["name"]:  # A's is 0 while B = 0
                parity.gradient(f"{name} {info['name']}", step.grad_of(i),
                                exact_params[key(info["name"])].grad.numpy())
        if not steps:
            # The same gradients on 1 and on 3 threads (a block's work
            # never depends on how many threads share the blocks).
            runs = []
            for threads in (1, 3):
                step.set_num_threads(threads)
                step.grad(batches[0])
                runs.append({info["name"]: step.grad_of(i) for i, info in enumerate(step.params)
                             if info["trainable"]})
            same = sum(runs[0][n].tobytes() == runs[1][n].tobytes() for n in trained)
            print(f"{name}: {same} of {len(trained)} gradients bit-identical on 1 and 3 threads")
            parity.failures += same != len(trained)
            continue

        model, exact = reference(torch.float32), reference(torch.float64)
        opts = [torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4,
                                  weight_decay=0.01) for m in (model, exact)]
        for i, batch in enumerate(batches):
            losses = []
            for m, opt in zip((model, exact), opts):
                opt.zero_grad()
                loss = m(long(batch, "tokens"), long(batch, "targets"))
                loss.backward()
                opt.step()
                losses.append(loss.item())
            parity.loss(f"{name} {i + 1}", step.step(batch), losses[1], losses[0])
        state, truth = model.state_dict(), exact.state_dict()
        unchanged = 0
        for i, info in enumerate(step.params):
            k, p = key(info["name"]), step.param(i)
            if not info["trainable"]:
                unchanged += p.tobytes() == start[info["name"]].tobytes()
                continue
            parity.parameter(f"{name} {info['name']}", p, state[k].numpy(), truth[k].numpy(),
                             start[info["name"]])
        frozen = len(step.params) - len(trained)
        print(f"{name}: {unchanged} of {frozen} frozen tensors bit-identical after {steps} steps")
        parity.failures += unchanged != frozen
    return parity.summary()


if __name__ == "__main__":
    sys.exit(main())
