#!/usr/bin/env bash
# Sets ftc up on a Debian bookworm machine and runs the main job.
#
#   ./setup.sh            install packages, configure, build, run the main job
#   ./setup.sh --no-run   the same without the main job (test.sh uses this)
#
# Idempotent: packages already installed stay as they are, and the build is
# incremental. Runs as root, or through sudo when there is one.
set -euo pipefail
cd "$(dirname "$0")"

run_main=1
sanitizers_only=0
for arg in "$@"; do
  case "$arg" in
    --no-run) run_main=0 ;;
    --sanitizers-only) sanitizers_only=1 ;;
    *) echo "setup.sh: unknown argument '$arg' (expected --no-run or --sanitizers-only)" >&2; exit 2 ;;
  esac
done

llvm=/usr/lib/llvm-22
# ./setup.sh --sanitizers-only: only the sanitizer build, build-san/ (ASan +
# UBSan and the fuzzers; test.sh runs its suite), after a plain setup.
if [ "$sanitizers_only" -eq 1 ]; then
  echo "== configuring build-san/ (AddressSanitizer, UndefinedBehaviorSanitizer, libFuzzer)"
  cmake -S . -B build-san -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DFTC_SANITIZE=ON \
    -DCMAKE_C_COMPILER="$llvm/bin/clang" -DCMAKE_CXX_COMPILER="$llvm/bin/clang++" \
    -DMLIR_DIR="$llvm/lib/cmake/mlir" >/dev/null
  echo "== building build-san/"
  exec cmake --build build-san
fi

# Everything the build, the examples, the tests and the benchmarks use:
# LLVM/MLIR 22 with its tools (lit, FileCheck, not, split-file), clang (the
# link driver of step.so) and lld, the libraries the tools and the runtime
# link, clang's sanitizer and libFuzzer runtimes (build-san), GoogleTest,
# PyTorch and Fashion-MNIST as the tests' numerical oracle and data
# (Fashion-MNIST, and fortunes as text for the byte-level GPT), OpenBLAS
# so that PyTorch's CPU baseline is a fair one (and, if it can be had,
# gnuplot, which draws ftc-train --plot's loss curves), and OpenMPI for
# data-parallel training (ftc-train --mpi, mpirun).
packages=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  libomp-22-dev libclang-rt-22-dev libfmt-dev nlohmann-json3-dev libgtest-dev zlib1g-dev
  cmake ninja-build
  python3-torch python3-numpy dataset-fashion-mnist libopenblas0-pthread
  fortunes
  openmpi-bin libopenmpi-dev
)
# Wanted, not needed: gnuplot draws ftc-train --plot's curves; without it
# --plot is an error and the test that draws is skipped.
optional=(gnuplot-nox)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: run as root or install sudo" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

echo "== apt-get update"
"${sudo_cmd[@]}" apt-get update -q
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "== all ${#packages[@]} packages already installed"
fi
for p in "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  echo "== installing $p (optional)"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$p" ||
    echo "setup.sh: warning: could not install $p; ftc-train --plot needs it" >&2
done

echo "== configuring build/"
cmake -S . -B build -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$llvm/bin/clang" -DCMAKE_CXX_COMPILER="$llvm/bin/clang++" \
  -DMLIR_DIR="$llvm/lib/cmake/mlir" >/dev/null
echo "== building"
cmake --build build

if [ "$run_main" -eq 1 ]; then
  echo "== main job: compile examples/mlp.mlir, train it for one epoch of Fashion-MNIST"
  build/bin/ftc examples/mlp.mlir -o build/mlp.so
  build/bin/ftc-train build/mlp.so --data fashion-mnist --epochs 1
fi
