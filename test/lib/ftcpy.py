"""Test helpers: a step.so through ctypes, and safetensors files written the
way PyTorch's state_dict would be (Debian has no `safetensors` package)."""
import ctypes
import json
import struct

import numpy as np

DTYPES = {0: np.float32, 1: np.float64, 4: np.int32, 5: np.int64, 7: np.uint8}
TAGS = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
        np.dtype(np.int32): "I32", np.dtype(np.int64): "I64", np.dtype(np.uint8): "U8"}


class TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                ("rank", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("numel", ctypes.c_int64), ("trainable", ctypes.c_int32),
                ("high", ctypes.c_int64)]


def describe(lib):
    """The params, inputs and outputs a step library declares (name, dtype,
    shape, trainable, high), read without creating a state."""
    lib.ftc_last_error.restype = ctypes.c_char_p

    def info(fn, i):
        t = TensorInfo()
        if fn(i, ctypes.byref(t)) != 0:
            raise RuntimeError(lib.ftc_last_error().decode())
        return dict(name=t.name.decode(), dtype=DTYPES[t.dtype],
                    shape=tuple(t.shape[k] for k in range(t.rank)),
                    trainable=bool(t.trainable), high=t.high)

    return {kind: [info(getattr(lib, f"ftc_{kind[:-1]}_info"), i)
                   for i in range(getattr(lib, f"ftc_num_{kind}")())]
            for kind in ("params", "inputs", "outputs")}


class Step:
    """One step.so and one state in it."""

    def __init__(self, path, seed=0):
        self.lib = lib = ctypes.CDLL(path)
        lib.ftc_create.argtypes = [ctypes.c_uint64, ctypes.POINTER(ctypes.c_void_p)]
        lib.ftc_param_data.restype = ctypes.c_void_p
        lib.ftc_param_data.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.ftc_grad_data.restype = ctypes.c_void_p
        lib.ftc_grad_data.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        for fn in ("ftc_step", "ftc_eval", "ftc_grad"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_double)]
        for fn in ("ftc_save", "ftc_load"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.ftc_destroy.argtypes = [ctypes.c_void_p]
        lib.ftc_step_count.argtypes = [ctypes.c_void_p]
        lib.ftc_step_count.restype = ctypes.c_int64
        lib.ftc_output_data.restype = ctypes.c_void_p
        lib.ftc_output_data.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.ftc_set_training.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.ftc_set_num_threads.argtypes = [ctypes.c_int32]
        lib.ftc_loss_scale.argtypes = [ctypes.c_void_p]
        lib.ftc_loss_scale.restype = ctypes.c_double
        lib.ftc_skipped_steps.argtypes = [ctypes.c_void_p]
        lib.ftc_skipped_steps.restype = ctypes.c_int64
        described = describe(lib)
        self.params, self.inputs, self.outputs = (described[k] for k in ("params", "inputs", "outputs"))
        self.state = ctypes.c_void_p()
        self.check(lib.ftc_create(seed, ctypes.byref(self.state)))

    def steps(self):
        return self.lib.ftc_step_count(self.state)

    def loss_scale(self):
        return self.lib.ftc_loss_scale(self.state)

    def skipped(self):
        return self.lib.ftc_skipped_steps(self.state)

    def check(self, status):
        if status != 0:
            raise RuntimeError(f"ftc status {status}: {self.lib.ftc_last_error().decode()}")

    def error(self):
        return self.lib.ftc_last_error().decode()

    def _call(self, fn, batch):
        arrays = [np.ascontiguousarray(batch[i["name"]], dtype=i["dtype"]) for i in self.inputs]
        ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        loss = ctypes.c_double()
        self.check(fn(self.state, ptrs, ctypes.byref(loss)))
        return loss.value

    def step(self, batch):
        return self._call(self.lib.ftc_step, batch)

    def eval(self, batch):
        return self._call(self.lib.ftc_eval, batch)

    def grad(self, batch):
        return self._call(self.lib.ftc_grad, batch)

    def _view(self, ptr, info):
        n = int(np.prod(info["shape"], dtype=np.int64))
        ctype = np.ctypeslib.as_ctypes_type(info["dtype"])
        buf = (ctype * n).from_address(ptr)
        return np.frombuffer(buf, dtype=info["dtype"]).reshape(info["shape"])

    def param(self, i):
        """A writable view of parameter i."""
        return self._view(self.lib.ftc_param_data(self.state, i), self.params[i])

    def grad_of(self, i):
        ptr = self.lib.ftc_grad_data(self.state, i)
        return None if not ptr else self._view(ptr, self.params[i]).copy()

    def output(self, i):
        """Output i of the last eval, copied."""
        return self._view(self.lib.ftc_output_data(self.state, i), self.outputs[i]).copy()

    def set_num_threads(self, n):
        """The threads the step runs on from now (ftc_set_num_threads)."""
        self.check(self.lib.ftc_set_num_threads(n))

    def set_training(self, training):
        self.lib.ftc_set_training(self.state, int(training))

    def save(self, path):
        self.check(self.lib.ftc_save(self.state, path.encode()))

    def load(self, path):
        return self.lib.ftc_load(self.state, path.encode())

    def _file_call(self, name, path):
        """A call (state, path) -> status of the checkpoint and adapter API."""
        fn = getattr(self.lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        fn.restype = ctypes.c_int
        return fn(self.state, path.encode())

    def load_partial(self, path):
        return self._file_call("ftc_load_partial", path)

    def save_adapters(self, directory):
        return self._file_call("ftc_save_adapters", directory)

    def load_adapters(self, directory):
        return self._file_call("ftc_load_adapters", directory)

    def save_merged(self, path):
        return self._file_call("ftc_save_merged", path)

    def report(self):
        """ftc_last_report as a dict ({} before any load or save)."""
        fn = self.lib.ftc_last_report
        fn.argtypes = [ctypes.c_void_p]
        fn.restype = ctypes.c_char_p
        text = fn(self.state).decode()
        return json.loads(text) if text else {}

    def description(self):
        """The model description (ftc_model_description) as a dict."""
        self.lib.ftc_model_description.restype = ctypes.c_char_p
        return json.loads(self.lib.ftc_model_description().decode())

    def params_by_name(self):
        """name -> a copy of each parameter."""
        return {p["name"]: self.param(i).copy() for i, p in enumerate(self.params)}


# A communicator for ftc_set_comm (ftc.h's ftc_comm, version 2), for tests
# that implement one in Python.
COMM_ALL_REDUCE = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_int64, ctypes.c_int32,
                                   ctypes.POINTER(ctypes.c_void_p))
COMM_WAIT = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p)
COMM_ALL_GATHER = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_int64))
COMM_ERROR = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
COMM_HOST, COMM_DEVICE = 0, 1


class CommTable(ctypes.Structure):
    _fields_ = [("version", ctypes.c_int32), ("rank", ctypes.c_int32), ("size", ctypes.c_int32),
                ("context", ctypes.c_void_p), ("all_reduce", COMM_ALL_REDUCE),
                ("wait", COMM_WAIT), ("all_gather", COMM_ALL_GATHER), ("error", COMM_ERROR),
                ("memory", ctypes.c_int32)]


def random_batch(step, rng):
    """Inputs for `step` drawn from the numpy Generator `rng`: integer inputs
    uniform in their range [0, high), floating ones standard normal."""
    batch = {}
    for i in step.inputs:
        if np.dtype(i["dtype"]).kind == "i":
            batch[i["name"]] = rng.integers(0, i["high"], i["shape"]).astype(i["dtype"])
        else:
            batch[i["name"]] = rng.standard_normal(i["shape"]).astype(i["dtype"])
    return batch


def attention_model(shape, causal, scale=None):
    """A model whose loss is sum(attention(q, k, v) * probe): q, k and v
    f32 parameters of `shape` ([..., T, D], rank 4), probe an input; scale
    None is attention's default (scores divided by sqrt(D))."""
    t = "x".join(str(n) for n in shape) + "xf32"
    attrs = "" if scale is None else f" {{scale = {float(scale)!r} : f64}}"
    return f"""train.param @q : tensor<{t}> init #train.normal
train.param @k : tensor<{t}> init #train.normal
train.param @v : tensor<{t}> init #train.normal
func.func @loss(%probe: tensor<{t}> {{train.input = "probe"}}) -> tensor<f32> attributes {{train.loss}} {{
  %q = train.get_param @q : tensor<{t}>
  %k = train.get_param @k : tensor<{t}>
  %v = train.get_param @v : tensor<{t}>
  %y = train.attention %q, %k, %v{" causal" if causal else ""}{attrs} : (tensor<{t}>, tensor<{t}>, tensor<{t}>) -> tensor<{t}>
  %w = train.mul %y, %probe : (tensor<{t}>, tensor<{t}>) -> tensor<{t}>
  %l = train.sum %w dims [0, 1, 2, 3] : tensor<{t}> -> tensor<f32>
  return %l : tensor<f32>
}}
"""


def attention_reference(q, k, v, probe, causal, scale=None):
    """attention_model's loss and the gradients of q, k and v, by PyTorch in
    float64 from the given (numpy) values."""
    import torch
    q, k, v = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (q, k, v))
    scores = q @ k.transpose(-1, -2)
    scores = scores * scale if scale is not None else scores / np.sqrt(q.shape[-1])
    if causal:
        t = q.shape[-2]
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    loss = (torch.softmax(scores, -1) @ v * torch.tensor(probe, dtype=torch.float64)).sum()
    loss.backward()
    return loss.item(), [x.grad.numpy() for x in (q, k, v)]


def check_attention(check, steps, test, causal, scale=None):
    """Takes the gradient of attention_model with each of `steps` (name ->
    Step, one named "cpu") from the same parameters and probe, and checks
    each step but the CPU's against float64: the loss within 1e-2 relative,
    each gradient's relative (Frobenius) error within 1.5 times the CPU
    step's and under 2e-2."""
    cpu = steps["cpu"]
    batch = random_batch(cpu, np.random.default_rng(7))
    losses = {name: s.grad(batch) for name, s in steps.items()}
    ref, grads = attention_reference(*(cpu.param(i) for i in range(3)), batch["probe"],
                                     causal, scale)
    rel = abs(losses[test] - ref) / abs(ref)
    check(f"loss: {test} {losses[test]:.6f} float64 {ref:.6f} rel {rel:.1e} (<= 1e-2)",
          rel <= 1e-2)
    for i, name in enumerate("qkv"):
        errors = {n: np.linalg.norm(s.grad_of(i).astype(np.float64) - grads[i]) /
                  np.linalg.norm(grads[i]) for n, s in steps.items()}
        bound = min(1.5 * errors["cpu"], 2e-2)
        check(f"d{name}: {test} rel {errors[test]:.2e}, cpu rel {errors['cpu']:.2e} "
              f"(<= {bound:.2e})", errors[test] <= bound)


def write_safetensors(path, tensors):
    """tensors: name -> numpy array (a PyTorch state_dict as numpy)."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.asarray(array)  # 0-d stays 0-d (ascontiguousarray makes it [1])
        data = array.tobytes(order="C")
        header[name] = {"dtype": TAGS[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = {v: k for k, v in TAGS.items()}[entry["dtype"]]
        out[name] = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=dtype).reshape(entry["shape"])
    return out


def fashion_mnist(split="train", root="/usr/share/datasets/fashion-mnist"):
    """(images [N, 784] float32 in [0, 1], labels [N] int32) from Debian's
    dataset-fashion-mnist."""
    import gzip
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{root}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(f"{root}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return (images.astype(np.float32) / 255.0), labels.astype(np.int32)


class Checks:
    """Named checks, one line each: "ok" or "FAIL", the name and a detail."""

    def __init__(self):
        self.failures = 0

    def __call__(self, name, ok, detail=""):
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)


class Parity:
    """The numerical contract (DESIGN.md), anchored on a float64 PyTorch run
    from the same initial parameters and batches:
      (1) gradients, per tensor: max|g - g64| <= 2e-5 max|g64|;
      (2) after N optimizer steps, per tensor: ||p - p64|| <= 1e-3 ||p64 - p0||,
          or ||p - p64|| <= 3 ||p32 - p64|| (PyTorch float32's own distance);
      (3) losses within 1e-5 relative of float64's.
    Each check prints one row and counts its failures."""

    GRAD_BOUND = 2e-5
    STEP_BOUND = 1e-3
    FLOAT32_FACTOR = 3.0
    LOSS_BOUND = 1e-5

    def __init__(self):
        self.failures = 0

    def _verdict(self, ok):
        self.failures += not ok
        return "ok" if ok else "FAIL"

    def gradient(self, name, ours, exact):
        err = float(np.max(np.abs(ours.astype(np.float64) - exact)))
        limit = self.GRAD_BOUND * float(np.max(np.abs(exact)))
        print(f"grad {name:>24}: max|g-g64| {err:.2e}  2e-5*max|g64| {limit:.2e}  "
              f"{self._verdict(err <= limit)}")

    def loss(self, label, ours, exact, theirs=None):
        rel = abs(ours - exact) / abs(exact)
        extra = "" if theirs is None else f"  torch32 {theirs:12.7f}"
        print(f"loss {label:>8}: ftc {ours:12.7f}  torch64 {exact:12.7f}{extra}  rel {rel:.2e}  "
              f"{self._verdict(rel <= self.LOSS_BOUND)}")

    def parameter(self, name, ours, theirs, exact, init):
        ours = ours.astype(np.float64)
        ours_err = float(np.linalg.norm(ours - exact))
        moved = float(np.linalg.norm(exact - init.astype(np.float64)))
        their_err = float(np.linalg.norm(theirs.astype(np.float64) - exact))
        if ours_err <= self.STEP_BOUND * moved:
            verdict = self._verdict(True)
        else:
            verdict = ("ok: <= 3|t32-t64|" if ours_err <= self.FLOAT32_FACTOR * their_err
                       else self._verdict(False))
        print(f"param {name:>23}: |p-p64| {ours_err:.2e}  1e-3*|p64-p0| {self.STEP_BOUND * moved:.2e}"
              f"  |t32-t64| {their_err:.2e}  {verdict}")

    def norms(self, label, ours, exact, theirs):
        """Gradient norms step by step (clip_grad_norm_'s): each within 1e-5
        relative of float64's, or within 3x PyTorch float32's own distance
        (the parameters' criterion: after a few steps the gradients are those
        of float32 parameters)."""
        worst = max(abs(o - e) / max(1e-5 * e, 3 * abs(t - e))
                    for o, e, t in zip(ours, exact, theirs))
        print(f"norm {label}: {len(ours)} steps, worst |n-n64| / max(1e-5 n64, 3|n32-n64|) "
              f"{worst:.2f}  {self._verdict(worst <= 1.0 and len(ours) == len(exact))}")

    def summary(self):
        print("parity:", "FAILED" if self.failures else "ok")
        return 1 if self.failures else 0
