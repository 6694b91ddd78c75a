#!/usr/bin/env bash
# Gradient checkpointing on a GPT-2: memory and step time of each ftc-remat
# policy, beside PyTorch's per-block torch.utils.checkpoint, in one run on
# this machine (a benchmark, not a test: it prints a table).
#
#   bench/remat.sh [MODEL] [STEPS]     MODEL: gpt2-mini (default) or gpt2-tiny; after ./setup.sh
#
# ftc: the report's planned peak (every byte of the state) and its
# workspace (the step's temporaries: activations and the rest), the
# measured peak (ftc-train: growth of the max resident set from before
# ftc_create), the median step. PyTorch: ../shared/peers/torch_step.py
# --model MODEL, eager, with and without --checkpoint, its median step and
# the process's max resident set (/usr/bin/time; it includes PyTorch
# itself), OpenBLAS's tuning variables unset in its command only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${FTC_PEERS:-$root/../shared/peers}
model=${1:-gpt2-mini}
steps=${2:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%-26s %14s %14s %14s %10s %8s\n' "$model" "planned B" "workspace B" "measured B" "median ms" "time"
base=""
for policy in none blocks sqrt; do
  "$root/build/bin/ftc" "$root/examples/$model.mlir" --remat=$policy -o "$tmp/$policy.so" --report > "$tmp/$policy.report"
  planned=$(awk '/^  total/ { print $2 }' "$tmp/$policy.report")
  workspace=$(awk '/workspace \(temporaries\)/ { print $3 }' "$tmp/$policy.report")
  "$root/build/bin/ftc-train" "$tmp/$policy.so" --synthetic --steps "$steps" --warmup 2 > "$tmp/$policy.log"
  ms=$(awk '/^median step/ { print $3 }' "$tmp/$policy.log")
  measured=$(sed -n 's/.*measured \([0-9]*\) B.*/\1/p' "$tmp/$policy.log")
  base=${base:-$ms}
  printf '%-26s %14s %14s %14s %10.1f %7.2fx\n' "ftc --remat=$policy" "$planned" "$workspace" "$measured" "$ms" \
    "$(/usr/bin/python3 -c "print($ms / $base)")"
done

torch_row() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/time -f '%M' -o "$tmp/rss" \
    /usr/bin/python3 "$peers/torch_step.py" --model "$model" --device cpu --steps "$steps" --warmup 2 "$@" > "$tmp/torch.json"
  ms=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["step_ms_median"])' "$tmp/torch.json")
  echo "$ms $(( $(cat "$tmp/rss") * 1024 ))"
}
read -r tms trss < <(torch_row)
read -r cms crss < <(torch_row --checkpoint)
printf '%-26s %14s %14s %14s %10.1f %7.2fx\n' "PyTorch eager" "-" "-" "$trss" "$tms" "$(/usr/bin/python3 -c "print($tms / $base)")"
printf '%-26s %14s %14s %14s %10.1f %7.2fx\n' "PyTorch eager --checkpoint" "-" "-" "$crss" "$cms" "$(/usr/bin/python3 -c "print($cms / $base)")"
echo "ratios against ftc --remat=none; PyTorch's measured is its max resident set (PyTorch itself included); $(nproc) cores, $steps timed steps each"
