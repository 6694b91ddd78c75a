"""Checks of loading pretrained models into LoRA steps, PEFT adapter files
and merging, through the C ABI (ctypes) and the files themselves. Each
command prints what it checked and ends with "<command>: ok", or raises.

  lora.py state-dict BASE.so OUT     a PyTorch state_dict of the classifier
  lora.py check-init LORA.so SD      ftc_load of a state_dict without adapters
  lora.py check-partial SO CKPT      ftc_load_partial of a smaller head
  lora.py check-peft DIR FULL SD [modules_to_save...]
                                     the adapter files against PEFT's format
  lora.py check-roundtrip LORA.so DIR FULL SD
  lora.py check-merge BASE.so LORA.so MERGED FULL
  lora.py check-dora BASE.so DORA.so DIR MERGED FULL SD
                                     DoRA's magnitude: init, files, merge
  lora.py check-nf4-merge BASE.so QLORA.so MERGED FULL SD
  lora.py edit-config DIR FIELD JSON  /  drop-key DIR KEY  /  to-f64 DIR
"""
import ctypes
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "lib"))
import ftcpy  # noqa: E402

FTC_ERROR_MISMATCH = 4
ADAPTERS = ["fc1.lora_A.weight", "fc1.lora_B.weight", "fc2.lora_A.weight", "fc2.lora_B.weight"]
BASE = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "head.weight", "head.bias"]
PREFIX = "base_model.model."  # PeftModel wraps the base model as base_model.model


def check(ok, what):
    if not ok:
        raise SystemExit(f"FAIL: {what}")
    print(f"ok: {what}")


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def batch(seed=0, classes=5):
    r = np.random.default_rng(seed)
    return {"x": r.standard_normal((8, 16), dtype=np.float32),
            "y": r.integers(0, classes, 8).astype(np.int32)}


def state_dict(base_so, out):
    """The classifier as torch.nn modules, its state_dict written as
    safetensors (the names PyTorch gives: fc1.weight, ..., head.bias)."""
    import torch
    torch.manual_seed(0)

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(16, 32)
            self.fc2 = torch.nn.Linear(32, 32)
            self.head = torch.nn.Linear(32, 5)

    sd = {k: v.detach().numpy() for k, v in Classifier().state_dict().items()}
    check(list(sd) == BASE, "the torch module's state_dict keys are the base model's")
    ftcpy.write_safetensors(out, sd)
    print("state-dict: ok")


def check_init(lora_so, sd_path):
    sd = ftcpy.read_safetensors(sd_path)
    s, fresh = ftcpy.Step(lora_so, seed=7), ftcpy.Step(lora_so, seed=7)
    names = [p["name"] for p in s.params]
    check(sorted(names) == sorted(BASE + ADAPTERS), "the LoRA step's parameters")
    check(all(p["trainable"] == (p["name"] in ADAPTERS) for p in s.params),
          "only the adapters are trainable")
    s.check(s.load(sd_path))
    report = s.report()
    check(report["action"] == "load" and report["path"] == sd_path, "report: action and path")
    check(sorted(report["loaded"]) == sorted(BASE), "report: the base parameters were loaded")
    check(sorted(report["kept"]) == sorted(ADAPTERS), "report: the adapters kept their values")
    check(report["skipped"] == [] and report["optimizer"] == 0 and report["step"] == 0,
          "report: nothing skipped, no optimizer state, step 0")
    got, init = s.params_by_name(), fresh.params_by_name()
    check(all(same(got[n], sd[n]) for n in BASE), "base parameters are the state_dict's bits")
    check(all(same(got[n], init[n]) for n in ADAPTERS), "adapters are ftc_create's bits")
    check(not np.any(got["fc1.lora_B.weight"]) and np.any(got["fc1.lora_A.weight"]),
          "B starts at zero, A does not")

    # A file lacking a base parameter is still an error, and leaves the
    # state and the report as they were.
    partial = {k: v for k, v in sd.items() if k != "fc2.bias"}
    bad = sd_path + ".no-fc2-bias.safetensors"
    ftcpy.write_safetensors(bad, partial)
    # (A load that copied anything before failing would show here.)
    s.param([p["name"] for p in s.params].index("fc1.weight"))[...] = 0.25
    before = s.params_by_name()
    status = s.load(bad)
    check(status == FTC_ERROR_MISMATCH and "has no tensor 'fc2.bias'" in s.error(),
          f"a missing base parameter fails: {s.error()}")
    after = s.params_by_name()
    check(all(same(before[n], after[n]) for n in before), "a failed load leaves the state as it was")
    check(s.report()["path"] == sd_path, "a failed load leaves the last report")

    # A full fine-tune's checkpoint (optimizer state for every weight):
    # the optimizer state of weights the LoRA step freezes is skipped.
    tuned = {**sd, **{f"optim.{n}.exp_avg": np.ones_like(sd[n]) for n in BASE}}
    full = sd_path + ".tuned.safetensors"
    ftcpy.write_safetensors(full, tuned)
    s.check(s.load(full))
    report = s.report()
    check(sorted(x["name"] for x in report["skipped"]) == sorted(f"optim.{n}.exp_avg" for n in BASE)
          and all(x["reason"] == "state" for x in report["skipped"]),
          "optimizer state of frozen weights is skipped with reason 'state'")
    check(sorted(report["loaded"]) == sorted(BASE) and sorted(report["kept"]) == sorted(ADAPTERS),
          "and the base parameters are loaded")
    print("check-init: ok")


def check_partial(so, ckpt):
    s, fresh = ftcpy.Step(so, seed=3), ftcpy.Step(so, seed=3)
    file = ftcpy.read_safetensors(ckpt)
    extra = ckpt + ".extra.safetensors"
    ftcpy.write_safetensors(extra, {**file, "extra.weight": np.zeros((2, 2), np.float32)})
    s.check(s.load_partial(extra))
    report = s.report()
    backbone = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    check(report["action"] == "load_partial" and report["loaded"] == backbone,
          "report: the backbone was loaded")
    check(report["kept"] == ["head.weight", "head.bias"], "report: the new head kept its init")
    reasons = {x["name"]: (x["reason"], x["detail"]) for x in report["skipped"]}
    check(reasons["head.weight"] == ("mismatch", "f32 [5, 32] in the file; this model has f32 [10, 32]"),
          "report: head.weight skipped for its shape")
    check(reasons["extra.weight"][0] == "unknown", "report: a tensor the model lacks is 'unknown'")
    check(all(reasons[n][0] == "state" for n in file if n.startswith("optim.")),
          "report: optimizer state is not taken")
    check(report["step"] == 0 and s.lib.ftc_step_count(s.state) == 0, "the step counter is 0")
    got, init = s.params_by_name(), fresh.params_by_name()
    check(all(same(got[n], file[n]) for n in backbone), "the backbone holds the file's bits")
    check(all(same(got[n], init[n]) for n in ["head.weight", "head.bias"]),
          "the head holds ftc_create's bits")

    # Nothing that fits: an error, and the state stays.
    none = ckpt + ".none.safetensors"
    ftcpy.write_safetensors(none, {"fc1.weight": np.zeros((3, 3), np.float32)})
    before = s.params_by_name()
    status = s.load_partial(none)
    check(status == FTC_ERROR_MISMATCH and "has no parameter of this model" in s.error(),
          f"a file where nothing fits fails: {s.error()}")
    after = s.params_by_name()
    check(all(same(before[n], after[n]) for n in before), "and leaves the state as it was")
    print("check-partial: ok")


def check_peft(directory, full_path, sd_path, *modules_to_save):
    """The files against PEFT's save_pretrained (peft/peft_model.py,
    peft/config.py, peft/utils/save_and_load.py, peft/tuners/lora/config.py)."""
    with open(os.path.join(directory, "adapter_config.json")) as f:
        text = f.read()
    config = json.loads(text)
    check(text == json.dumps(config, indent=2, sort_keys=True),
          "adapter_config.json is written as json.dumps(indent=2, sort_keys=True)")
    expected = {
        "peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_dropout": 0.0,
        "target_modules": ["fc1", "fc2"], "use_rslora": False, "use_dora": False,
        "bias": "none", "fan_in_fan_out": False, "init_lora_weights": True,
        "modules_to_save": list(modules_to_save) or None, "task_type": None,
        "base_model_name_or_path": None, "revision": None, "inference_mode": True,
        "rank_pattern": {}, "alpha_pattern": {}, "layers_to_transform": None,
        "layers_pattern": None, "exclude_modules": None, "lora_bias": False,
    }
    for key, value in expected.items():
        check(key in config and config[key] == value and type(config[key]) is type(value),
              f"adapter_config.json: {key} = {json.dumps(value)}")

    weights = os.path.join(directory, "adapter_model.safetensors")
    tensors = ftcpy.read_safetensors(weights)
    with open(weights, "rb") as f:
        (n,) = np.frombuffer(f.read(8), np.uint64)
        f.seek(8)
        header = json.loads(f.read(int(n)))
    check(header["__metadata__"].get("format") == "pt", "safetensors metadata format 'pt'")
    shapes = {"fc1.lora_A.weight": (4, 16), "fc1.lora_B.weight": (32, 4),
              "fc2.lora_A.weight": (4, 32), "fc2.lora_B.weight": (32, 4)}
    saved = [f"{m}.{leaf}" for m in modules_to_save for leaf in ("weight", "bias")]
    keys = {PREFIX + n for n in list(shapes) + saved}
    check(set(tensors) == keys, f"adapter_model.safetensors keys: {sorted(keys)}")
    for name, shape in shapes.items():
        check(tensors[PREFIX + name].shape == shape and tensors[PREFIX + name].dtype == np.float32,
              f"{PREFIX + name} is f32 {list(shape)}")
    full = ftcpy.read_safetensors(full_path)
    check(all(same(tensors[PREFIX + n], full[n]) for n in list(shapes) + saved),
          "the adapters (and modules_to_save) are the trained state's bits")
    check(all(np.any(tensors[PREFIX + n]) for n in shapes), "B was trained away from zero")
    if saved:
        sd = ftcpy.read_safetensors(sd_path)
        check(all(not same(full[n], sd[n]) for n in saved), "modules_to_save were trained")
    print("check-peft: ok")


def check_roundtrip(lora_so, directory, full_path, sd_path):
    """A fresh state, the base from the state_dict, the adapters from DIR:
    bit-identical to the state that saved them."""
    s = ftcpy.Step(lora_so, seed=11)
    s.check(s.load(sd_path))
    s.check(s.load_adapters(directory))
    report = s.report()
    saved = {k[len(PREFIX):] for k in ftcpy.read_safetensors(
        os.path.join(directory, "adapter_model.safetensors"))}
    check(report["action"] == "load_adapters" and set(report["loaded"]) == saved,
          "report: every tensor of the adapter file was loaded")
    check(report["converted"] == [], "report: nothing converted")
    full, got = ftcpy.read_safetensors(full_path), s.params_by_name()
    check(all(same(got[n], full[n]) for n in saved), "loaded adapters are the saved bits")
    sd = ftcpy.read_safetensors(sd_path)
    check(all(same(got[n], sd[n]) for n in got if n not in saved), "the base is the state_dict's")
    b = batch()
    ref = ftcpy.Step(lora_so, seed=11)
    ref.check(ref.load(full_path))
    check(s.eval(b) == ref.eval(b), "the same loss as the state that saved them")

    # 64-bit floats are converted to the parameters' f32.
    wide = directory + ".f64"
    os.makedirs(wide, exist_ok=True)
    tensors = ftcpy.read_safetensors(os.path.join(directory, "adapter_model.safetensors"))
    ftcpy.write_safetensors(os.path.join(wide, "adapter_model.safetensors"),
                            {k: v.astype(np.float64) for k, v in tensors.items()})
    with open(os.path.join(directory, "adapter_config.json")) as f, \
            open(os.path.join(wide, "adapter_config.json"), "w") as g:
        g.write(f.read())
    t = ftcpy.Step(lora_so, seed=11)
    t.check(t.load(sd_path))
    t.check(t.load_adapters(wide))
    check(sorted(c["name"] for c in t.report()["converted"]) == sorted(saved)
          and all(c["from"] == "f64" for c in t.report()["converted"]),
          "report: f64 tensors converted")
    got = t.params_by_name()
    check(all(same(got[n], full[n]) for n in saved), "f64 adapters convert back to the same f32 bits")
    print("check-roundtrip: ok")


def check_merge(base_so, lora_so, merged_path, full_path):
    merged, full = ftcpy.read_safetensors(merged_path), ftcpy.read_safetensors(full_path)
    base = ftcpy.Step(base_so, seed=5)
    check(list(merged) == [p["name"] for p in base.params] and
          not any("lora" in k or k.startswith("optim.") for k in merged),
          "the merged file holds the base model's parameters only, in its order")
    lora = ftcpy.Step(lora_so, seed=5)
    scaling = lora.description()["lora"]["scaling"]
    check(scaling == 2.0, "scaling = lora_alpha / r = 8 / 4")
    biggest = 0.0
    for m in ("fc1", "fc2"):
        w = full[f"{m}.weight"].astype(np.float64)
        a, b = full[f"{m}.lora_A.weight"].astype(np.float64), full[f"{m}.lora_B.weight"].astype(np.float64)
        ref = (w + scaling * (b @ a)).astype(np.float32)
        ulps = np.abs(merged[f"{m}.weight"].astype(np.float64) - ref) / np.spacing(np.abs(ref))
        check(merged[f"{m}.weight"].dtype == np.float32 and float(ulps.max()) <= 1.0,
              f"{m}.weight = f32(W + s B A) in double, within 1 ulp (max {ulps.max():.2f})")
        change = float(np.max(np.abs(merged[f"{m}.weight"].astype(np.float64) - w)))
        check(change > 0, f"the adapters changed {m}.weight (max |W' - W| {change:.3g})")
        biggest = max(biggest, change)
    check(all(same(merged[n], full[n]) for n in ("fc1.bias", "fc2.bias", "head.weight", "head.bias")),
          "the other parameters are the trained state's bits")

    # The base model with the merged weights computes what the LoRA model does.
    base.check(base.load(merged_path))
    lora.check(lora.load(full_path))
    for seed in range(3):
        b = batch(seed)
        lb, ll = base.eval(b), lora.eval(b)
        zb, zl = base.output(0), lora.output(0)
        rel = abs(lb - ll) / abs(ll)
        check(rel <= 1e-5, f"batch {seed}: base+merged loss {lb:.7f}, LoRA loss {ll:.7f} (rel {rel:.1e})")
        err = float(np.max(np.abs(zb - zl)))
        check(err <= 1e-5 * float(np.max(np.abs(zl))), f"batch {seed}: logits agree (max diff {err:.1e})")
    lora.check(lora.save_merged(merged_path + ".again"))
    report = lora.report()
    check(report["action"] == "save_merged" and [x["module"] for x in report["merged"]] == ["fc1", "fc2"],
          "report: the merged modules")
    check(abs(report["max_abs_change"] - biggest) == 0.0, "report: max |W' - W| as numpy finds it")
    with open(merged_path, "rb") as f, open(merged_path + ".again", "rb") as g:
        check(f.read() == g.read(), "merging the same state twice gives the same bytes")
    print("check-merge: ok")


def check_dora(base_so, dora_so, directory, merged_path, full_path, sd_path):
    """DoRA: the magnitude starts at the norms of the loaded W's rows, is
    saved under PEFT's key (no .weight), loads back, and merges as
    m / ||W + s B A|| (W + s B A) per row."""
    sd, full = ftcpy.read_safetensors(sd_path), ftcpy.read_safetensors(full_path)
    merged = ftcpy.read_safetensors(merged_path)
    s = ftcpy.Step(dora_so, seed=9)
    s.check(s.load(sd_path))
    check("fc1.lora_magnitude_vector" in s.report()["kept"], "a base state_dict keeps the magnitudes")
    for m in ("fc1", "fc2"):
        norms = np.linalg.norm(sd[f"{m}.weight"].astype(np.float64), axis=1).astype(np.float32)
        check(same(s.params_by_name()[f"{m}.lora_magnitude_vector"], norms),
              f"after --init, {m}.lora_magnitude_vector is the norms of the loaded W's rows")
    tensors = ftcpy.read_safetensors(os.path.join(directory, "adapter_model.safetensors"))
    with open(os.path.join(directory, "adapter_config.json")) as f:
        config = json.load(f)
    check(config["use_dora"] is True, "adapter_config.json: use_dora true")
    for m in ("fc1", "fc2"):
        key = f"{PREFIX}{m}.lora_magnitude_vector"
        check(key in tensors and same(tensors[key], full[f"{m}.lora_magnitude_vector"]),
              f"{key} (PEFT's key, no .weight) holds the trained magnitude")
    s.check(s.load_adapters(directory))
    check(all(same(s.params_by_name()[k], full[k]) for k in full
              if "lora" in k and not k.startswith("optim.")),
          "--load-adapters restores A, B and the magnitudes bit for bit")
    scaling = s.description()["lora"]["scaling"]
    for m in ("fc1", "fc2"):
        w = full[f"{m}.weight"].astype(np.float64)
        v = w + scaling * (full[f"{m}.lora_B.weight"].astype(np.float64) @
                           full[f"{m}.lora_A.weight"].astype(np.float64))
        ref = (full[f"{m}.lora_magnitude_vector"][:, None] / np.linalg.norm(v, axis=1)[:, None]
               * v).astype(np.float32)
        ulps = np.abs(merged[f"{m}.weight"].astype(np.float64) - ref) / np.spacing(np.abs(ref))
        check(float(ulps.max()) <= 1.0, f"merged {m}.weight = m / ||W + s B A|| (W + s B A), "
                                        f"within 1 ulp (max {ulps.max():.2f})")
    base = ftcpy.Step(base_so, seed=5)
    base.check(base.load(merged_path))
    s.check(s.load(full_path))
    for seed in range(3):
        lb, ld = base.eval(batch(seed)), s.eval(batch(seed))
        rel = abs(lb - ld) / abs(ld)
        check(rel <= 1e-5, f"batch {seed}: base+merged loss {lb:.7f}, DoRA loss {ld:.7f} (rel {rel:.1e})")
    print("check-dora: ok")


def check_nf4_merge(base_so, qlora_so, merged_path, full_path, sd_path):
    """QLoRA: merged from the dequantized base, the merged f32 model is the
    trained one; the report gives what requantizing would change."""
    base = ftcpy.Step(base_so, seed=5)
    base.check(base.load(merged_path))
    q = ftcpy.Step(qlora_so, seed=5)
    q.check(q.load(full_path))
    check(q.params_by_name()["fc1.weight"].dtype == np.uint8, "the QLoRA step stores fc1 as nf4 codes")
    for seed in range(3):
        lb, lq = base.eval(batch(seed)), q.eval(batch(seed))
        rel = abs(lb - lq) / abs(lq)
        check(rel <= 1e-5, f"batch {seed}: base+merged loss {lb:.7f}, QLoRA loss {lq:.7f} (rel {rel:.1e})")
    q.check(q.save_merged(merged_path + ".again"))
    errors = [x["nf4_requantization_error"] for x in q.report()["merged"]]
    check(len(errors) == 2 and all(e > 0 for e in errors),
          f"the report gives the nf4 requantization error of each merged module ({errors})")
    print("check-nf4-merge: ok")


def edit_config(directory, field, value):
    path = os.path.join(directory, "adapter_config.json")
    with open(path) as f:
        config = json.load(f)
    config[field] = json.loads(value)
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)


def drop_key(directory, key):
    path = os.path.join(directory, "adapter_model.safetensors")
    tensors = ftcpy.read_safetensors(path)
    del tensors[key]
    ftcpy.write_safetensors(path, tensors)


def add_key(directory, key, rows, cols):
    path = os.path.join(directory, "adapter_model.safetensors")
    tensors = dict(ftcpy.read_safetensors(path))
    tensors[key] = np.zeros((int(rows), int(cols)), np.float32)
    ftcpy.write_safetensors(path, tensors)


def check_failed_load(lora_so, directory, sd_path):
    """A failed ftc_load_adapters leaves the state as it was."""
    s = ftcpy.Step(lora_so, seed=2)
    s.check(s.load(sd_path))
    before = s.params_by_name()
    status = s.load_adapters(directory)
    check(status != 0, f"loading fails: {s.error()}")
    after = s.params_by_name()
    check(all(same(before[n], after[n]) for n in before), "the state is as it was")
    print("check-failed-load: ok")


if __name__ == "__main__":
    commands = {"state-dict": state_dict, "check-init": check_init, "check-partial": check_partial,
                "check-peft": check_peft, "check-roundtrip": check_roundtrip,
                "check-merge": check_merge, "edit-config": edit_config, "drop-key": drop_key,
                "add-key": add_key, "check-failed-load": check_failed_load,
                "check-dora": check_dora, "check-nf4-merge": check_nf4_merge}
    commands[sys.argv[1]](*sys.argv[2:])
