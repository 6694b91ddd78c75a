"""Starts a long ftc-train run on LIBRARY, sends it SIGNAL (TERM or INT, as
Ctrl-C does) once it is training, and prints its exit status, its output
and the step counter of the checkpoint it saved to CKPT (see
fail-early.test): `signal-save.py LIBRARY CKPT SIGNAL`."""
import signal
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/lib")
import ftcpy  # noqa: E402

library, ckpt, name = sys.argv[1], sys.argv[2], sys.argv[3]
run = subprocess.Popen(["ftc-train", library, "--synthetic", "--steps", "100000000",
                        "--save", ckpt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
lines = []
for line in run.stdout:
    lines.append(line)
    if line.startswith("training "):
        break
time.sleep(0.5)
run.send_signal(getattr(signal, "SIG" + name))
out, _ = run.communicate(timeout=60)
print(f"exit {run.returncode}")
print("".join(lines) + out)
steps = int(ftcpy.read_safetensors(ckpt)["optim.step"])
print(f"checkpoint step {steps}")
