#!/usr/bin/env bash
# The GPU check, on a machine with an NVIDIA GPU (H100/H200), in one call of
# under 8 minutes. DIR is what bench/gpu/prepare.py made on a machine with
# ftc built (the GPU machines have no LLVM); from the repository root:
#
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/gpu/prepare.py gpu-check
#   bash bench/gpu/run.sh gpu-check          # there, with gpu-check carried
#
# TORCH=0 leaves out PyTorch's timings (a quicker check of ftc's own).
#
# Parity of the GPU step with the CPU step (check.py parity), then ftc's
# step times beside PyTorch's (torch_step.py, eager and torch.compile, fp32
# and bf16) in the same run, as a table, and where gpt2-small bf16's step
# spends its GPU time (FTC_CUDA_PROFILE). Every part has its own time limit:
# a slow one is reported as such and the rest still runs.
set -u -o pipefail
dir=$(cd "${1:?usage: run.sh PREPARED_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-$dir}
export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for lib in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu; do
  [ -e "$lib/libcuda.so.1" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$lib"
done
py=${PYTHON:-python3}
# cuBLASLt (the products) and NCCL (data parallelism): the toolkit's, else
# those PyTorch's wheels bring (nvidia-*), where the loader does not find
# them itself. find_library VAR FILE: VAR set to the first FILE found.
find_library() {
  local var=$1 file=$2 cand
  if [ -z "${!var:-}" ]; then
    for cand in "/usr/local/cuda/lib64/$file" "/usr/local/cuda/lib/$file" \
        $("$py" -c 'import nvidia, os, sys; [print(os.path.join(r, f)) for p in nvidia.__path__ for r, _, fs in os.walk(p) for f in fs if f == sys.argv[1]]' "$file" 2>/dev/null); do
      if [ -e "$cand" ]; then export "$var=$cand"; break; fi
    done
  fi
  echo "$file: ${!var:-(left to the loader)}"
}
find_library FTC_LIBCUBLASLT libcublasLt.so.13
[ -n "${FTC_LIBCUBLASLT:-}" ] || find_library FTC_LIBCUBLASLT libcublasLt.so.12
find_library FTC_LIBNCCL libnccl.so.2
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
echo "== parity: the GPU step against the CPU step (3 steps, same init and batches)"
for tag in mlp-fp32 gpt2-tiny-fp32 gpt2-tiny-bf16; do
  timeout 90 "$py" "$here/check.py" parity "$dir" "$tag" || { echo "$tag parity: FAIL (or timed out)"; status=1; }
done
echo "== fused attention's gradients on tensor cores against float64 (bf16)"
timeout 90 "$py" "$here/check.py" attention "$dir" || { echo "attention: FAIL (or timed out)"; status=1; }
echo "== data parallelism: a one-rank NCCL communicator against the plain step"
timeout 90 "$py" "$here/check.py" nccl "$dir" gpt2-tiny-fp32 || { echo "nccl: FAIL (or timed out)"; status=1; }
echo "== times"
: > "$out/times.jsonl"
ftc_time() { # so steps limit
  timeout "$3" "$py" "$here/check.py" time "$dir/$1" "$2" | tee -a "$out/times.jsonl" ||
    echo "{\"so\": \"$1\", \"error\": \"failed or over ${3}s\"}" | tee -a "$out/times.jsonl"
}
torch_time() { # args... (limit 120 s each; TORCH=0 skips PyTorch's rows)
  [ "${TORCH:-1}" = 1 ] || return 0
  timeout 120 "$py" "$dir/torch_step.py" --device cuda "$@" 2>>"$out/torch.err" | tee -a "$out/times.jsonl" ||
    echo "{\"torch\": \"$*\", \"error\": \"failed or over 120s\"}" | tee -a "$out/times.jsonl"
}
ftc_time mlp-fp32-cuda.so 20 40
ftc_time gpt2-tiny-fp32-cuda.so 10 40
ftc_time gpt2-tiny-bf16-cuda.so 10 40
ftc_time gpt2-tiny-bf16-kernels-cuda.so 5 60
ftc_time gpt2-small-fp32-cuda.so 2 90
ftc_time gpt2-small-bf16-cuda.so 2 90
ftc_time gpt2-small-bf16-unfused-cuda.so 2 90
ftc_time gpt2-small-bf16-biaskernel-cuda.so 2 90
ftc_time gpt2-small-bf16-gelukernel-cuda.so 2 90
# The same steps launched kernel by kernel (no CUDA graph): what graphs save.
FTC_CUDA_GRAPHS=0 ftc_time gpt2-tiny-bf16-cuda.so 10 40
FTC_CUDA_GRAPHS=0 ftc_time gpt2-small-bf16-cuda.so 2 90
torch_time --model mlp --precision fp32 --steps 20
torch_time --model gpt2-tiny --precision fp32 --steps 10
torch_time --model gpt2-tiny --precision bf16 --steps 10
torch_time --model gpt2-small --precision fp32 --steps 10
torch_time --model gpt2-small --precision bf16 --steps 10
torch_time --model gpt2-small --precision bf16 --mode compile --steps 10
"$py" - "$out/times.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
print(f"{'what':44} {'ms/step (median)':>17} {'min':>9}")
for r in rows:
    what = r.get("so") or "torch " + " ".join(
        str(r.get(k, "")) for k in ("model", "precision", "mode")) if "error" not in r else \
        (r.get("so") or "torch " + r.get("torch", ""))
    if "error" in r:
        print(f"{what:44} {r['error']:>17}")
    else:
        print(f"{what:44} {r['step_ms_median']:>17.2f} {r['step_ms_min']:>9.2f}")
PY
echo "== where gpt2-small bf16's step spends its GPU time (FTC_CUDA_PROFILE, 2 steps)"
FTC_CUDA_PROFILE="$out/profile-gpt2-small-bf16.txt" timeout 90 "$py" "$here/check.py" time "$dir/gpt2-small-bf16-cuda.so" 2 >/dev/null &&
  head -45 "$out/profile-gpt2-small-bf16.txt" || echo "profile: failed or over 90s"
exit $status
