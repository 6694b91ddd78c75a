// RUN: ftc-opt %s --split-input-file --allow-unregistered-dialect --ftc-plan-memory --verify-diagnostics -o /dev/null

// expected-error @below {{no buffer layout (ftc.abi): run ftc-bind-abi before ftc-plan-memory}}
module {
}

// -----

// A buffer read after its deallocation, through a view of it inside a
// loop: the plan would give its bytes to %b, written meanwhile; an error
// (an earlier pass's bug) instead of a step that reads another buffer's
// values.
module attributes {ftc.abi = []} {
  func.func @step() attributes {ftc.entry = "step", ftc.abi_indices = array<i64>} {
    // expected-note @below {{the buffer}}
    %a = memref.alloc() : memref<4x8xf32>
    %v = memref.subview %a[0, 0] [4, 4] [1, 1] : memref<4x8xf32> to memref<4x4xf32, strided<[8, 1]>>
    // expected-note @below {{its deallocation}}
    memref.dealloc %a : memref<4x8xf32>
    %b = memref.alloc() : memref<4x8xf32>
    "test.use"(%b) : (memref<4x8xf32>) -> ()
    memref.dealloc %b : memref<4x8xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    // expected-error @below {{internal error: a buffer is used after its deallocation}}
    scf.for %i = %c0 to %c4 step %c1 {
      "test.use"(%v) : (memref<4x4xf32, strided<[8, 1]>>) -> ()
    }
    return
  }
}

// -----

// The same through its address (a library call's operand).
module attributes {ftc.abi = []} {
  func.func private @library(index)
  func.func @step() attributes {ftc.entry = "step", ftc.abi_indices = array<i64>} {
    // expected-note @below {{the buffer}}
    %a = memref.alloc() : memref<16xf32>
    %p = memref.extract_aligned_pointer_as_index %a : memref<16xf32> -> index
    %c8 = arith.constant 8 : index
    %q = arith.addi %p, %c8 : index
    // expected-note @below {{its deallocation}}
    memref.dealloc %a : memref<16xf32>
    // expected-error @below {{internal error: a buffer is used after its deallocation}}
    func.call @library(%q) : (index) -> ()
    return
  }
}
