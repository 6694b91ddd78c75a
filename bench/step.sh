#!/usr/bin/env bash
# ftc's training step beside PyTorch's on the same work, measured in one run
# on this machine (a benchmark, not a test: it prints a table).
#
#   bench/step.sh [MODEL] [STEPS]     MODEL: mlp (default) or gpt2-tiny; after ./setup.sh
#
# PyTorch is ../shared/peers/torch_step.py --model MODEL (Debian's python3-torch,
# AdamW foreach), with OpenBLAS's tuning variables unset in its command only
# (see the project notes), at 1 and 2 threads; ftc's step runs on OpenMP's
# default thread count (all cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${FTC_PEERS:-$root/../shared/peers}
model=${1:-mlp}
steps=${2:-30}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$root/build/bin/ftc" "$root/examples/$model.mlir" -o "$tmp/step.so"
ftc_ms=$("$root/build/bin/ftc-train" "$tmp/step.so" --synthetic --steps "$steps" --warmup 3 |
  awk '/^median step/ { print $3 }')

torch_ms() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$peers/torch_step.py" \
    --model "$model" --device cpu --threads "$1" --steps "$steps" --warmup 3 |
    /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["step_ms_median"])'
}
t1=$(torch_ms 1)
t2=$(torch_ms 2)
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo unknown)

printf '%-28s %8s %12s %14s\n' "$model step" threads "median ms" "time vs ftc"
printf '%-28s %8s %12.2f %14s\n' "ftc" "$(nproc)" "$ftc_ms" "1.00x"
for pair in "1 $t1" "2 $t2"; do
  set -- $pair
  printf '%-28s %8s %12.2f %13.2fx\n' "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') eager" "$1" "$2" \
    "$(/usr/bin/python3 -c "print($2 / $ftc_ms)")"
done
echo "PyTorch BLAS: $blas; $(nproc) cores; $steps timed steps each"
