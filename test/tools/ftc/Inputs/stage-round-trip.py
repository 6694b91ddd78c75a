"""Stops ftc after every stage and resumes from the file it wrote: each
resumed compile must give the LLVM IR of the one-shot compile, byte for
byte. Usage: stage-round-trip.py MODEL WORKDIR FLAG..."""
import subprocess
import sys
from pathlib import Path

model, work, flags = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
work.mkdir(parents=True, exist_ok=True)


def ftc(*args):
    subprocess.run(["ftc", *args], check=True)


stages = subprocess.run(["ftc", "--list-stages"], check=True, capture_output=True,
                        text=True).stdout.splitlines()[1:]
names = [line.split()[0] for line in stages]
ftc(model, *flags, "--emit=llvm", "-o", str(work / "one-shot.ll"))
expected = (work / "one-shot.ll").read_bytes()
for name in names:
    stopped, resumed = work / f"{name}.mlir", work / f"{name}.ll"
    # The flags are given once, when stopping: the file records them.
    ftc(model, *flags, f"--stop-after={name}", "-o", str(stopped))
    ftc(f"--start-at={name}", str(stopped), "--emit=llvm", "-o", str(resumed))
    same = resumed.read_bytes() == expected
    print(f"{name}: {'same' if same else 'DIFFERENT'}")
