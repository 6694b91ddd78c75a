#!/usr/bin/env python3
"""Writes the GPT-2 examples in the train dialect: the models of
../shared/peers/torch_step.py (and gpt2-bytes, a small byte-level one) (llm.c's GPT-2: learned positions, pre-LN,
tanh-GELU, LM head tied to the token embedding, init N(0, 0.02), zero
biases, no dropout), with nanoGPT / Hugging Face parameter names.

  examples/gpt2.py            # rewrites examples/gpt2-{tiny,mini,small,bytes}.mlir, gpt-chars.mlir
  examples/gpt2.py --check    # fails if a committed file differs from what it writes
  examples/gpt2.py --print NAME [--unfused-attention] [--dropout P]   # one model to stdout

The transformer block is written once, as @block, and called per layer with
that layer's parameters; ftc inlines it before autodiff. Attention is the
fused `train.attention ... causal` op; with --unfused-attention it is written
out as torch_step.py writes it (q k^T / sqrt(d), causal mask, softmax, @ v),
which computes the same numbers but keeps the T x T probabilities of every
layer for the backward pass. --dropout P adds nanoGPT's embedding and
residual dropouts (after wte + wpe, after each attn.c_proj and mlp.c_proj);
torch_step.py's models have none, nor does the committed gpt2-*.mlir.
"""
import math
import os
import sys

CONFIGS = {
    "gpt2-tiny": dict(vocab=4096, ctx=128, d=256, layers=4, heads=4, batch=8),
    "gpt2-mini": dict(vocab=8192, ctx=256, d=384, layers=6, heads=6, batch=8),
    "gpt2-small": dict(vocab=50257, ctx=1024, d=768, layers=12, heads=12, batch=8),
    # A byte-level model for text files (ftc-train --data FILE.txt).
    # It also returns its logits, so that ftc-train --sample can generate text.
    "gpt2-bytes": dict(vocab=256, ctx=64, d=128, layers=2, heads=4, batch=16, lr=1e-3,
                       logits=True),
    # nanoGPT's baby character-level GPT (its shakespeare_char config at CPU
    # size): for ftc-train --vocab=chars on texts of up to 96 characters.
    "gpt-chars": dict(vocab=96, ctx=64, d=128, layers=4, heads=4, batch=12, lr=1e-3,
                      logits=True, about="built like torch_step.py's, character-level"),
}
NORMAL = "#train.normal<mean = 0.0, std = 0.02>"


def t(*shape, elem="f32"):
    return "tensor<" + "x".join(str(s) for s in shape) + ("x" if shape else "") + elem + ">"


def layer_params(l, d):
    p = f"transformer.h.{l}"
    return [
        (f"{p}.ln_1.weight", t(d), "#train.ones"), (f"{p}.ln_1.bias", t(d), "#train.zeros"),
        (f"{p}.attn.c_attn.weight", t(3 * d, d), NORMAL), (f"{p}.attn.c_attn.bias", t(3 * d), "#train.zeros"),
        (f"{p}.attn.c_proj.weight", t(d, d), NORMAL), (f"{p}.attn.c_proj.bias", t(d), "#train.zeros"),
        (f"{p}.ln_2.weight", t(d), "#train.ones"), (f"{p}.ln_2.bias", t(d), "#train.zeros"),
        (f"{p}.mlp.c_fc.weight", t(4 * d, d), NORMAL), (f"{p}.mlp.c_fc.bias", t(4 * d), "#train.zeros"),
        (f"{p}.mlp.c_proj.weight", t(d, 4 * d), NORMAL), (f"{p}.mlp.c_proj.bias", t(d), "#train.zeros"),
    ]


def block(c, fused=True, dropout=0.0):
    B, T, D, H = c["batch"], c["ctx"], c["d"], c["heads"]
    hd = D // H
    x, x3 = t(B, T, D), t(B, T, 3 * D)
    heads, scores = t(B, H, T, hd), t(B, H, T, T)
    split = t(B, T, H, hd)
    names = ["ln1_w", "ln1_b", "attn_w", "attn_b", "proj_w", "proj_b",
             "ln2_w", "ln2_b", "fc_w", "fc_b", "fc_proj_w", "fc_proj_b"]
    types = [p[1] for p in layer_params(0, D)]
    args = ", ".join(f"%{n}: {ty}" for n, ty in zip(names, types))
    lines = [f"  // One pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)).",
             f"  func.func private @block(%x: {x}, {args}) -> {x} {{",
             f"    %h = train.layer_norm %x, %ln1_w, %ln1_b : ({x}, {t(D)}, {t(D)}) -> {x}",
             f"    %qkv = train.linear %h, %attn_w, %attn_b : ({x}, {t(3 * D, D)}, {t(3 * D)}) -> {x3}"]
    lines += [f"    %q0, %k0, %v0 = train.split %qkv dim 2 : {x3} -> ({x}, {x}, {x})"]
    for name in "qkv":
        lines += [f"    %{name}1 = train.reshape %{name}0 : {x} -> {split}",
                  f"    %{name} = train.transpose %{name}1 [0, 2, 1, 3] : {split} -> {heads}"]
    a_in, a_drop = dropout_lines("a", dropout, x)
    m_in, m_drop = dropout_lines("m", dropout, x)
    if fused:
        lines += [f"    %y0 = train.attention %q, %k, %v causal : ({heads}, {heads}, {heads}) -> {heads}"]
    else:
        lines += [
            f"    %s0 = train.matmul %q, %k transpose_rhs : ({heads}, {heads}) -> {scores}",
            f"    %scale = train.fill {math.sqrt(hd)!r} : {t()}",
            f"    %s1 = train.div %s0, %scale : ({scores}, {t()}) -> {scores}",
            f"    %s2 = train.causal_mask %s1 : {scores}",
            f"    %att = train.softmax %s2 : {scores}",
            f"    %y0 = train.matmul %att, %v : ({scores}, {heads}) -> {heads}"]
    lines += [
        f"    %y1 = train.transpose %y0 [0, 2, 1, 3] : {heads} -> {split}",
        f"    %y = train.reshape %y1 : {split} -> {x}",
        f"    %{a_in} = train.linear %y, %proj_w, %proj_b : ({x}, {t(D, D)}, {t(D)}) -> {x}",
        *a_drop,
        f"    %x1 = train.add %x, %a : ({x}, {x}) -> {x}",
        f"    %h2 = train.layer_norm %x1, %ln2_w, %ln2_b : ({x}, {t(D)}, {t(D)}) -> {x}",
        f"    %f = train.linear %h2, %fc_w, %fc_b : ({x}, {t(4 * D, D)}, {t(4 * D)}) -> {t(B, T, 4 * D)}",
        f"    %g = train.gelu %f tanh : {t(B, T, 4 * D)}",
        f"    %{m_in} = train.linear %g, %fc_proj_w, %fc_proj_b : ({t(B, T, 4 * D)}, {t(D, 4 * D)}, {t(D)}) -> {x}",
        *m_drop,
        f"    %x2 = train.add %x1, %m : ({x}, {x}) -> {x}",
        f"    return %x2 : {x}",
        "  }"]
    return lines


def dropout_lines(name, p, type_):
    """The name to give the value dropout applies to, and the dropout line:
    with p = 0 the value keeps `name` and there is no line."""
    if not p:
        return name, []
    return name + "_in", [f"    %{name} = train.dropout %{name}_in p {p!r} : {type_}"]


def model(name, c, fused=True, dropout=0.0):
    x0, x0_drop = dropout_lines("x0", dropout, t(c["batch"], c["ctx"], c["d"]))
    B, T, D, V, L = c["batch"], c["ctx"], c["d"], c["vocab"], c["layers"]
    x = t(B, T, D)
    origin = c.get("about", "as in ../shared/peers/torch_step.py" if "lr" not in c
                   else "built like torch_step.py's, byte-level")
    out = [f"// {name}: GPT-2 {origin} (vocab {V}, context {T},",
           f"// width {D}, {L} layers, {c['heads']} heads, batch {B}). Generated by examples/gpt2.py.",
           f"module attributes {{train.optimizer = #train.adamw<lr = {c.get('lr', 1e-4)!r}, weight_decay = 0.01>}} {{",
           f"  train.param @transformer.wte.weight : {t(V, D)} init {NORMAL}",
           f"  train.param @transformer.wpe.weight : {t(c['ctx'], D)} init {NORMAL}"]
    for l in range(L):
        out += [f"  train.param @{n} : {ty} init {init}" for n, ty, init in layer_params(l, D)]
    out += [f"  train.param @transformer.ln_f.weight : {t(D)} init #train.ones",
            f"  train.param @transformer.ln_f.bias : {t(D)} init #train.zeros", ""]
    out += block(c, fused, dropout)
    out += ["",
            f"  func.func @loss(%tokens: {t(B, T, elem='i32')} {{train.input = \"tokens\"}},",
            f"                  %targets: {t(B, T, elem='i32')} {{train.input = \"targets\"}})",
            (f"      -> (tensor<f32>, {t(B, T, V)} {{train.output = \"logits\"}})" if c.get("logits")
             else "      -> tensor<f32>"),
            "      attributes {train.loss} {",
            f"    %wte = train.get_param @transformer.wte.weight : {t(V, D)}",
            f"    %wpe = train.get_param @transformer.wpe.weight : {t(T, D)}",
            f"    %tok = train.embedding %wte, %tokens : ({t(V, D)}, {t(B, T, elem='i32')}) -> {x}",
            f"    %{x0} = train.add %tok, %wpe : ({x}, {t(T, D)}) -> {x}", *x0_drop]
    for l in range(L):
        params = layer_params(l, D)
        for i, (n, ty, _) in enumerate(params):
            out.append(f"    %l{l}_{i} = train.get_param @{n} : {ty}")
        args = ", ".join(f"%l{l}_{i}" for i in range(len(params)))
        types = ", ".join(ty for _, ty, _ in params)
        out.append(f"    %x{l + 1} = func.call @block(%x{l}, {args}) : ({x}, {types}) -> {x}")
    out += [f"    %lnf_w = train.get_param @transformer.ln_f.weight : {t(D)}",
            f"    %lnf_b = train.get_param @transformer.ln_f.bias : {t(D)}",
            f"    %xf = train.layer_norm %x{L}, %lnf_w, %lnf_b : ({x}, {t(D)}, {t(D)}) -> {x}",
            "    // The LM head is the token embedding, transposed (tied weights).",
            f"    %logits = train.linear %xf, %wte : ({x}, {t(V, D)}) -> {t(B, T, V)}",
            f"    %loss = train.cross_entropy %logits, %targets : ({t(B, T, V)}, {t(B, T, elem='i32')}) -> tensor<f32>",
            (f"    return %loss, %logits : tensor<f32>, {t(B, T, V)}" if c.get("logits")
             else "    return %loss : tensor<f32>"),
            "  }",
            "}"]
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    if args[:1] == ["--print"]:
        usage = ("usage: gpt2.py --print {" + ",".join(CONFIGS) +
                 "} [--unfused-attention] [--dropout P]")
        if len(args) < 2 or args[1] not in CONFIGS:
            print(usage, file=sys.stderr)
            return 2
        dropout = 0.0
        if "--dropout" in args:
            try:
                dropout = float(args[args.index("--dropout") + 1])
            except (IndexError, ValueError):
                dropout = -1.0
            if not 0.0 <= dropout < 1.0:
                print(usage + "\n--dropout needs a probability in [0, 1)", file=sys.stderr)
                return 2
        sys.stdout.write(model(args[1], CONFIGS[args[1]], "--unfused-attention" not in args[2:],
                               dropout))
        return 0
    check = "--check" in args
    stale = []
    for name, c in CONFIGS.items():
        path = os.path.join(here, f"{name}.mlir")
        text = model(name, c)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("out of date (run examples/gpt2.py):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
