// RUN: ftc-opt %s --split-input-file --allow-unregistered-dialect --ftc-plan-memory | FileCheck %s

// Three temporaries: %a (64 B) and %b (128 B) are alive together, %c
// (128 B) only after both are freed, so it reuses %b's bytes (largest
// first: %b at 0, then %c at 0 too, %a at 128). The workspace (192 B)
// joins the layout and every entry point takes it last; nothing is
// allocated or freed any more.
// CHECK: module attributes {ftc.abi = [{kind = "param", name = "w", type = tensor<4xf32>}, {kind = "workspace", name = "workspace", type = tensor<192xi8>}]
// CHECK-SAME: ftc.memory = {heap_allocations = 0 : i64, param = 16 : i64, workspace = 192 : i64}
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%[[W:.+]]: memref<4xf32>, %[[WS:.+]]: memref<192xi8>)
// CHECK-SAME: ftc.abi_indices = array<i64: 0, 1>
// CHECK: %[[C128:.+]] = arith.constant 128 : index
// CHECK: memref.view %[[WS]][%[[C128]]][] : memref<192xi8> to memref<16xf32>
// CHECK: %[[C0:.+]] = arith.constant 0 : index
// CHECK: memref.view %[[WS]][%[[C0]]][] : memref<192xi8> to memref<32xf32>
// CHECK: %[[C0B:.+]] = arith.constant 0 : index
// CHECK: memref.view %[[WS]][%[[C0B]]][] : memref<192xi8> to memref<8x4xf32>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
module attributes {ftc.abi = [{kind = "param", name = "w", type = tensor<4xf32>}]} {
  func.func @step(%w: memref<4xf32>) attributes {ftc.entry = "step", ftc.abi_indices = array<i64: 0>} {
    %a = memref.alloc() : memref<16xf32>
    %b = memref.alloc() : memref<32xf32>
    "test.use"(%a, %b, %w) : (memref<16xf32>, memref<32xf32>, memref<4xf32>) -> ()
    memref.dealloc %a : memref<16xf32>
    memref.dealloc %b : memref<32xf32>
    %c = memref.alloc() : memref<8x4xf32>
    "test.use"(%c) : (memref<8x4xf32>) -> ()
    memref.dealloc %c : memref<8x4xf32>
    return
  }
}

// -----

// A buffer freed in a branch stays on the heap, and the report says so.
// CHECK: ftc.memory = {heap_allocations = 1 : i64, workspace = 64 : i64}
// CHECK-LABEL: func.func @step
// CHECK: memref.alloc
module attributes {ftc.abi = []} {
  func.func @step(%flag: i1) attributes {ftc.entry = "step", ftc.abi_indices = array<i64>} {
    %a = memref.alloc() : memref<16xf32>
    scf.if %flag {
      memref.dealloc %a : memref<16xf32>
    }
    return
  }
}

