"""The CUDA target's kernels, run on the CPU (ftc --cuda-emulate), against the
CPU step (see emulate.test).

Both are float32 steps from the same initial parameters on the same batches;
they sum in different orders (the GPU's reductions split over lanes, its
products as cuBLASLt's arithmetic), so they agree to rounding: the
losses within 1e-5 relative (1e-2 in bf16 and fp16, whose 16-bit products
round differently), and after 3 steps every parameter tensor within
2e-3 ||p_cpu - p0|| of the CPU's (each is within 1e-3 ||p64 - p0|| of
float64 by the numerical contract). The step counter and, with loss
scaling, the scale are exact.

  emulate.py EMULATED.so CPU.so PRECISION [losses]

With `losses`, the parameters are not compared: for 16-bit steps whose
attention is fused (ftc-gpu-fuse-attention) or whose GELU is cuBLASLt's
epilogue (--cuda-gelu=epilogue), which round otherwise than the CPU's
unfused ops, by design. AdamW's first steps move each element by about lr
whatever the size of its gradient, so an element whose gradient is zero
but for rounding (attention's key bias: the softmax ignores it) moves by
+-lr in both steps, on different noise; the parameters then agree to the
rounding of the ops, not to the bound. The fused kernels' and the
epilogue's gradients are checked against float64 instead (attention.test,
gelu.test).
"""
import sys

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/lib")
import ftcpy  # noqa: E402
import numpy as np  # noqa: E402

emulated_so, cpu_so, precision = sys.argv[1:4]
compare_params = sys.argv[4:5] != ["losses"]
check = ftcpy.Checks()
emu, cpu = ftcpy.Step(emulated_so, seed=5), ftcpy.Step(cpu_so, seed=5)
initial = [cpu.param(i).copy() for i in range(len(cpu.params))]
rng = np.random.default_rng(4)
tolerance = 1e-5 if precision == "fp32" else 1e-2
for k in range(3):
    batch = ftcpy.random_batch(cpu, rng)
    a, b = emu.step(batch), cpu.step(batch)
    rel = abs(a - b) / abs(b)
    check(f"loss {k + 1}: emulated {a:.7f} cpu {b:.7f} rel {rel:.1e} (<= {tolerance:g})",
          rel <= tolerance)
worst, name = 0.0, ""
for i, p in enumerate(cpu.params if compare_params else []):
    moved = np.linalg.norm(cpu.param(i).astype(np.float64) - initial[i])
    dist = np.linalg.norm(emu.param(i).astype(np.float64) - cpu.param(i))
    ratio = dist / (2e-3 * moved) if moved > 0 else (0.0 if dist == 0 else np.inf)
    if ratio > worst:
        worst, name = ratio, p["name"]
if compare_params:
    check(f"parameters after 3 steps: worst ||p - p_cpu|| / (2e-3 ||p_cpu - p0||) {worst:.3f} "
          f"({name})", worst <= 1)
else:
    finite = all(np.isfinite(emu.param(i)).all() for i in range(len(cpu.params)))
    check("parameters after 3 steps finite (not compared: losses only)", finite)
# The forward-only entry (its own kernels: no backward keeps its
# intermediates, so more of it fuses) on the trained parameters.
batch = ftcpy.random_batch(cpu, rng)
a, b = emu.eval(batch), cpu.eval(batch)
rel = abs(a - b) / abs(b)
check(f"eval: emulated {a:.7f} cpu {b:.7f} rel {rel:.1e} (<= {tolerance:g})", rel <= tolerance)
check(f"step counter {emu.steps()} = {cpu.steps()}", emu.steps() == cpu.steps())
check(f"loss scale {emu.loss_scale()} = {cpu.loss_scale()}", emu.loss_scale() == cpu.loss_scale())
sys.exit(1 if check.failures else 0)
