// RUN: ftc-opt %s --ftc-parallel-to-openmp | FileCheck %s

// A 2-D parallel loop as one OpenMP team: the 3 x 4 iterations flattened,
// thread t running t, t + n, ...; the indices recovered last-fastest. No
// worksharing loop (libomp's scheduler allocates on each one).
// CHECK-DAG: func.func private @omp_get_thread_num() -> i32
// CHECK-DAG: func.func private @omp_get_num_threads() -> i32
// CHECK-LABEL: func.func @blocks
// CHECK: omp.parallel {
// CHECK: %[[T:.+]] = func.call @omp_get_thread_num() : () -> i32
// CHECK: %[[TI:.+]] = arith.index_cast %[[T]] : i32 to index
// CHECK: %[[N:.+]] = func.call @omp_get_num_threads() : () -> i32
// CHECK: %[[NI:.+]] = arith.index_cast %[[N]] : i32 to index
// CHECK: scf.for %[[I:.+]] = %[[TI]] to %{{.+}} step %[[NI]] {
// CHECK: arith.remui %[[I]]
// CHECK: arith.divui %[[I]]
// CHECK: memref.store
// CHECK: omp.terminator
// CHECK-NOT: omp.wsloop
// CHECK-NOT: scf.parallel
func.func @blocks(%m: memref<6x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  %v = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c6, %c4) step (%c2, %c1) {
    memref.store %v, %m[%i, %j] : memref<6x4xf32>
    scf.reduce
  }
  return
}

