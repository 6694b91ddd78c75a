// RUN: ftc-opt %s --ftc-grad-ready-hooks --split-input-file --verify-diagnostics | FileCheck %s

// After the last top-level op touching each gradient (the buffer or a
// view of it), a call with its layout index; the order of the calls is the
// module's ftc.grad_ready. A gradient nothing touches is final at once.
// Other entries and other buffers are left alone.
// CHECK-LABEL: module attributes
// CHECK-SAME: ftc.grad_ready = array<i64: 2, 0, 1>
// CHECK: func.func private @ftcrt_grad_ready(i32)
// CHECK-LABEL: func.func private @acc
// CHECK-NEXT: %[[C2:.+]] = arith.constant 2 : i32
// CHECK-NEXT: call @ftcrt_grad_ready(%[[C2]])
// CHECK-NEXT: memref.copy %arg3, %arg1
// CHECK-NEXT: %[[V:.+]] = memref.subview %arg0
// CHECK-NEXT: memref.copy %arg3, %[[V]]
// CHECK-NEXT: %[[C0:.+]] = arith.constant 0 : i32
// CHECK-NEXT: call @ftcrt_grad_ready(%[[C0]])
// CHECK-NEXT: memref.copy %arg3, %arg1
// CHECK-NEXT: %[[C1:.+]] = arith.constant 1 : i32
// CHECK-NEXT: call @ftcrt_grad_ready(%[[C1]])
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @other
// CHECK-NOT: call
module attributes {ftc.abi = [{kind = "grad", name = "a", type = tensor<8xf32>},
                              {kind = "grad", name = "b", type = tensor<4xf32>},
                              {kind = "grad", name = "c", type = tensor<4xf32>},
                              {kind = "input", name = "x", type = tensor<4xf32>}]} {
  func.func private @acc(%a: memref<8xf32>, %b: memref<4xf32>, %c: memref<4xf32>,
                         %x: memref<4xf32>)
      attributes {ftc.entry = "accumulate", ftc.abi_indices = array<i64: 0, 1, 2, 3>} {
    memref.copy %x, %b : memref<4xf32> to memref<4xf32>
    %v = memref.subview %a[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
    memref.copy %x, %v : memref<4xf32> to memref<4xf32, strided<[1], offset: 4>>
    memref.copy %x, %b : memref<4xf32> to memref<4xf32>
    return
  }
  func.func private @other(%b: memref<4xf32>, %x: memref<4xf32>)
      attributes {ftc.entry = "step", ftc.abi_indices = array<i64: 1, 3>} {
    memref.copy %x, %b : memref<4xf32> to memref<4xf32>
    return
  }
}

// -----

// expected-error @below {{an entry point without its buffer layout}}
func.func private @acc(%b: memref<4xf32>) attributes {ftc.entry = "accumulate"} {
  return
}
