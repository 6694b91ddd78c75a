"""Seed files for the fuzzers (see test/Fuzz/*.test): `seeds.py KIND DIR`.

safetensors, checkpoint: state_dicts in every dtype ftc reads, and one with
its header not padded to 8 bytes; data: the start of Fashion-MNIST's idx
files (uncompressed) behind the reader's selector byte, an llm.c token
file with its header, raw tokens, text, and UTF-8 text for --vocab=chars."""
import gzip
import struct
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/lib")
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

kind, out = sys.argv[1], sys.argv[2]
if kind in ("safetensors", "checkpoint"):
    rng = np.random.default_rng(0)
    ftcpy.write_safetensors(f"{out}/dtypes.safetensors", {
        "f32": rng.random((2, 3), dtype=np.float32), "f64": rng.random(4),
        "i32": np.arange(5, dtype=np.int32), "i64": np.arange(3, dtype=np.int64),
        "u8": np.arange(7, dtype=np.uint8)})
    w = rng.random((3, 8), dtype=np.float32)
    ftcpy.write_safetensors(f"{out}/state_dict.safetensors", {"w": w, "b": np.zeros(3, np.float32)})
    header = b'{"w":{"dtype":"F32","shape":[3,8],"data_offsets":[0,96]}}'
    with open(f"{out}/unpadded.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + w.tobytes())
elif kind == "data":
    root = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz") as f:
        images = f.read(16 + 3 * 784)
    with gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz") as f:
        labels = f.read(8 + 20)
    # Three images' worth: the header's count says 3.
    images = images[:4] + struct.pack(">I", 3) + images[8:]
    labels = labels[:4] + struct.pack(">I", 20) + labels[8:]
    tokens = np.arange(300, dtype=np.uint16)
    llmc = np.zeros(256, np.int32)
    llmc[0], llmc[1], llmc[2] = 20240520, 1, len(tokens)
    seeds = {"images": b"\0" + images, "labels": b"\1" + labels,
             "llmc.bin": b"\2" + llmc.tobytes() + tokens.tobytes(),
             "raw.bin": b"\2" + tokens.tobytes(), "text": b"\3hello, world\n",
             "chars": b"\4" + "h\u00e9llo, w\u00f6rld \u20ac \U0001f600\n".encode()}
    for name, data in seeds.items():
        with open(f"{out}/{name}", "wb") as f:
            f.write(data)
else:
    sys.exit(f"seeds.py: unknown kind {kind}")
