"""ftc --check-numerics through the C ABI (see check-numerics.test): a step
that meets an inf changes no parameter, no optimizer state and not the step
counter, and says why."""
import ctypes
import sys

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/lib")
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

library, base = sys.argv[1], sys.argv[2]
check = ftcpy.Checks()
step = ftcpy.Step(library, seed=1)
batch = {"t": np.array([0.5, 1.0, 1.5, 2.0], np.float32)}
arrays = [np.ascontiguousarray(batch["t"])]
ptrs = (ctypes.c_void_p * 1)(arrays[0].ctypes.data)
loss = ctypes.c_double()
step.save(base + ".before.safetensors")
status = step.lib.ftc_step(step.state, ptrs, ctypes.byref(loss))
check(f"ftc_step: {'FTC_ERROR_NUMERICS' if status == 7 else status} ({step.error()})", status == 7)
step.save(base + ".after.safetensors")
same = open(base + ".before.safetensors", "rb").read() == open(base + ".after.safetensors", "rb").read()
check("ftc_step: parameters, optimizer state and step counter unchanged", same and step.steps() == 0)
status = step.lib.ftc_grad(step.state, ptrs, ctypes.byref(loss))
check(f"ftc_grad: {'FTC_ERROR_NUMERICS' if status == 7 else status}", status == 7)
sys.exit(1 if check.failures else 0)
