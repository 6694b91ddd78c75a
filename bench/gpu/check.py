#!/usr/bin/env python3
"""The GPU check's parts (see run.sh), on a machine with an NVIDIA GPU.

  check.py parity DIR TAG      the CUDA and CPU step.so of TAG (model-precision)
                               from the same initial parameters on the same
                               batches for 3 steps: the losses agree (1e-4
                               relative in fp32, 1e-2 in bf16) and, in fp32,
                               both steps' parameters meet the numerical
                               contract (||p - p64|| <= 1e-3 ||p64 - p0||, or
                               within 3x PyTorch float32's own distance from
                               float64); a second GPU state from the same
                               checkpoint gives the same losses and the same
                               parameters bit for bit
  check.py attention DIR       the fused attention kernels (ftc-gpu-attention-
                               kernels) against float64: the gradients of
                               sum(attention(q, k, v) * probe) in bf16 by the
                               CUDA and CPU step.so (attention-bf16-*.so), each
                               CUDA gradient within 1.5 times the CPU's error
                               and under 2e-2 (prepare.py gives the shape)
  check.py time SO STEPS       ms per step of a CUDA step.so (one JSON line)
  check.py nccl DIR TAG        data parallelism's GPU path with a real NCCL: a
                               one-rank NCCL communicator (FTC_COMM_DEVICE)
                               attached to a CUDA state, 3 steps against a
                               plain state's: the losses within 1e-5, the
                               parameters within 2e-3 of how far they moved
                               (the sums are NCCL's, the update apply's)
"""
import ctypes
import json
import os
import statistics
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(here)), "test", "lib"))
import ftcpy  # noqa: E402


STEPS = 3
# The optimizer each example compiles with (its train.optimizer).
OPTIMIZER = {"mlp": dict(lr=1e-3, weight_decay=0.01), "gpt2-tiny": dict(lr=1e-4, weight_decay=0.01)}


def parity(directory, tag):
    """The CPU and CUDA step.so of TAG from one initial checkpoint (drawn by
    torch_step.py's model, seed 0) on 3 random batches; in fp32 also PyTorch
    in float64 (the contract's anchor) and float32."""
    import torch
    sys.path.insert(0, directory)
    import torch_step

    model = tag.rsplit("-", 1)[0]
    torch.manual_seed(0)
    net, _, _ = torch_step.build(model, "cpu", False)
    init = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    init_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ftc-gpu-check-{tag}.safetensors")
    ftcpy.write_safetensors(init_path, init)
    cpu = ftcpy.Step(os.path.join(directory, tag + "-cpu.so"))
    gpu = ftcpy.Step(os.path.join(directory, tag + "-cuda.so"))
    rng = np.random.default_rng(1)
    batches = [ftcpy.random_batch(cpu, rng) for _ in range(STEPS)]
    ok = True
    tolerance = 1e-2 if tag.endswith("bf16") else 1e-4
    for step in (cpu, gpu):
        step.check(step.load(init_path))
    losses = []
    for k, b in enumerate(batches):
        theirs, ours = cpu.step(b), gpu.step(b)
        losses.append(ours)
        rel = abs(ours - theirs) / abs(theirs)
        ok &= rel <= tolerance
        print(f"{tag} loss {k + 1}: gpu {ours:.7f} cpu {theirs:.7f} rel {rel:.2e} "
              f"(<= {tolerance:g}) {'ok' if rel <= tolerance else 'FAIL'}", flush=True)
    # Reruns are bit-identical (the numerical contract): a second GPU state
    # from the same checkpoint on the same batches (its first step captured
    # as a graph, the next ones replayed, as the first state's were).
    again = ftcpy.Step(os.path.join(directory, tag + "-cuda.so"))
    again.check(again.load(init_path))
    rerun = [again.step(b) for b in batches]
    differ = [p["name"] for i, p in enumerate(gpu.params)
              if not np.array_equal(gpu.param(i), again.param(i))]
    same = rerun == losses and not differ
    ok &= same
    print(f"{tag} rerun on the GPU: losses {'the same' if rerun == losses else 'differ'}, "
          f"parameters {'bit-identical' if not differ else 'differ: ' + ', '.join(differ[:3])} "
          f"{'ok' if same else 'FAIL'}", flush=True)
    if tag.endswith("fp32"):
        exact = {}
        for dtype in (torch.float64, torch.float32):
            ref, _, _ = torch_step.build(model, "cpu", False)
            ref = ref.to(dtype)
            ref.load_state_dict({k: torch.from_numpy(v).to(dtype) for k, v in init.items()})
            opt = torch.optim.AdamW(ref.parameters(), **OPTIMIZER[model])
            for b in batches:
                args = [torch.from_numpy(b[i["name"]]) for i in cpu.inputs]
                args = [a.to(dtype) if a.is_floating_point() else a.long() for a in args]
                loss = ref(*args)
                opt.zero_grad()
                loss.backward()
                opt.step()
            exact[dtype] = {k: v.detach().double().numpy() for k, v in ref.state_dict().items()}
        p64, p32 = exact[torch.float64], exact[torch.float32]
        for who, step in (("cpu", cpu), ("gpu", gpu)):
            worst, name = 0.0, ""
            for i, p in enumerate(step.params):
                n = p["name"]
                bound = max(1e-3 * np.linalg.norm(p64[n] - init[n]),
                            3 * np.linalg.norm(p32[n] - p64[n]))
                dist = np.linalg.norm(step.param(i).astype(np.float64) - p64[n])
                ratio = dist / bound if bound > 0 else (0.0 if dist == 0 else np.inf)
                if ratio > worst:
                    worst, name = ratio, n
            ok &= worst <= 1
            print(f"{tag} {who} parameters after {STEPS} steps: worst ||p - p64|| / bound "
                  f"{worst:.3f} ({name}) {'ok' if worst <= 1 else 'FAIL'}", flush=True)
    print(f"{tag} parity: {'ok' if ok else 'FAIL'}", flush=True)
    return 0 if ok else 1


def attention(directory):
    sys.path.insert(0, here)
    from prepare import ATTENTION_CAUSAL
    check = ftcpy.Checks()
    steps = {"cuda": ftcpy.Step(os.path.join(directory, "attention-bf16-cuda.so"), seed=3),
             "cpu": ftcpy.Step(os.path.join(directory, "attention-bf16-cpu.so"), seed=3)}
    ftcpy.check_attention(check, steps, "cuda", ATTENTION_CAUSAL)
    print(f"attention: {'ok' if not check.failures else 'FAIL'}", flush=True)
    return 1 if check.failures else 0


def timing(so, steps):
    step = ftcpy.Step(so)
    batch = ftcpy.random_batch(step, np.random.default_rng(0))
    t0 = time.perf_counter()
    step.step(batch)  # the first: kernels loaded, the state copied up
    first = time.perf_counter() - t0
    step.step(batch)  # the second: captured as a CUDA graph (unless FTC_CUDA_GRAPHS=0)
    times, loss = [], 0.0
    for _ in range(steps):
        t = time.perf_counter()
        loss = step.step(batch)  # returns after the loss is back: the step is done
        times.append((time.perf_counter() - t) * 1e3)
    step.lib.ftc_buffer_bytes.restype = ctypes.c_int64
    step.lib.ftc_buffer_bytes.argtypes = [ctypes.c_char_p]
    name = os.path.basename(so)
    if os.environ.get("FTC_CUDA_GRAPHS") == "0":
        name += " (no graphs)"
    print(json.dumps(dict(so=name, step_ms_median=round(statistics.median(times), 3),
                          step_ms_min=round(min(times), 3), loss_last=round(loss, 4),
                          first_step_s=round(first, 2),
                          state_mib=round(step.lib.ftc_buffer_bytes(b"all") / 2**20, 1))),
          flush=True)
    step.lib.ftc_destroy(step.state)  # (FTC_CUDA_PROFILE writes its table here)
    return 0


def nccl(directory, tag):
    """A one-rank NCCL communicator (ftc.h's FTC_COMM_DEVICE), written here
    over libnccl.so.2 with ctypes, against the plain step."""
    path = os.environ.get("FTC_LIBNCCL") or "libnccl.so.2"
    lib = ctypes.CDLL(path)
    so = os.path.join(directory, tag + "-cuda.so")
    plain, data = ftcpy.Step(so, seed=0), ftcpy.Step(so, seed=0)

    class UniqueId(ctypes.Structure):
        _fields_ = [("internal", ctypes.c_char * 128)]

    uid, comm = UniqueId(), ctypes.c_void_p()
    assert lib.ncclGetUniqueId(ctypes.byref(uid)) == 0, "ncclGetUniqueId"
    assert lib.ncclCommInitRank(ctypes.byref(comm), 1, uid, 0) == 0, "ncclCommInitRank"
    data.lib.ftc_device_stream.restype = ctypes.c_void_p
    data.lib.ftc_device_stream.argtypes = [ctypes.c_void_p]
    stream = data.lib.ftc_device_stream(data.state)
    lib.ncclAllReduce.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    calls = []

    def all_reduce(_, buf, count, dtype, request):
        request[0] = None
        calls.append(count)
        return lib.ncclAllReduce(buf, buf, count, 8 if dtype == 1 else 7, 0, comm, stream)

    reason = ctypes.create_string_buffer(b"ncclAllReduce failed")
    callbacks = (ftcpy.COMM_ALL_REDUCE(all_reduce), ftcpy.COMM_WAIT(lambda _, r: 0),
                 ftcpy.COMM_ALL_GATHER(), ftcpy.COMM_ERROR(lambda _: ctypes.addressof(reason)))
    table = ftcpy.CommTable(2, 0, 1, None, *callbacks, ftcpy.COMM_DEVICE)
    data.lib.ftc_set_comm.argtypes = [ctypes.c_void_p, ctypes.POINTER(ftcpy.CommTable),
                                      ctypes.c_int64]
    data.check(data.lib.ftc_set_comm(data.state, ctypes.byref(table), 0))
    initial = [plain.param(i).copy() for i in range(len(plain.params))]
    rng = np.random.default_rng(2)
    ok = True
    for k in range(STEPS):
        b = ftcpy.random_batch(plain, rng)
        theirs, ours = plain.step(b), data.step(b)
        rel = abs(ours - theirs) / abs(theirs) if theirs else abs(ours)
        ok &= rel <= 1e-5
        print(f"{tag} nccl loss {k + 1}: {ours:.7f} plain {theirs:.7f} rel {rel:.2e} "
              f"{'ok' if rel <= 1e-5 else 'FAIL'}", flush=True)
    worst = 0.0
    for i in range(len(plain.params)):
        moved = np.linalg.norm(plain.param(i).astype(np.float64) - initial[i])
        dist = np.linalg.norm(data.param(i).astype(np.float64) - plain.param(i))
        worst = max(worst, dist / (2e-3 * moved) if moved > 0 else (0.0 if dist == 0 else 1e9))
    ok &= worst <= 1 and len(calls) > STEPS
    print(f"{tag} nccl: {len(calls)} ncclAllReduce calls; parameters after {STEPS} steps "
          f"{worst:.3f} of the bound {'ok' if worst <= 1 else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "parity":
        sys.exit(parity(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "attention":
        sys.exit(attention(sys.argv[2]))
    if sys.argv[1] == "nccl":
        sys.exit(nccl(sys.argv[2], sys.argv[3]))
    sys.exit(timing(sys.argv[2], int(sys.argv[3])))
