// RUN: ftc-opt %s --split-input-file --ftc-gpu-fuse-launches | FileCheck %s

// Two updates of different buffers (two parameters' AdamW steps), their
// sizes between them, and a buffer freed between them: one launch of
// 4 + 2 blocks where the first was, block b running the first body for
// b < 4 and the second for 4 <= b < 6 with b - 4 as its block id; the
// deallocation stays after it.
// CHECK-LABEL: func.func @independent
// CHECK: %[[C6:.*]] = arith.constant 6 : index
// CHECK: %[[C256:.*]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C6]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[T:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:   %[[LO0:.*]] = arith.constant 0 : index
// CHECK:   %[[HI0:.*]] = arith.constant 4 : index
// CHECK:   %[[GE0:.*]] = arith.cmpi uge, %[[B]], %[[LO0]]
// CHECK:   %[[LT0:.*]] = arith.cmpi ult, %[[B]], %[[HI0]]
// CHECK:   %[[IN0:.*]] = arith.andi %[[GE0]], %[[LT0]]
// CHECK:   scf.if %[[IN0]] {
// CHECK:     %[[B0:.*]] = arith.subi %[[B]], %[[LO0]]
// CHECK:     %[[X0:.*]] = arith.muli %[[B0]]
// CHECK:     %[[I0:.*]] = arith.addi %[[X0]], %[[T]]
// CHECK:     memref.store %{{.*}}, %arg0[%[[I0]]]
// CHECK:   %[[LO1:.*]] = arith.constant 4 : index
// CHECK:   %[[HI1:.*]] = arith.constant 6 : index
// CHECK:   %[[GE1:.*]] = arith.cmpi uge, %[[B]], %[[LO1]]
// CHECK:   %[[LT1:.*]] = arith.cmpi ult, %[[B]], %[[HI1]]
// CHECK:   %[[IN1:.*]] = arith.andi %[[GE1]], %[[LT1]]
// CHECK:   scf.if %[[IN1]] {
// CHECK:     %[[B1:.*]] = arith.subi %[[B]], %[[LO1]]
// CHECK:     %[[X1:.*]] = arith.muli %[[B1]]
// CHECK:     %[[I1:.*]] = arith.addi %[[X1]], %[[T]]
// CHECK:     memref.store %{{.*}}, %arg1[%[[I1]]]
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

// Not merged: the second reads what the first writes; the third has
// another block size; a call (a product on cuBLASLt) stands between the
// third and the fourth.
// CHECK-LABEL: func.func @dependent
// CHECK-COUNT-4: gpu.launch blocks
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
