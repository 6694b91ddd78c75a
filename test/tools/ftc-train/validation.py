#!/usr/bin/python3
"""Checks of validation.test on ftc-train's files.

  validation.py vocab TEXT VOCAB.json       the vocabulary is TEXT's sorted characters
  validation.py sample TEXT LOG             the sample's characters are TEXT's
  validation.py best LOG CKPT               CKPT is the step of LOG's lowest val_loss,
                                            and that is not the last evaluation
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))
import ftcpy  # noqa: E402


def main():
    what, *args = sys.argv[1:]
    if what == "vocab":
        text = open(args[0], encoding="utf-8").read()
        vocab = json.load(open(args[1], encoding="utf-8"))
        expected = "".join(sorted(set(text)))
        print("vocabulary:", len(vocab["chars"]), "characters")
        return 0 if vocab == {"kind": "chars", "size": len(expected), "chars": expected} else 1
    if what == "sample":
        text = open(args[0], encoding="utf-8").read()
        log = open(args[1], encoding="utf-8").read()
        sample = log.split("sample, after ", 1)[1].split("\n", 1)[1]
        sample = sample.split("\n", 1)[0] if "\n" in sample else sample
        extra = set(sample) - set(text)
        print(f"sample of {len(sample)} characters, outside the text: {sorted(extra)}")
        return 0 if sample and not extra else 1
    if what == "best":
        entries = [json.loads(line) for line in open(args[0])]
        evals = [e for e in entries if "val_loss" in e]
        best = min(evals, key=lambda e: e["val_loss"])
        saved = int(ftcpy.read_safetensors(args[1])["optim.step"])
        print(f"{len(evals)} evaluations, best at step {best['step']}, saved step {saved}")
        return 0 if saved == best["step"] and best is not evals[-1] else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
