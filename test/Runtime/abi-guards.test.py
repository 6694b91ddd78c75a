"""The C ABI's guards, through ctypes (see abi-guards.test)."""
import ctypes
import json
import struct
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/lib")
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

base = sys.argv[1]
check = ftcpy.Checks()
ARGUMENT, MISMATCH, FORMAT = 1, 4, 3
NAMES = {0: "FTC_OK", 1: "FTC_ERROR_ARGUMENT", 2: "FTC_ERROR_IO", 3: "FTC_ERROR_FORMAT",
         4: "FTC_ERROR_MISMATCH"}


def call(step, fn, batch):
    arrays = [np.ascontiguousarray(batch[i["name"]], dtype=i["dtype"]) for i in step.inputs]
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    loss = ctypes.c_double()
    return fn(step.state, ptrs, ctypes.byref(loss))


def snapshot(step):
    return [step.param(i).copy() for i in range(len(step.params))]


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def expect(name, step, status, want):
    """A call's status; its error on the next line."""
    check(f"{name}: {NAMES.get(status, status)}", status == want)
    if status != 0:
        print("    " + step.error())


# The small classifier: 3 classes, batch 4, labels 'y'.
small = ftcpy.Step(base + ".small.so", seed=1)
rng = np.random.default_rng(0)
x = rng.random((4, 8), dtype=np.float32)
good = {"x": x, "y": np.array([0, 1, 2, 1], np.int32)}
small.step(good)
small.save(base + ".small.ckpt.safetensors")
before = snapshot(small)
count = small.steps()
for name, labels in [("label 3 of 3 classes", [0, 1, 3, 1]), ("label -1", [-1, 0, 0, 0]),
                     ("label 100000000", [0, 100000000, 0, 0])]:
    expect(name, small, call(small, small.lib.ftc_step, {"x": x, "y": np.array(labels, np.int32)}),
           ARGUMENT)
ckpt_after = base + ".small.after.safetensors"
small.save(ckpt_after)
check("labels out of range: parameters, optimizer state and step counter unchanged",
      same(before, snapshot(small)) and small.steps() == count and
      open(ckpt_after, "rb").read() == open(base + ".small.ckpt.safetensors", "rb").read())

# gpt2-tiny: token ids index the embedding, targets the cross-entropy.
gpt = ftcpy.Step(base + ".gpt2.so", seed=1)
tokens = rng.integers(0, 4096, (8, 128)).astype(np.int32)
bad = tokens.copy()
bad[1, 5] = 100000000
expect("token id 100000000", gpt, call(gpt, gpt.lib.ftc_step, {"tokens": bad, "targets": tokens}),
       ARGUMENT)
bad = tokens.copy()
bad[7, 127] = -7
expect("target -7", gpt, call(gpt, gpt.lib.ftc_eval, {"tokens": tokens, "targets": bad}), ARGUMENT)
check("valid labels still train after the errors",
      call(small, small.lib.ftc_step, good) == 0 and small.steps() == count + 1)

# Null pointers.
lib = small.lib
loss = ctypes.c_double()
x_ptr = x.ctypes.data
status = lib.ftc_step(None, None, ctypes.byref(loss))
check(f"null state: {NAMES[status]} ({small.error()})", status == ARGUMENT)
status = lib.ftc_step(small.state, None, ctypes.byref(loss))
check(f"null inputs: {NAMES[status]} ({small.error()})", status == ARGUMENT)
ptrs = (ctypes.c_void_p * 2)(x_ptr, None)
status = lib.ftc_step(small.state, ptrs, ctypes.byref(loss))
check(f"null input 'y': {NAMES[status]} ({small.error()})", status == ARGUMENT)

# A state made by another step.so.
mlp = ftcpy.Step(base + ".mlp.so", seed=1)
status = call(small, lambda state, p, l: lib.ftc_step(mlp.state, p, l), good)
check(f"a state of another step.so: {NAMES[status]} ({small.error()})", status == ARGUMENT)
status = lib.ftc_save(mlp.state, (base + ".foreign.safetensors").encode())
check(f"a state of another step.so to ftc_save: {NAMES[status]}", status == ARGUMENT)
check("a state of another step.so: ftc_param_data is null",
      lib.ftc_param_data(mlp.state, 0) is None)
ptr = lib.ftc_param_data(small.state, 99)
check(f"parameter index 99: null, with an error ({small.error()})", ptr is None)

# Checkpoints that do not fit, loaded into the small model: nothing changes.
before = snapshot(small)
mlp.save(base + ".mlp.safetensors")
status = small.load(base + ".mlp.safetensors")
check(f"a checkpoint of another model: {NAMES[status]}", status == MISMATCH)
print("    " + small.error())
params = {p["name"]: small.param(i).copy() for i, p in enumerate(small.params)}
params["w"] = np.zeros((3, 7), np.float32)
ftcpy.write_safetensors(base + ".wrong.safetensors", params)
status = small.load(base + ".wrong.safetensors")
check(f"a checkpoint with a wrong-sized tensor: {NAMES[status]}", status in (MISMATCH, FORMAT))
print("    " + small.error())
# A header whose shape multiplies past 2^64 onto the size of its data.
header = json.dumps({"w": {"dtype": "F32", "shape": [2**62, 8, 3],
                           "data_offsets": [0, 96]}}).encode()
with open(base + ".overflow.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(header)) + header + bytes(96))
status = small.load(base + ".overflow.safetensors")
check(f"a checkpoint whose shape overflows: {NAMES[status]}", status == FORMAT)
print("    " + small.error())
check("failed loads: parameters unchanged", same(before, snapshot(small)))
lib.ftc_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
status = lib.ftc_load(small.state, None)
check(f"null path: {NAMES[status]} ({small.error()})", status == ARGUMENT)
sys.exit(1 if check.failures else 0)
