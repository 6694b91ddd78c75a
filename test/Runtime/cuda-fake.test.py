"""A step.so compiled for CUDA, run on the stand-in driver (see cuda-fake.test).

The fake driver keeps "device" memory on the host and runs no kernel: what
the runtime copies up must come back unchanged, every launch's arguments
must be device memory, and a step must copy only what changed. It stands in
for cuBLASLt too: every product's matrices must lie in device memory at the
layouts the runtime gave.
"""
import ctypes
import os
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/lib")
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

cuda_so, cpu_so, fake_so, log_path, work = sys.argv[1:6]
check = ftcpy.Checks()
DEVICE = 8


def log_lines():
    with open(log_path) as f:
        lines = f.read().splitlines()
    open(log_path, "w").close()
    return lines


def call(step, fn, pointers):
    loss = ctypes.c_double()
    status = fn(step.state, (ctypes.c_void_p * len(pointers))(*pointers), ctypes.byref(loss))
    return status, loss.value


def host_pointers(arrays):
    return [a.ctypes.data for a in arrays]


os.environ["FTC_LIBCUDA"] = fake_so
os.environ["FTC_LIBCUBLASLT"] = fake_so
os.environ["FAKECUDA_LOG"] = log_path
open(log_path, "w").close()

cpu = ftcpy.Step(cpu_so, seed=3)
gpu = ftcpy.Step(cuda_so, seed=3)
lines = log_lines()
check("create: the module loaded as PTX, two device allocations (the state, cuBLASLt's "
      "workspace)",
      lines.count("module ptx") == 1 and sum(l.startswith("alloc ") for l in lines) == 2,
      str(lines))

b = ftcpy.random_batch(gpu, np.random.default_rng(0))
arrays = [np.ascontiguousarray(b[i["name"]]) for i in gpu.inputs]
input_bytes = sorted(a.nbytes for a in arrays)
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
check("first step: FTC_OK", status == 0, gpu.error())
lines = log_lines()
lines_first = lines
launches = [l for l in lines if l.startswith("launch ")]
uploaded = [int(l.split()[1]) for l in lines if l.startswith("htod ")]
params = sum(int(np.prod(p["shape"])) * 4 for p in gpu.params)
check(f"first step: {len(launches)} launches, each with device memory as its pointers",
      len(launches) > 10)
gemms = [l for l in lines if l.startswith("gemm ")]
check(f"first step: {len(gemms)} products through cuBLASLt, every matrix in device memory",
      len(gemms) >= 3)
# (mlp: two of three; its last linear's 10 outputs are padded to 16 for
# cuBLASLt, and its bias, broadcast into the padded result, stays C.
# gpt2-tiny: the 16 linears'.)
check("the linears' biases added by cuBLASLt's bias epilogue (a bias in device memory)",
      sum(l.endswith(" +bias") for l in gemms) >= 2, str(gemms))
# (gpt2-tiny: each block's GELU and its gradient, cuBLASLt's epilogues; the
# mlp has none.)
forward = sum(l.endswith(" gelu+aux") for l in gemms)
backward = sum(l.endswith(" dgelu") for l in gemms)
check(f"first step: {forward} GELU_AUX and {backward} DGELU epilogues (aux matrices in "
      "device memory)", forward == backward)
check("first step: the initial state copied up once (parameters among it), the inputs too",
      sum(uploaded) >= params + sum(input_bytes), f"{sum(uploaded)} bytes")

status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
uploaded = sorted(int(l.split()[1]) for l in lines if l.startswith("htod "))
downloaded = sorted(int(l.split()[1]) for l in lines if l.startswith("dtoh "))
check("second step: only the inputs and the dropout seed go up (no parameter)",
      status == 0 and [u for u in uploaded if u > 24] == input_bytes, str(uploaded))
check("second step: only scalars come back (the step counter, the loss)",
      all(d <= 8 for d in downloaded) and downloaded, str(downloaded))
check("second step: the same launches", len([l for l in lines if l.startswith("launch ")])
      == len(launches))
check("second step: the same products", [l for l in lines if l.startswith("gemm ")] == gemms)

# From its second call an entry point is captured as a CUDA graph and
# replayed: one cuGraphLaunch doing every launch and product in the order
# of the first (eager) call, with nothing copied or waited for inside.
nodes = len(launches) + len(gemms)
replayed = [l for l in lines if l.startswith(("launch ", "gemm "))]
check(f"second step: captured as a graph of {nodes} nodes and replayed once",
      lines.count("capture begin") == 1 and f"capture end {nodes} nodes" in lines and
      lines.count(f"graph launch {nodes} nodes") == 1 and
      lines.index("capture end " + str(nodes) + " nodes") <
      lines.index(f"graph launch {nodes} nodes") and
      lines.index(f"graph launch {nodes} nodes") < lines.index(replayed[0]),
      str([l for l in lines if not l.startswith(("launch", "gemm"))]))
eager = [l for l in lines_first if l.startswith(("launch ", "gemm "))]
check("second step: the graph's launches and products are the first step's, in order",
      replayed == eager)
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
check("third step: replayed, not captured again",
      status == 0 and "capture begin" not in lines and
      lines.count(f"graph launch {nodes} nodes") == 1 and
      [l for l in lines if l.startswith(("launch ", "gemm "))] == eager)

# The fake runs no kernel: what comes back is what went up, the initial
# parameters, the same as the CPU step.so's from the same seed.
same = all(np.array_equal(gpu.param(i), cpu.param(i)) for i in range(len(gpu.params)))
check("parameters read back from the device equal the CPU's initial ones", same)
log_lines()

# Inputs already on the device are copied there into the state's own input
# buffers, where the graph reads them (FTC_CUDA_GRAPHS=0: used where they
# are, below).
fake = ctypes.CDLL(fake_so)
fake.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_ulonglong), ctypes.c_size_t]
fake.cuMemcpyHtoDAsync_v2.argtypes = [ctypes.c_ulonglong, ctypes.c_void_p, ctypes.c_size_t,
                                      ctypes.c_void_p]
device = []
for a in arrays:
    p = ctypes.c_ulonglong()
    fake.cuMemAlloc_v2(ctypes.byref(p), a.nbytes)
    fake.cuMemcpyHtoDAsync_v2(p, a.ctypes.data, a.nbytes, None)
    device.append(p.value)
# (ftc_param_data above marked the parameters written: they go up first.)
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
log_lines()
status, _ = call(gpu, gpu.lib.ftc_step, device)
lines = log_lines()
uploaded = sorted(int(l.split()[1]) for l in lines if l.startswith("htod "))
copied = sorted(int(l.split()[1]) for l in lines if l.startswith("dtod "))
check("device inputs: copied on the device, nothing up from the host but the dropout seed",
      status == 0 and all(u <= 24 for u in uploaded) and copied == input_bytes,
      str(uploaded) + " " + str(copied))
device_inputs = device

# Settings go up before the next step; zeroed gradients are zeroed there.
gpu.lib.ftc_set_lr.argtypes = [ctypes.c_void_p, ctypes.c_double]
gpu.check(gpu.lib.ftc_set_lr(gpu.state, 0.5))
gpu.check(gpu.lib.ftc_zero_grad(gpu.state))
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
check("ftc_set_lr: 8 bytes copied up before the step", "htod 8" in lines)
check("ftc_zero_grad: one device memset per gradient",
      sum(l.startswith("memset ") for l in lines) == len(gpu.params))

# A parameter written through ftc_param_data goes up, and a checkpoint
# reads the device's copies: save, load into a new state, save again.
w = gpu.param(0)
w += 1.0
expected = w.copy()
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(arrays))
first = os.path.join(work, "a.safetensors")
gpu.save(first)
saved = ftcpy.read_safetensors(first)[gpu.params[0]["name"]]
check("a parameter written on the host reaches the device and the checkpoint",
      np.array_equal(saved, expected))
other = ftcpy.Step(cuda_so, seed=9)
other.load(first)
status, _ = call(other, other.lib.ftc_step, host_pointers(arrays))
second = os.path.join(work, "b.safetensors")
other.save(second)
log_lines()
a, c = ftcpy.read_safetensors(first), ftcpy.read_safetensors(second)
check("load, step, save: the parameters went up and came back",
      all(np.array_equal(a[p["name"]], c[p["name"]]) for p in gpu.params))

# Out-of-range labels are still refused before anything is launched.
bad = [x.copy() for x in arrays]
for x, i in zip(bad, gpu.inputs):
    if np.dtype(i["dtype"]).kind == "i":
        x.flat[0] = i["high"]
status, _ = call(gpu, gpu.lib.ftc_step, host_pointers(bad))
lines = log_lines()
check("a label out of range: FTC_ERROR_ARGUMENT, nothing launched",
      status == 1 and not any(l.startswith(("launch", "gemm")) for l in lines), gpu.error())

# A launch that fails: the status, the kernel's name, the driver's words.
os.environ["FAKECUDA_FAIL_LAUNCH"] = "3"
fresh = ftcpy.Step(cuda_so, seed=1)
status, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
check("the third launch fails: FTC_ERROR_DEVICE", status == DEVICE)
print("    " + fresh.error())
del os.environ["FAKECUDA_FAIL_LAUNCH"]

# A launch that fails while the entry point is being captured: the same
# error (nothing of the step ran); the next call captures it again.
per_step = len(launches)
# (What the capture holds when it fails: the eager order before that launch.)
before = [i for i, l in enumerate(eager) if l.startswith("launch ")][2]
os.environ["FAKECUDA_FAIL_LAUNCH"] = str(per_step + 3)
fresh = ftcpy.Step(cuda_so, seed=1)
first, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
log_lines()
status, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
message = fresh.error()
del os.environ["FAKECUDA_FAIL_LAUNCH"]
check("a launch failing in the capture: FTC_ERROR_DEVICE, nothing replayed",
      first == 0 and status == DEVICE and f"capture end {before} nodes (invalidated)" in lines
      and not any(l.startswith(("graph launch", "launch", "gemm")) for l in lines),
      str(lines[:6]))
print("    " + message)
status, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
check("the next step captures it again and replays it",
      status == 0 and "capture begin" in lines and f"graph launch {nodes} nodes" in lines)

# A driver that will not instantiate the graph: the entry point stays
# eager, the step as before; no second capture.
os.environ["FAKECUDA_FAIL_GRAPH"] = "1"
fresh = ftcpy.Step(cuda_so, seed=1)
statuses, logs = [], []
for _ in range(3):
    statuses.append(call(fresh, fresh.lib.ftc_step, host_pointers(arrays))[0])
    logs.append(log_lines())
del os.environ["FAKECUDA_FAIL_GRAPH"]
check("a graph the driver refuses: every step eager, one capture tried",
      statuses == [0, 0, 0] and sum(l.count("capture begin") for l in logs) == 1 and
      not any(l.startswith("graph launch") for lg in logs for l in lg) and
      all([l for l in lg if l.startswith(("launch ", "gemm "))] == eager for lg in logs))

# FTC_CUDA_GRAPHS=0: no capture; device inputs used where they are.
os.environ["FTC_CUDA_GRAPHS"] = "0"
fresh = ftcpy.Step(cuda_so, seed=1)
del os.environ["FTC_CUDA_GRAPHS"]
log_lines()
statuses, logs = [], []
for pointers in (host_pointers(arrays), host_pointers(arrays), device_inputs):
    statuses.append(call(fresh, fresh.lib.ftc_step, pointers)[0])
    logs.append(log_lines())
check("FTC_CUDA_GRAPHS=0: every step eager, device inputs bound as they are",
      statuses == [0, 0, 0] and
      not any(l.startswith(("capture", "graph", "dtod")) for lg in logs for l in lg) and
      all([l for l in lg if l.startswith(("launch ", "gemm "))] == eager for lg in logs))

# A product that fails: the status, the product's shape, cuBLASLt's words;
# nothing launched after it.
os.environ["FAKECUDA_FAIL_GEMM"] = "2"
fresh = ftcpy.Step(cuda_so, seed=1)
log_lines()
status, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
failed = lines.index("gemm failed") if "gemm failed" in lines else len(lines)
after = lines[failed + 1:]
check("the second product fails: FTC_ERROR_DEVICE, nothing launched after it",
      status == DEVICE and failed < len(lines) and
      sum(l.startswith("gemm ") for l in lines[:failed]) == 1 and
      not any(l.startswith(("launch", "gemm")) for l in after), str(lines[failed:failed + 3]))
print("    " + fresh.error())
del os.environ["FAKECUDA_FAIL_GEMM"]

# A cuBLASLt with no algorithm for a GELU epilogue: the step fails with
# the product and the flag that does without it.
if forward:
    os.environ["FAKECUDA_NO_GELU"] = "1"
    fresh = ftcpy.Step(cuda_so, seed=1)
    status, _ = call(fresh, fresh.lib.ftc_step, host_pointers(arrays))
    check("no algorithm for a GELU epilogue: FTC_ERROR_DEVICE, the flag named",
          status == DEVICE and "--cuda-gelu=kernel" in fresh.error())
    print("    " + fresh.error())
    del os.environ["FAKECUDA_NO_GELU"]
    log_lines()

# Data parallelism on the GPU: a communicator on GPU memory (NCCL's model,
# FTC_COMM_DEVICE) playing two identical ranks. Its all_reduce doubles the
# "device" memory in place (the fake's is host memory) and logs itself, so
# the log orders it between the accumulate entry's launches and apply's.
fake.cuPointerGetAttribute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_ulonglong]
calls = []


def on_device(pointer):
    kind = ctypes.c_uint()
    return fake.cuPointerGetAttribute(ctypes.byref(kind), 2, pointer) == 0 and kind.value == 2


def all_reduce(_, data, count, dtype, request):
    calls.append((data, count, dtype, on_device(data)))
    with open(log_path, "a") as f:
        f.write(f"allreduce {count} {dtype}\n")
    np_type = np.float32 if dtype == 0 else np.float64
    view = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(
        np.ctypeslib.as_ctypes_type(np_type))), shape=(count,))
    view *= 2
    request[0] = None
    return 0


reason = ctypes.create_string_buffer(b"no reason")
callbacks = (ftcpy.COMM_ALL_REDUCE(all_reduce), ftcpy.COMM_WAIT(lambda _, r: 0),
             ftcpy.COMM_ALL_GATHER(), ftcpy.COMM_ERROR(lambda _: ctypes.addressof(reason)))
UNSUPPORTED = 6
ranks = ftcpy.Step(cuda_so, seed=3)
ranks.lib.ftc_set_comm.argtypes = [ctypes.c_void_p, ctypes.POINTER(ftcpy.CommTable),
                                   ctypes.c_int64]
ranks.lib.ftc_device_stream.restype = ctypes.c_void_p
host_table = ftcpy.CommTable(2, 0, 2, None, *callbacks, ftcpy.COMM_HOST)
status = ranks.lib.ftc_set_comm(ranks.state, ctypes.byref(host_table), 0)
check("a communicator on host memory (MPI): FTC_ERROR_UNSUPPORTED", status == UNSUPPORTED)
print("    " + ranks.error())
device_table = ftcpy.CommTable(2, 0, 2, None, *callbacks, ftcpy.COMM_DEVICE)
ranks.check(ranks.lib.ftc_set_comm(ranks.state, ctypes.byref(device_table), 0))
check("ftc_device_stream: the state's stream (null for a CPU step.so)",
      ranks.lib.ftc_device_stream(ranks.state) is not None and
      cpu.lib.ftc_device_stream(cpu.state) in (None, 0))
log_lines()
status, _ = call(ranks, ranks.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
first_sum = next(i for i, l in enumerate(lines) if l.startswith("allreduce"))
last_sum = max(i for i, l in enumerate(lines) if l.startswith("allreduce"))
grad_bytes = sum(int(np.prod(p["shape"])) * 4 for p in ranks.params)
grad_calls = [c for c in calls if c[2] == 0]
check(f"a step: {len(grad_calls)} all-reduces of gradients on GPU memory, covering them "
      f"({sum(c[1] for c in grad_calls) * 4} bytes for {grad_bytes}), then the loss (f64)",
      status == 0 and all(c[3] for c in calls) and
      sum(c[1] for c in grad_calls) * 4 >= grad_bytes and calls[-1][1:3] == (1, 1),
      str(calls[-3:]))
check("a step: the accumulate entry's kernels before the sums, apply's after",
      any(l.startswith("launch") for l in lines[:first_sum]) and
      any(l.startswith("launch") for l in lines[last_sum:]) and
      not any(l.startswith("launch") for l in lines[first_sum:last_sum]))
for _ in range(2):
    log_lines()
    status, _ = call(ranks, ranks.lib.ftc_step, host_pointers(arrays))
lines = log_lines()
graphs = [i for i, l in enumerate(lines) if l.startswith("graph launch")]
sums = [i for i, l in enumerate(lines) if l.startswith("allreduce")]
check("third step: the accumulate and apply graphs replayed, the sums between them",
      status == 0 and len(graphs) == 2 and "capture begin" not in lines and
      graphs[0] < sums[0] and sums[-1] < graphs[1],
      str([l for l in lines if not l.startswith(("launch", "gemm"))]))
grad_sums = [i for i, l in enumerate(lines) if l.startswith("allreduce") and l.endswith(" 0")]
reads = [i for i, l in enumerate(lines) if l.startswith("dtoh")]
check("a step: nothing read back (no wait) before the gradients' sums are on the stream",
      reads and grad_sums and reads[0] > grad_sums[-1],
      str([l for l in lines if not l.startswith(("launch", "gemm"))]))
status = ranks.lib.ftc_shard_optimizer(ranks.state)
check("ZeRO-1 on a CUDA step.so: FTC_ERROR_UNSUPPORTED", status == UNSUPPORTED)
del ranks

# FTC_CUDA_PROFILE: every launch and product timed between two events, the
# table written when the state is destroyed. The stand-in's clock moves by
# a cost computed from each launch's threads and each product's size, so
# every row can be checked against the log.
profile_path = os.path.join(work, "profile.txt")
os.environ["FTC_CUDA_PROFILE"] = profile_path
timed = ftcpy.Step(cuda_so, seed=1)
del os.environ["FTC_CUDA_PROFILE"]
# A step whose second product fails first: not counted, and none of its
# launches left over for the next.
os.environ["FAKECUDA_FAIL_GEMM"] = "2"
failed_first = call(timed, timed.lib.ftc_step, host_pointers(arrays))[0]
del os.environ["FAKECUDA_FAIL_GEMM"]
log_lines()
for _ in range(3):
    timed.check(call(timed, timed.lib.ftc_step, host_pointers(arrays))[0])
lines = log_lines()
timed.lib.ftc_destroy(timed.state)
table = open(profile_path).read().splitlines()
entries = {l.split()[0]: l.split()[1:] for l in table[2:] if l and not l.startswith("#")
           and l.split()[0] in ("step", "grad", "accumulate", "apply", "eval")}
check("profile: no graph (each launch timed), the step entry 3 calls of "
      f"{nodes} launches and products (a failed call not counted)",
      failed_first == DEVICE and
      not any(l.startswith(("capture", "graph")) for l in lines) and
      entries.get("step", [None])[0] == "3" and
      float(entries["step"][3]) == nodes, str(entries))
header = next(i for i, l in enumerate(table) if l.startswith("kernel or product"))
rows = [l for l in table[header + 1:] if l.strip()]
expected = {}
for l in lines:
    if l.startswith("launch "):
        name, shape = l.split()[1:3]
        gx, bx = (int(x) for x in shape.split("x"))
        calls, ms = expected.get(name, (0, 0.0))
        expected[name] = (calls + 1, ms + (1 + gx * bx / 1024) / 1e3)
got = {}
for r in rows:
    fields = r.split()
    if not r.startswith("cuBLASLt"):
        got[fields[0]] = (int(fields[2]), float(fields[3]), fields[1])
check("profile: every kernel's calls and GPU time (the stand-in's clock), with its source",
      set(got) == set(expected) and
      all(got[k][0] == expected[k][0] and abs(got[k][1] - expected[k][1]) <=
          1e-3 * expected[k][1] + 1e-3 for k in got) and
      all(".mlir:" in g[2] for g in got.values()),
      str(sorted(got.items())[:3]) + " vs " + str(sorted(expected.items())[:3]))
products = [r for r in rows if r.startswith("cuBLASLt")]
check("profile: the products, one row per shape, as many calls as the log has",
      sum(int(r.split()[-4]) for r in products) ==
      sum(l.startswith("gemm ") for l in lines) and products and
      len({r[:44].strip() for r in products}) == len(products))
totals = [float(r.split()[-3]) for r in rows]
check("profile: the largest first, the shares adding up to 100%",
      totals == sorted(totals, reverse=True) and
      abs(sum(float(r.split()[-1]) for r in rows) - 100) < 0.5)

# No GPU, or kernels the GPU cannot load: ftc_create says so.
for var, value, what in (("FAKECUDA_DEVICES", "0", "no GPU"),
                         ("FAKECUDA_FAIL_MODULE", "1", "kernels the GPU cannot load")):
    os.environ[var] = value
    lib = gpu.lib
    state = ctypes.c_void_p()
    status = lib.ftc_create(1, ctypes.byref(state))
    check(f"{what}: ftc_create fails with FTC_ERROR_DEVICE", status == DEVICE)
    print("    " + gpu.error())
    del os.environ[var]

sys.exit(1 if check.failures else 0)
