#!/usr/bin/env bash
# Data parallelism on this machine: one rank against two (mpirun, ftc-train
# --mpi) on the same global batch, in one run (a benchmark, not a test: it
# prints a table).
#
#   bench/data-parallel.sh [STEPS]      after ./setup.sh (OpenMPI installed)
#
# For mlp (batch 128) and gpt2-tiny (batch 8): one rank summing two batches
# (--accumulate 2) on 1 and on 2 threads, and two ranks of one thread each
# on one batch each, with the default buckets (1 MiB) and with one bucket
# of everything (--bucket-mb 1024: no all-reduce can start before the
# backward ends). Per step (medians over the timed steps, rank 0's): the
# step time, the time the all-reduces took (summed over the buckets, on the
# comm thread: it includes waiting for the slower rank), the part of it the
# step waited for (not hidden behind the backward), and the overlap (1 -
# waited / all-reduce, over all timed steps).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
train="$root/build/bin/ftc-train"

printf '%-44s %10s %8s %14s %12s %8s\n' "" "median ms" "vs 1x2" "all-reduce ms" "waited ms" "overlap"
for model in mlp gpt2-tiny; do
  "$root/build/bin/ftc" "$root/examples/$model.mlir" -o "$tmp/$model.so"
  run() { # label, then the command
    local label=$1
    shift
    "$@" --synthetic --steps "$steps" --warmup 3 > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
    ms=$(awk '/^median step/ { print $3 }' "$tmp/log")
    base=${base:-$ms}
    stats=$(sed -n 's/.*median \([0-9.]*\) ms of all-reduce, \([0-9.]*\) ms of it not hidden .*(\([0-9]*\)% overlapped).*/\1 \2 \3/p' "$tmp/log")
    read -r reduce waited overlap <<< "${stats:-- - -}"
    printf '%-44s %10.1f %7.2fx %14s %12s %8s\n' "$model: $label" "$ms" \
      "$(/usr/bin/python3 -c "print($ms / $base)")" "$reduce" "$waited" "${overlap}${stats:+%}"
  }
  base=""
  run "1 rank, 2 threads, --accumulate 2" env FTC_NUM_THREADS=2 "$train" "$tmp/$model.so" --accumulate 2
  run "1 rank, 1 thread, --accumulate 2" env FTC_NUM_THREADS=1 "$train" "$tmp/$model.so" --accumulate 2
  run "2 ranks x 1 thread (--mpi)" mpirun --oversubscribe -np 2 -x FTC_NUM_THREADS=1 "$train" "$tmp/$model.so" --mpi
  run "2 ranks x 1 thread, one bucket" mpirun --oversubscribe -np 2 -x FTC_NUM_THREADS=1 "$train" "$tmp/$model.so" --mpi --bucket-mb 1024
done
echo "same global batch in every row (2 batches per update); ratios against the first row of each model; $(nproc) cores, $steps steps each (3 left out of the median)"
