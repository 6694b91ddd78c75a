#!/usr/bin/python3
"""ftc_set_comm without MPI: a communicator written here in Python (ctypes)
that plays two identical ranks. Its all_reduce doubles the buffer in place
(the sum of two equal ranks) and records what it was given, so:

  - a step with it is ftc_step bit for bit (2g times 1/2 is g exactly):
    every gradient is summed once, none twice, none forgotten;
  - the calls cover the gradient buffers exactly (every gradient in one
    bucket), in the order the backward finishes them (the last layer's
    first), with buckets near the size asked for, then the loss;
  - the loss a step returns is the ranks' mean;
  - ftc_accumulate_grad + ftc_apply with it equal ftc_apply without it;
  - bad communicators and a failing all-reduce are errors (FTC_ERROR_COMM
    with the communicator's reason, the parameters unchanged).

  comm.test.py STEP.so
"""
import ctypes
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

ALL_REDUCE, WAIT = ftcpy.COMM_ALL_REDUCE, ftcpy.COMM_WAIT
ALL_GATHER, ERROR = ftcpy.COMM_ALL_GATHER, ftcpy.COMM_ERROR
F32, F64 = 0, 1
ARGUMENT, UNSUPPORTED, COMM = 1, 6, 9


class Comm(ctypes.Structure):
    """A version 1 table (ftc.h before `memory`): step.so still takes it, as
    host memory; ftcpy.CommTable is version 2."""
    _fields_ = ftcpy.CommTable._fields_[:-1]


class TwoRanks:
    """Rank 0 of two whose peer holds the same values: sums double."""

    def __init__(self, fail_at=None):
        self.calls, self.waits, self.fail_at = [], 0, fail_at
        self.pending = set()

        def all_reduce(_, data, count, dtype, request):
            if self.fail_at is not None and len(self.calls) == self.fail_at:
                return 1
            self.calls.append((data, count, dtype))
            np_type = {F32: np.float32, F64: np.float64}[dtype]
            view = np.ctypeslib.as_array(ctypes.cast(data, ctypes.POINTER(
                np.ctypeslib.as_ctypes_type(np_type))), shape=(count,))
            view *= 2
            request[0] = len(self.calls)
            self.pending.add(len(self.calls))
            return 0

        def wait(_, request):
            self.waits += 1
            self.pending.discard(request)
            return 0

        # Kept referenced: ctypes callbacks must outlive the state's use.
        self.reason = ctypes.create_string_buffer(b"the peer hung up")
        self.callbacks = (ALL_REDUCE(all_reduce), WAIT(wait), ALL_GATHER(),
                          ERROR(lambda _: ctypes.addressof(self.reason)))
        self.table = Comm(1, 0, 2, None, *self.callbacks)


def main():
    so = sys.argv[1]
    checks = ftcpy.Checks()
    def open_step():
        step = ftcpy.Step(so)
        step.lib.ftc_set_comm.argtypes = [ctypes.c_void_p, ctypes.POINTER(Comm), ctypes.c_int64]
        step.lib.ftc_zero_grad.argtypes = [ctypes.c_void_p]
        step.lib.ftc_apply.argtypes = [ctypes.c_void_p, ctypes.c_double]
        step.lib.ftc_accumulate_grad.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                                 ctypes.POINTER(ctypes.c_double)]
        return step

    plain, data = open_step(), open_step()
    lib = data.lib
    rng = np.random.default_rng(0)
    batches = [ftcpy.random_batch(plain, rng) for _ in range(3)]
    names = [p["name"] for p in data.params]

    # Bad communicators.
    for what, change, status in [("version 3", dict(version=3), ARGUMENT),
                                 ("rank 2 of 2", dict(rank=2), ARGUMENT),
                                 ("size 0", dict(size=0), ARGUMENT),
                                 ("no all_reduce", dict(all_reduce=ALL_REDUCE()), ARGUMENT)]:
        bad = TwoRanks()
        for k, v in change.items():
            setattr(bad.table, k, v)
        got = lib.ftc_set_comm(data.state, ctypes.byref(bad.table), 0)
        checks(f"a communicator with {what}: refused", got == status, data.error())
    got = lib.ftc_set_comm(data.state, ctypes.byref(TwoRanks().table), -1)
    checks("a negative bucket size: refused", got == ARGUMENT, data.error())

    # Steps with two identical ranks are ftc_step.
    comm = TwoRanks()
    bucket = 64 * 1024
    data.check(lib.ftc_set_comm(data.state, ctypes.byref(comm.table), bucket))
    same_loss = True
    for b in batches:
        comm.calls.clear()
        comm.waits = 0
        same_loss &= data.step(b) == plain.step(b)
    same = all(np.array_equal(plain.param(i), data.param(i)) for i in range(len(names)))
    checks("3 steps with two identical ranks = ftc_step, bit for bit (parameters, losses)",
           same and same_loss and data.steps() == 3)
    checks("every sum waited for", not comm.pending and comm.waits >= len(comm.calls),
           f"{comm.waits} waits, {len(comm.calls)} all-reduces")

    # What the last step summed: the gradients, tiled, in backward order.
    grads = {}
    for i, name in enumerate(names):
        p = data.lib.ftc_grad_data(data.state, i)
        if p:
            grads[name] = (p, data.grad_of(i).nbytes)
    *buckets, loss_call = comm.calls
    checks("the loss summed last, as one f64", loss_call[1:] == (1, F64))
    covered = {name: sum(1 for d, c, _ in buckets if d <= p and p + n <= d + 4 * c)
               for name, (p, n) in grads.items()}
    checks("every gradient in exactly one bucket", all(v == 1 for v in covered.values()),
           f"{len(buckets)} buckets for {len(grads)} gradients")
    first = buckets[0]
    first_names = [name for name, (p, n) in grads.items()
                   if first[0] <= p and p + n <= first[0] + 4 * first[1]]
    last_layer = names[-1]
    checks("the first bucket holds the last layer's gradients (the backward's order)",
           last_layer in first_names, ", ".join(first_names))
    # A bucket closes with the gradient that brings it to the size asked
    # for: every bucket but the last holds at least that, and was smaller
    # before its last gradient.
    def last_member(b):  # the gradient at its end, whose padding it includes
        p = max(p for p, n in grads.values() if b[0] <= p and p + n <= b[0] + 4 * b[1])
        return b[0] + 4 * b[1] - p
    sizes = [4 * c for _, c, _ in buckets]
    closed = all(size >= bucket for size in sizes[:-1]) and all(
        size - last_member(b) < bucket for size, b in zip(sizes, buckets))
    checks(f"buckets close once they hold {bucket} bytes", closed, f"bytes {sizes}")

    # The loss is the mean over the ranks: a peer with the same loss.
    # (Checked above: equal to ftc_step's.) Accumulate + apply.
    acc_plain, acc = open_step(), open_step()
    acc_comm = TwoRanks()
    acc.check(lib.ftc_set_comm(acc.state, ctypes.byref(acc_comm.table), 0))
    for step in (acc_plain, acc):
        step.check(step.lib.ftc_zero_grad(step.state))
        for b in batches[:2]:
            step._call(step.lib.ftc_accumulate_grad, b)
    no_sums_yet = not acc_comm.calls
    acc_plain.check(acc_plain.lib.ftc_apply(acc_plain.state, 0.5))
    acc.check(lib.ftc_apply(acc.state, 0.5))
    same = all(np.array_equal(acc_plain.param(i), acc.param(i)) for i in range(len(names)))
    checks("accumulate_grad sums locally; apply sums over the ranks first (= without a "
           "communicator, bit for bit)", same and no_sums_yet and len(acc_comm.calls) > 0)

    # A failing all-reduce: FTC_ERROR_COMM with the reason, nothing updated.
    failing = TwoRanks(fail_at=1)
    before = [data.param(i).copy() for i in range(len(names))]
    steps = data.steps()
    data.check(lib.ftc_set_comm(data.state, ctypes.byref(failing.table), bucket))
    arrays = [np.ascontiguousarray(batches[0][i["name"]], dtype=i["dtype"]) for i in data.inputs]
    ptrs = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    got = lib.ftc_step(data.state, ptrs, None)
    unchanged = all(np.array_equal(b, data.param(i)) for i, b in enumerate(before))
    checks("a failing all-reduce: FTC_ERROR_COMM, the reason, parameters and step counter "
           "unchanged", got == COMM and "the peer hung up" in data.error() and unchanged
           and data.steps() == steps, data.error())
    data.check(lib.ftc_set_comm(data.state, None, 0))
    data.step(batches[0])
    checks("detached: a plain step again", data.steps() == steps + 1)
    print("comm:", "FAILED" if checks.failures else "ok")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
