"""Compares the workspace lines of two `ftc --report` outputs (cpu, cuda)."""
import sys


def workspace(path):
    for line in open(path):
        if line.strip().startswith("workspace (temporaries)"):
            return int(line.split()[-1])
    raise SystemExit(f"{path}: no workspace line")


cpu, cuda = (workspace(p) for p in sys.argv[1:3])
ratio = cuda / cpu
print(f"{'ok' if ratio <= 1.25 else 'FAIL'}: the CUDA workspace is {ratio:.2f} times the CPU's "
      f"({cuda} bytes, {cpu})")
sys.exit(0 if ratio <= 1.25 else 1)
