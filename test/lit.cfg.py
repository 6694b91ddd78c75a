# lit configuration of ftc's FileCheck tests.
import os
import shutil

import lit.formats

config.name = "ftc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "Unit", "lit-helpers", "lib", "regressions", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.ftc_obj_root, "test")

# As upstream MLIR: captures do not leak across CHECK-LABELs, and every
# prefix a test declares must be used.
config.environment["FILECHECK_OPTS"] = (
    "-enable-var-scope --allow-unused-prefixes=false")
config.environment["PATH"] = os.pathsep.join(
    [config.ftc_tools_dir, config.llvm_tools_dir, config.environment["PATH"]])
# lit runs a test per core side by side; a step's OpenMP threads, waiting
# for work, would spin (libomp's default, 200 ms) on cores the test beside
# them needs. Waiting asleep changes no result (the steps are bit-identical
# at any thread count and schedule) and took a gpt2-tiny bf16 step run
# beside an ftc compile from 1078 to 859 ms on a 2-core machine.
config.environment["OMP_WAIT_POLICY"] = "passive"

# `%expect-exit N cmd...`: succeeds only when cmd exits with status N.
config.substitutions.append(
    ("%expect-exit", os.path.join(config.test_source_root, "lit-helpers",
                                  "expect-exit")))
# `%replay FUZZER DIR`: a fuzzer run on each file of DIR (its regressions).
config.substitutions.append(
    ("%replay", os.path.join(config.test_source_root, "lit-helpers", "replay")))
config.substitutions.append(("%ftc_tools_dir", config.ftc_tools_dir))
config.substitutions.append(("%ftc_obj_root", config.ftc_obj_root))
# `%run-guide GUIDE.md`: the guide's shell blocks, in order (docs tests).
config.substitutions.append(
    ("%run-guide", os.path.join(config.test_source_root, "lit-helpers", "run-guide")))
config.substitutions.append(("%ftc_src", config.ftc_src_root))
# Debian's python3, with python3-torch and numpy: the numerical oracle.
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%examples", os.path.join(config.ftc_src_root,
                                                        "examples")))

# `%fakecuda`: the stand-in NVIDIA driver (test/lib/fakecuda), for
# FTC_LIBCUDA.
config.substitutions.append(
    ("%fakecuda", os.path.join(config.ftc_obj_root, "lib", "libftc_fakecuda.so")))
# `REQUIRES: ptxas`: CUDA's PTX assembler is installed (ftc --target=cuda
# then embeds cubins; `%ptxas` checks PTX).
ptxas = os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "ptxas")
if os.access(ptxas, os.X_OK):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# `REQUIRES: avx512f`: this host runs AVX-512 code (not every machine CI
# runs on has it). `REQUIRES: avx512bf16`: it runs AVX512_BF16 code
# (vdpbf16ps), which ftc emits for bf16 products when it compiles for the host.
with open("/proc/cpuinfo") as cpuinfo:
    cpu_flags = cpuinfo.read().split()
if "avx512f" in cpu_flags:
    config.available_features.add("avx512f")
if "avx512_bf16" in cpu_flags:
    config.available_features.add("avx512bf16")

# `REQUIRES: gnuplot`: ftc-train --plot draws with it (Debian's gnuplot-nox,
# which setup.sh installs when the package archive can be reached).
if shutil.which("gnuplot"):
    config.available_features.add("gnuplot")

# `REQUIRES: mpi`: ftc-train was built with MPI (--mpi) and mpirun is there
# (Debian's openmpi-bin). The tests run as whoever runs lit, root included
# (CI), which OpenMPI refuses unless told.
if getattr(config, "ftc_have_mpi", "").upper() in ("ON", "1", "TRUE", "YES") and \
        shutil.which("mpirun"):
    config.available_features.add("mpi")
    config.environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    config.environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # Two ranks on a two-core machine: more ranks than cores is allowed.
    config.substitutions.append(("%mpirun", "mpirun --oversubscribe"))

# The sanitizer build (-DFTC_SANITIZE=ON, test.sh's build-san): the fuzzers
# exist (`REQUIRES: fuzzers`; `UNSUPPORTED: sanitizers` for a test of the
# plain build's binaries), and the sanitizers stop a test at their first
# report. Leaks are not reported: LLVM and MLIR keep their registries for
# the life of a process. Manual poisoning is off: LLVM's BumpPtrAllocator
# poisons its slabs in code compiled with ASan (ftc's, inlined from the
# headers) and Debian's uninstrumented libMLIR allocates from those slabs
# without unpoisoning, which ASan would report as a use after poison.
if getattr(config, "ftc_sanitize", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("fuzzers")
    config.available_features.add("sanitizers")
    config.environment["ASAN_OPTIONS"] = (
        "detect_leaks=0:abort_on_error=0:allow_user_poisoning=0")
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
