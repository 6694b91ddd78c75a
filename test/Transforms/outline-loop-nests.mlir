// RUN: ftc-opt %s --split-input-file --ftc-outline-loop-nests | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-outline-loop-nests=min-nests=3 | FileCheck %s --check-prefix=FEW

// Each top-level nest moves into its own function: buffers are passed (and
// marked noalias), constants and views are cloned so that trip counts and
// strides stay constant in the callee, and LLVM is told not to inline it.
// CHECK-LABEL: func.func private @two_nests_nest0
// CHECK-SAME: (%{{.+}}: memref<4x8xf32> {llvm.noalias}, %{{.+}}: memref<8xf32> {llvm.noalias})
// CHECK-SAME: attributes {passthrough = ["noinline"]}
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.store
// CHECK-LABEL: func.func private @two_nests_nest1
// CHECK-SAME: (%[[A1:.+]]: memref<4x8xf32> {llvm.noalias}, %[[S1:.+]]: f32) -> f32
// CHECK-SAME: attributes {passthrough = ["noinline"]}
// CHECK-DAG: %[[C0:.+]] = arith.constant 0 : index
// CHECK-DAG: %[[C8:.+]] = arith.constant 8 : index
// CHECK-DAG: %[[C1:.+]] = arith.constant 1 : index
// CHECK: %[[ROW:.+]] = memref.subview %[[A1]][1, 0] [1, 8] [1, 1]
// CHECK: %[[SUM:.+]] = scf.for %{{.+}} = %[[C0]] to %[[C8]] step %[[C1]] iter_args(%{{.+}} = %[[S1]]) -> (f32)
// CHECK: memref.load %[[ROW]]
// CHECK: return %[[SUM]] : f32
// CHECK-LABEL: func.func @two_nests
// CHECK-SAME: (%[[A:.+]]: memref<4x8xf32>, %[[B:.+]]: memref<8xf32>, %[[S:.+]]: f32)
// CHECK-NOT: scf.for
// CHECK: call @two_nests_nest0(%[[A]], %[[B]]) : (memref<4x8xf32>, memref<8xf32>) -> ()
// CHECK-NOT: scf.for
// CHECK: %[[R:.+]] = call @two_nests_nest1(%[[A]], %[[S]]) : (memref<4x8xf32>, f32) -> f32
// CHECK-NEXT: return %[[R]]
// FEW-LABEL: func.func @two_nests
// FEW-NOT: call
// FEW-NOT: func.func private
func.func @two_nests(%a: memref<4x8xf32>, %b: memref<8xf32>, %s: f32) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  scf.for %i = %c0 to %c4 step %c1 {
    scf.for %j = %c0 to %c8 step %c1 {
      %x = memref.load %b[%j] : memref<8xf32>
      memref.store %x, %a[%i, %j] : memref<4x8xf32>
    }
  }
  %row = memref.subview %a[1, 0] [1, 8] [1, 1] : memref<4x8xf32> to memref<8xf32, strided<[1], offset: 8>>
  %sum = scf.for %j = %c0 to %c8 step %c1 iter_args(%acc = %s) -> f32 {
    %x = memref.load %row[%j] : memref<8xf32, strided<[1], offset: 8>>
    %y = arith.addf %acc, %x : f32
    scf.yield %y : f32
  }
  return %sum : f32
}

// -----

// A buffer of dynamic shape cannot cross a bare-pointer call: that nest
// stays, the other one moves.
// CHECK-LABEL: func.func private @dynamic_nest0
// CHECK-SAME: (%{{.+}}: memref<8xf32> {llvm.noalias})
// CHECK-NOT: func.func private
// CHECK-LABEL: func.func @dynamic
// CHECK: scf.for
// CHECK: memref.store %{{.+}}, %{{.+}}[%{{.+}}] : memref<?xf32>
// CHECK: call @dynamic_nest0
func.func @dynamic(%a: memref<?xf32>, %b: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %zero, %a[%i] : memref<?xf32>
  }
  scf.for %i = %c0 to %c8 step %c1 {
    memref.store %zero, %b[%i] : memref<8xf32>
  }
  return
}

// -----

// The same nest on other buffers (every layer of a model) is one function,
// called twice; a nest that differs (another constant) is another. Parallel
// nests (scf.parallel) are outlined too.
// CHECK-LABEL: func.func private @layers_nest0
// CHECK: arith.constant 2.000000e+00 : f32
// CHECK: scf.parallel
// CHECK-LABEL: func.func private @layers_nest2
// CHECK: arith.constant 3.000000e+00 : f32
// CHECK-NOT: func.func private @layers_nest
// CHECK-LABEL: func.func @layers
// CHECK: call @layers_nest0(%arg0)
// CHECK: call @layers_nest0(%arg1)
// CHECK: call @layers_nest2(%arg1)
// FEW-LABEL: func.func private @layers_nest0
func.func @layers(%a: memref<16xf32>, %b: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
    memref.store %two, %a[%i] : memref<16xf32>
  }
  scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
    memref.store %two, %b[%i] : memref<16xf32>
  }
  scf.parallel (%i) = (%c0) to (%c16) step (%c1) {
    memref.store %three, %b[%i] : memref<16xf32>
  }
  return
}
