#!/usr/bin/env python3
"""The memory traffic of a CUDA step's kernels, estimated at compile time.

  kernel-traffic.py MODEL.mlir [--entry step] [--top 15] [--bandwidth 3.5] -- [ftc flags]

Compiles MODEL.mlir for the CUDA target up to the kernels (`ftc
--target=cuda --stop-after=after-bufferize`, with the flags after `--`) and,
for one entry point, lists its kernel launches in order with the bytes of
every buffer each one loads or stores (each buffer counted once and whole:
an upper bound where a kernel reads part of one) and its products (cuBLASLt
calls, not counted). It prints the launches, the products, the total and the
time that traffic takes at `--bandwidth` TB/s (a floor for the kernels: an
H200 reads and writes about 4.8 TB/s at best), then the kernels that move
the most. No GPU needed: it says where a step's kernel time can go, and what
a change to the compiler saved, before a GPU says how fast it ran.

Example (the figures in the README's CUDA section):
  bench/gpu/kernel-traffic.py examples/gpt2-small.mlir -- --precision=bf16
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ELEMENT_BYTES = {"f64": 8, "f32": 4, "bf16": 2, "f16": 2, "i64": 8, "i32": 4,
                 "i8": 1, "i1": 1, "index": 8}
ACCESS = re.compile(r"(memref\.load|memref\.store|vector\.load|vector\.store|"
                    r"memref\.atomic_rmw)\b[^:]*?(%[\w#]+)\[.*:\s*(memref<[^>]*>)")
# A kernel that takes a buffer's address (the attention kernels' cp.async
# copies from global memory; ldmatrix's reads of shared memory, whose
# tiles of vectors count nothing) reads it.
ADDRESS = re.compile(r"(memref\.extract_aligned_pointer_as_index) (%[\w#]+) :\s*(memref<[^>]*>)")
MEMREF = re.compile(r"memref<([0-9x]*)(" + "|".join(ELEMENT_BYTES) + r")\b")


def buffer_bytes(memref_type):
    m = MEMREF.match(memref_type)
    if not m:
        return 0
    count = 1
    for d in m.group(1).split("x"):
        if d:
            count *= int(d)
    return count * ELEMENT_BYTES[m.group(2)]


LOC_USE = re.compile(r"\} loc\((#loc\d*)\)\s*$")
LOC_DEF = re.compile(r"^(#loc\d*) = loc\((.*)\)\s*$")
FILE_LOC = re.compile(r'^"([^"]*)":(\d+):(\d+)$')
CALLSITE = re.compile(r"^callsite\((#loc\d*) at (#loc\d*)\)$")


def source_lines(lines):
    """Each location alias of the printed module as "file:line" of the
    source: a call site's callee (the line inside the function that a layer
    calls), "?" where there is no file location."""
    defs = {}
    for line in lines:
        m = LOC_DEF.match(line)
        if m:
            defs[m.group(1)] = m.group(2)

    def resolve(alias, seen=0):
        text = defs.get(alias, "")
        m = FILE_LOC.match(text)
        if m:
            return "%s:%s" % (os.path.basename(m.group(1)), m.group(2))
        m = CALLSITE.match(text)
        if m and seen < 64:
            return resolve(m.group(1), seen + 1)
        return "?"

    return {alias: resolve(alias) for alias in defs}


VIEW = re.compile(r"^\s*(%[\w#]+) = memref\.(?:collapse_shape|expand_shape|subview|transpose|"
                  r"reinterpret_cast|cast) (%[\w#]+)")


def kernels(lines, entry):
    """(bytes, buffers, first line) of each launch of `entry`, in order, and
    the number of products. A buffer seen through several views (a kernel
    of ftc-gpu-row-kernels reads [8192, 768] and [8, 1024, 768] views of one
    allocation) counts once, at the size of its largest view."""
    name = "  func.func private @ftc_%s_impl(" % entry
    start = next((i for i, l in enumerate(lines) if l.startswith(name)), None)
    if start is None:
        sys.exit("kernel-traffic.py: no entry point '%s' in the step" % entry)
    source = {}

    def root(value):
        while value in source:
            value = source[value]
        return value

    found, products, current, depth = [], 0, None, 0
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith("  func.func"):
            break
        view = VIEW.match(line)
        if view:
            source[view.group(1)] = view.group(2)
        if current is None:
            if "call @ftcrt_gemm(" in line:
                products += 1
            if "gpu.launch " in line:
                current, depth = {"line": i + 1, "buffers": {}}, 0
            else:
                continue
        depth += line.count("{") - line.count("}")
        for m in list(ACCESS.finditer(line)) + list(ADDRESS.finditer(line)):
            buffers, key = current["buffers"], root(m.group(2))
            if buffer_bytes(m.group(3)) >= buffer_bytes(buffers.get(key, "")):
                buffers[key] = m.group(3)
        if depth <= 0:
            total = sum(buffer_bytes(t) for t in current["buffers"].values())
            loc = LOC_USE.search(line)
            found.append((total, current["buffers"], current["line"],
                          loc.group(1) if loc else None))
            current = None
    return found, products


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("--entry", default="step")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--by-source", action="store_true",
                        help="sum the kernels of each source line")
    parser.add_argument("--bandwidth", type=float, default=3.5, help="TB/s")
    parser.add_argument("--ftc", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "bin", "ftc"))
    argv = sys.argv[1:]
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "kernels.mlir")
        subprocess.run([args.ftc, args.model, "--target=cuda", "--stop-after=after-bufferize",
                        "-o", out] + flags, check=True)
        with open(out) as f:
            lines = f.read().split("\n")
    found, products = kernels(lines, args.entry)
    total = sum(k[0] for k in found)
    print("%s, entry %s: %d kernel launches, %d cuBLASLt products" %
          (os.path.basename(args.model), args.entry, len(found), products))
    print("kernels' buffers: %.2f GB, %.2f ms at %.1f TB/s" %
          (total / 1e9, total / (args.bandwidth * 1e9), args.bandwidth))
    if args.by_source:
        where = source_lines(lines)
        groups = {}
        for size, _, _, loc in found:
            key = where.get(loc, "?")
            bytes_, count = groups.get(key, (0, 0))
            groups[key] = (bytes_ + size, count + 1)
        print("%10s  %8s  %s" % ("MB", "launches", "source line"))
        for key, (size, count) in sorted(groups.items(), key=lambda g: (-g[1][0], g[0]))[:args.top]:
            print("%10.1f  %8d  %s" % (size / 1e6, count, key))
        return
    print("%10s  %6s  %s" % ("MB", "line", "buffers (the largest first)"))
    for size, buffers, line, _ in sorted(found, key=lambda k: -k[0])[:args.top]:
        types = sorted(set(buffers.values()), key=lambda t: (-buffer_bytes(t), t))
        shown = ", ".join(re.sub(r",? ?strided<.*", "", t)[7:] for t in types[:3])
        print("%10.1f  %6d  %s%s" % (size / 1e6, line, shown, ", ..." if len(types) > 3 else ""))


if __name__ == "__main__":
    main()
