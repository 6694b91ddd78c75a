// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(optimize-allocation-liveness))' | FileCheck %s

// The CPU pipeline frees each buffer after the last op that reads it or a
// view of it, not at the end of the function, with upstream's
// optimize-allocation-liveness (which replaced ftc's own ftc-early-dealloc,
// with the same result on these cases and the same workspaces for mlp,
// gpt2-tiny and gpt2-small). ftc-plan-memory's lifetimes are these.
// CHECK-LABEL: func.func @chain
// CHECK: %[[A:.+]] = memref.alloc() : memref<4xf32>
// CHECK-NEXT: linalg.fill ins(%{{.+}} : f32) outs(%[[A]] : memref<4xf32>)
// CHECK-NEXT: %[[B:.+]] = memref.alloc() : memref<4xf32>
// CHECK-NEXT: memref.copy %[[A]], %[[B]]
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: %[[C:.+]] = memref.alloc() : memref<2x2xf32>
// CHECK-NEXT: %[[V:.+]] = memref.expand_shape %[[B]]
// CHECK-NEXT: memref.copy %[[V]], %[[C]]
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: memref.copy %[[C]], %{{.+}}
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: return
func.func @chain(%out: memref<2x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  %b = memref.alloc() : memref<4xf32>
  memref.copy %a, %b : memref<4xf32> to memref<4xf32>
  %c = memref.alloc() : memref<2x2xf32>
  %v = memref.expand_shape %b [[0, 1]] output_shape [2, 2] : memref<4xf32> into memref<2x2xf32>
  memref.copy %v, %c : memref<2x2xf32> to memref<2x2xf32>
  memref.copy %c, %out : memref<2x2xf32> to memref<2x2xf32>
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  memref.dealloc %c : memref<2x2xf32>
  return
}

// -----

// A use inside a loop keeps the buffer until the loop ends; a buffer that
// comes from elsewhere (an argument) is not touched.
// CHECK-LABEL: func.func @loop
// CHECK: %[[A:.+]] = memref.alloc() : memref<4xf32>
// CHECK: scf.for
// CHECK: memref.load %[[A]]
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: memref.store
// CHECK-NEXT: memref.dealloc %{{.+}} : memref<8xf32>
// CHECK-NEXT: return
func.func @loop(%arg: memref<8xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  %sum = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
    %x = memref.load %a[%i] : memref<4xf32>
    %y = arith.addf %acc, %x : f32
    scf.yield %y : f32
  }
  memref.store %sum, %out[] : memref<f32>
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %arg : memref<8xf32>
  return
}
