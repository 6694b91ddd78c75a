// RUN: ftc-opt %s --gpu-kernel-outlining --ftc-gpu-merge-kernels | FileCheck %s --check-prefix=MERGE
// RUN: ftc-opt %s --pass-pipeline='builtin.module(gpu-kernel-outlining,ftc-gpu-merge-kernels,nvvm-attach-target{chip=sm_90 features=+ptx78},gpu.module(convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=1},reconcile-unrealized-casts),gpu-module-to-binary{format=isa},finalize-memref-to-llvm,convert-func-to-llvm{use-bare-ptr-memref-call-conv=1},gpu-to-llvm{use-bare-pointers-for-host=1 use-bare-pointers-for-kernels=1},reconcile-unrealized-casts,ftc-gpu-bind-launches)' | FileCheck %s --check-prefix=BIND

// Three launches, two of them the same kernel: one module, two kernels.
// MERGE: module attributes {gpu.container_module}
// MERGE: gpu.launch_func @ftc_kernels::@[[K0:[a-z_0-9]+]] blocks
// MERGE: gpu.launch_func @ftc_kernels::@[[K1:[a-z_0-9]+]] blocks
// MERGE: gpu.launch_func @ftc_kernels::@[[K0]] blocks
// MERGE: gpu.module @ftc_kernels
// MERGE-COUNT-2: gpu.func @
// MERGE-NOT: gpu.func
// MERGE-NOT: gpu.module

// The binary as globals the runtime reads, each launch a call with its
// arguments in a struct allocated in the entry block; each kernel's source
// is its first launch's (the op a call site calls, the first of a fusion).
// BIND-NOT: gpu.container_module
// BIND-LABEL: llvm.func @twice
// BIND-COUNT-3: llvm.alloca %{{.*}} x !llvm.struct<(ptr, f32)>
// BIND: %[[F0:.*]] = llvm.getelementptr %[[ARGS:.*]][0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, f32)>
// BIND-NEXT: llvm.store %{{.*}}, %[[F0]] : !llvm.ptr, !llvm.ptr
// BIND-NEXT: %[[S0:.*]] = llvm.getelementptr %[[ARRAY:.*]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// BIND-NEXT: llvm.store %[[F0]], %[[S0]] : !llvm.ptr, !llvm.ptr
// BIND-NEXT: %[[F1:.*]] = llvm.getelementptr %[[ARGS]][0, 1]
// BIND-NEXT: llvm.store %arg1, %[[F1]] : f32, !llvm.ptr
// BIND-NEXT: %[[S1:.*]] = llvm.getelementptr %[[ARRAY]][1]
// BIND-NEXT: llvm.store %[[F1]], %[[S1]] : !llvm.ptr, !llvm.ptr
// BIND-NEXT: llvm.mlir.constant(0 : i32) : i32
// BIND-NEXT: %[[K0:.*]] = llvm.mlir.constant(0 : i32) : i32
// BIND-NEXT: llvm.call @ftcrt_cuda_launch(%[[K0]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[ARRAY]])
// BIND: %[[K1:.*]] = llvm.mlir.constant(1 : i32) : i32
// BIND-NEXT: llvm.call @ftcrt_cuda_launch(%[[K1]],
// BIND: llvm.mlir.constant(0 : i32) : i32
// BIND-NEXT: %[[K2:.*]] = llvm.mlir.constant(0 : i32) : i32
// BIND-NEXT: llvm.call @ftcrt_cuda_launch(%[[K2]],
// BIND-NOT: gpu.launch_func
// BIND: llvm.mlir.global external constant @ftcrt_cuda_image("//
// BIND-SAME: .target sm_90
// BIND: llvm.mlir.global external constant @ftcrt_cuda_image_format(0 : i32)
// BIND: llvm.mlir.global external constant @ftcrt_cuda_kernels("twice_kernel\00twice_kernel_0\00\00")
// BIND: llvm.mlir.global external constant @ftcrt_cuda_kernel_sources("model.mlir:7:3\00other.mlir:9:1\00\00")
// BIND: llvm.mlir.global external constant @ftcrt_cuda_kernel_count(2 : i32)
// BIND: llvm.func @ftcrt_cuda_launch(i32, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr)
// BIND-NOT: gpu.binary
func.func @twice(%x: memref<64xf32>, %s: f32) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%nx = %c64, %ny = %c1, %nz = %c1) {
    %v = memref.load %x[%tx] : memref<64xf32>
    %w = arith.mulf %v, %s : f32
    memref.store %w, %x[%tx] : memref<64xf32>
    gpu.terminator
  } loc(callsite("models/model.mlir":7:3 at "models/model.mlir":20:5))
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%nx = %c64, %ny = %c1, %nz = %c1) {
    %v = memref.load %x[%tx] : memref<64xf32>
    %w = arith.addf %v, %s : f32
    memref.store %w, %x[%tx] : memref<64xf32>
    gpu.terminator
  } loc(fused["other.mlir":9:1, "models/model.mlir":30:2])
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%nx = %c64, %ny = %c1, %nz = %c1) {
    %v = memref.load %x[%tx] : memref<64xf32>
    %w = arith.mulf %v, %s : f32
    memref.store %w, %x[%tx] : memref<64xf32>
    gpu.terminator
  } loc("models/model.mlir":8:3)
  return
}
