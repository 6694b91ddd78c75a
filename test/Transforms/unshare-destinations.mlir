// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-unshare-destinations))' | FileCheck %s
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-unshare-destinations),one-shot-bufferize{bufferize-function-boundaries})' | FileCheck %s --check-prefix=BUF

// A zero-filled tensor that CSE left shared by two products: each product
// gets its own allocation, reshape and fill, right before it, and the
// original chain goes. After bufferization, two buffers, each allocated
// just before its product and filled, and no copy.
// CHECK-LABEL: func.func @shared_fill
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[Y:.*]]: tensor<8x8xf32>)
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.0
// CHECK-NEXT: %[[T:.*]] = tensor.extract_slice %[[Y]]
// CHECK-NEXT: %[[E1:.*]] = tensor.empty() : tensor<32xf32>
// CHECK-NEXT: %[[R1:.*]] = tensor.expand_shape %[[E1]]
// CHECK-NEXT: %[[F1:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[R1]] : tensor<4x8xf32>)
// CHECK-NEXT: %[[A:.*]] = linalg.matmul ins(%[[X]], %[[Y]] : {{.*}}) outs(%[[F1]] : tensor<4x8xf32>)
// CHECK-NEXT: %[[E2:.*]] = tensor.empty() : tensor<32xf32>
// CHECK-NEXT: %[[R2:.*]] = tensor.expand_shape %[[E2]]
// CHECK-NEXT: %[[F2:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[R2]] : tensor<4x8xf32>)
// CHECK-NEXT: %[[B:.*]] = linalg.matmul ins(%[[T]], %[[Y]] : {{.*}}) outs(%[[F2]] : tensor<4x8xf32>)
// CHECK-NEXT: return %[[A]], %[[B]]
// BUF-LABEL: func.func @shared_fill
// BUF-NOT: memref.copy
// BUF: memref.subview
// BUF-NEXT: memref.alloc
// BUF-NEXT: memref.expand_shape
// BUF-NEXT: linalg.fill
// BUF-NEXT: linalg.matmul
// BUF-NEXT: memref.alloc
// BUF-NEXT: memref.expand_shape
// BUF-NEXT: linalg.fill
// BUF-NEXT: linalg.matmul
// BUF-NOT: memref.copy
func.func @shared_fill(%x: tensor<4x8xf32>, %y: tensor<8x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32xf32>
  %r = tensor.expand_shape %e [[0, 1]] output_shape [4, 8] : tensor<32xf32> into tensor<4x8xf32>
  %z = linalg.fill ins(%zero : f32) outs(%r : tensor<4x8xf32>) -> tensor<4x8xf32>
  %t = tensor.extract_slice %y[4, 0] [4, 8] [1, 1] : tensor<8x8xf32> to tensor<4x8xf32>
  %a = linalg.matmul ins(%x, %y : tensor<4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
  %b = linalg.matmul ins(%t, %y : tensor<4x8xf32>, tensor<8x8xf32>) outs(%z : tensor<4x8xf32>) -> tensor<4x8xf32>
  return %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// A reader inside a loop: the copy goes before the loop, in the block of
// the chain, not into the loop's body; an alloc_tensor is copied like an
// empty tensor.
// CHECK-LABEL: func.func @nested
// CHECK: scf.for
// CHECK: %[[A:.*]] = bufferization.alloc_tensor() : tensor<4xf32>
// CHECK-NEXT: %[[F:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[A]] : tensor<4xf32>)
// CHECK-NEXT: scf.for {{.*}} iter_args(%{{.*}} = %[[F]])
// CHECK-NOT: linalg.fill
// CHECK: return
func.func @nested(%x: tensor<4xf32>, %n: index) -> (tensor<4xf32>, tensor<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f32
  %a = bufferization.alloc_tensor() : tensor<4xf32>
  %f = linalg.fill ins(%one : f32) outs(%a : tensor<4xf32>) -> tensor<4xf32>
  %s = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %f) -> tensor<4xf32> {
    %y = linalg.add ins(%acc, %x : tensor<4xf32>, tensor<4xf32>) outs(%acc : tensor<4xf32>) -> tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  }
  %u = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %f) -> tensor<4xf32> {
    %y = linalg.mul ins(%acc, %x : tensor<4xf32>, tensor<4xf32>) outs(%acc : tensor<4xf32>) -> tensor<4xf32>
    scf.yield %y : tensor<4xf32>
  }
  return %s, %u : tensor<4xf32>, tensor<4xf32>
}

// -----

// A fill of a function argument is not a new destination: it stays shared.
// CHECK-LABEL: func.func @argument
// CHECK-COUNT-1: linalg.fill
// CHECK-NOT: linalg.fill
func.func @argument(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %one = arith.constant 1.0 : f32
  %f = linalg.fill ins(%one : f32) outs(%x : tensor<4xf32>) -> tensor<4xf32>
  %a = linalg.add ins(%f, %y : tensor<4xf32>, tensor<4xf32>) outs(%y : tensor<4xf32>) -> tensor<4xf32>
  %b = linalg.mul ins(%f, %y : tensor<4xf32>, tensor<4xf32>) outs(%y : tensor<4xf32>) -> tensor<4xf32>
  return %a, %b : tensor<4xf32>, tensor<4xf32>
}
