// RUN: ftc-opt %s --split-input-file --ftc-gpu-fuse-launches | FileCheck %s

// Two updates of different buffers (two parameters' AdamW steps), their
// sizes between them, and a buffer freed between them: one launch of
// 4 + 2 blocks where the first was, block b running the first body for
// b < 4, else the second with b - 4 as its block id; the deallocation
// stays after it.
// CHECK-LABEL: func.func @independent
// CHECK: %[[C6:.*]] = arith.constant 6 : index
// CHECK: %[[C256:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C6]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[T:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:   %[[MID:.*]] = arith.constant 4 : index
// CHECK:   %[[BELOW:.*]] = arith.cmpi ult, %[[B]], %[[MID]]
// CHECK:   scf.if %[[BELOW]] {
// CHECK:     %[[LO0:.*]] = arith.constant 0 : index
// CHECK:     %[[B0:.*]] = arith.subi %[[B]], %[[LO0]]
// CHECK:     %[[X0:.*]] = arith.muli %[[B0]]
// CHECK:     %[[I0:.*]] = arith.addi %[[X0]], %[[T]]
// CHECK:     memref.store %{{.*}}, %arg0[%[[I0]]]
// CHECK:   } else {
// CHECK:     %[[LO1:.*]] = arith.constant 4 : index
// CHECK:     %[[B1:.*]] = arith.subi %[[B]], %[[LO1]]
// CHECK:     %[[X1:.*]] = arith.muli %[[B1]]
// CHECK:     %[[I1:.*]] = arith.addi %[[X1]], %[[T]]
// CHECK:     memref.store %{{.*}}, %arg1[%[[I1]]]
// CHECK:   }
// CHECK:   gpu.terminator
// CHECK: memref.dealloc %arg2
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @independent(%p: memref<1024xf32>, %q: memref<512xf32>, %dead: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c256 = arith.constant 256 : index
  %one = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %c256 : index
    %i = arith.addi %base, %tx : index
    memref.store %one, %p[%i] : memref<1024xf32>
    gpu.terminator
  }
  memref.dealloc %dead : memref<4xf32>
  %c2 = arith.constant 2 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %c256 : index
    %i = arith.addi %base, %tx : index
    memref.store %one, %q[%i] : memref<512xf32>
    gpu.terminator
  }
  return
}

// -----

// Not merged: the second reads what the first writes; a call (a product
// on cuBLASLt) stands between the third and the fourth. The third, of
// blocks of 128 threads, joins the second in blocks of 256, its block's
// other 128 threads idle.
// CHECK-LABEL: func.func @dependent
// CHECK: gpu.launch blocks
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c2, %{{.*}}, %{{.*}}) threads(%[[T:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c256
// CHECK:   } else {
// CHECK:     %[[MINE:.*]] = arith.cmpi ult, %[[T]], %c128
// CHECK:     scf.if %[[MINE]]
// CHECK:       memref.store %{{.*}}, %arg2[%[[T]]]
// CHECK: call @ftcrt_gemm
// CHECK: gpu.launch blocks
// CHECK-NOT: gpu.launch
func.func private @ftcrt_gemm(index, index, index, index)
func.func @dependent(%p: memref<256xf32>, %q: memref<256xf32>, %r: memref<256xf32>, %k: index) {
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %c256 = arith.constant 256 : index
  %one = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %p[%tx] : memref<256xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %v = memref.load %p[%tx] : memref<256xf32>
    memref.store %v, %q[%tx] : memref<256xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    memref.store %one, %r[%tx] : memref<256xf32>
    gpu.terminator
  }
  call @ftcrt_gemm(%k, %k, %k, %k) : (index, index, index, index) -> ()
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    memref.store %one, %r[%tx] : memref<256xf32>
    gpu.terminator
  }
  return
}

// -----

// Five members (1, 2, 3, 4 and 5 blocks: offsets 0, 1, 3, 6, 10, 15): a
// block finds its member by bisection, at most three comparisons deep.
// CHECK-LABEL: func.func @five
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c15,
// CHECK:   %[[C3:.*]] = arith.constant 3 : index
// CHECK:   %[[L:.*]] = arith.cmpi ult, %[[B]], %[[C3]]
// CHECK:   scf.if %[[L]] {
// CHECK:     %[[C1:.*]] = arith.constant 1 : index
// CHECK:     %[[LL:.*]] = arith.cmpi ult, %[[B]], %[[C1]]
// CHECK:     scf.if %[[LL]] {
// CHECK:       memref.store %{{.*}}, %arg0
// CHECK:     } else {
// CHECK:       memref.store %{{.*}}, %arg1
// CHECK:     }
// CHECK:   } else {
// CHECK:     %[[C6:.*]] = arith.constant 6 : index
// CHECK:     %[[RL:.*]] = arith.cmpi ult, %[[B]], %[[C6]]
// CHECK:     scf.if %[[RL]] {
// CHECK:       memref.store %{{.*}}, %arg2
// CHECK:     } else {
// CHECK:       %[[C10:.*]] = arith.constant 10 : index
// CHECK:       %[[RRL:.*]] = arith.cmpi ult, %[[B]], %[[C10]]
// CHECK:       scf.if %[[RRL]] {
// CHECK:         memref.store %{{.*}}, %arg3
// CHECK:       } else {
// CHECK:         memref.store %{{.*}}, %arg4
func.func @five(%a: memref<256xf32>, %b: memref<512xf32>, %c: memref<768xf32>, %d: memref<1024xf32>, %e: memref<1280xf32>) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %c256 = arith.constant 256 : index
  %one = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %a[%tx] : memref<256xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %b[%tx] : memref<512xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c3, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %c[%tx] : memref<768xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %d[%tx] : memref<1024xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c5, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    memref.store %one, %e[%tx] : memref<1280xf32>
    gpu.terminator
  }
  return
}

// -----

// The step's 16-bit copies of its weights, each cast into a buffer
// allocated right before it: the allocations move up before the merged
// launch (2 + 1 blocks), which writes both.
// CHECK-LABEL: func.func @copies
// CHECK: %[[A:.*]] = memref.alloc() : memref<256xbf16>
// CHECK: %[[B:.*]] = memref.alloc() : memref<128xbf16>
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c3,
// CHECK:   memref.store %{{.*}}, %[[A]]
// CHECK:   memref.store %{{.*}}, %[[B]]
// CHECK:   gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: return %[[A]], %[[B]]
func.func @copies(%w: memref<256xf32>, %v: memref<128xf32>) -> (memref<256xbf16>, memref<128xbf16>) {
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %a = memref.alloc() : memref<256xbf16>
  %c2 = arith.constant 2 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    %base = arith.muli %bx, %c128 : index
    %i = arith.addi %base, %tx : index
    %x = memref.load %w[%i] : memref<256xf32>
    %y = arith.truncf %x : f32 to bf16
    memref.store %y, %a[%i] : memref<256xbf16>
    gpu.terminator
  }
  %b = memref.alloc() : memref<128xbf16>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    %x = memref.load %v[%tx] : memref<128xf32>
    %y = arith.truncf %x : f32 to bf16
    memref.store %y, %b[%tx] : memref<128xbf16>
    gpu.terminator
  }
  return %a, %b : memref<256xbf16>, memref<128xbf16>
}
