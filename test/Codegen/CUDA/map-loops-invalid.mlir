// RUN: ftc-opt %s --ftc-gpu-map-loops --split-input-file --verify-diagnostics

// A size the device computes cannot shape a buffer the host allocates.
func.func @host_needs(%x: memref<f32>) {
  // expected-error@+1 {{a value computed on the GPU is needed by the host code here}}
  %v = memref.load %x[] : memref<f32>
  %i = arith.fptosi %v : f32 to i64
  %n = arith.index_cast %i : i64 to index
  // expected-note@+1 {{by}}
  %a = memref.alloc(%n) : memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  return
}

// -----

func.func @carried(%x: memref<64xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  // expected-error@+1 {{a loop around parallel loops that carries values cannot run on the host}}
  %r = scf.for %k = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
    scf.parallel (%j) = (%c0) to (%c64) step (%c1) {
      memref.store %acc, %x[%j] : memref<64xf32>
      scf.reduce
    }
    scf.yield %acc : f32
  }
  return %r : f32
}
