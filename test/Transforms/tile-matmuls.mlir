// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-tile-matmuls))' | FileCheck %s
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-tile-matmuls{tile-m=4 tile-n=16}))' | FileCheck %s --check-prefix=T4X16

// A product as ftc-generalize-contractions writes it, loops (m, k, n):
// tiled into 2 x 32 blocks of C, loops (n, m, k). Each column block of B is
// first copied into a contiguous [K, 32] buffer; the block of C is read
// before the k loop, carried in registers (iter_args) and written after it;
// per k, a multiply and then an add, so each element still sums in k order.
// CHECK-LABEL: func.func @mm
// CHECK-SAME: (%[[A:.+]]: memref<8x6xf32>, %[[B:.+]]: memref<6x64xf32>, %[[C:.+]]: memref<8x64xf32>)
// CHECK: %[[P:.+]] = memref.alloc() : memref<6x32xf32>
// CHECK: scf.for %[[N:.+]] = %{{.+}} to %{{.+}} step %c32
// CHECK:   scf.for %[[KK:.+]] =
// CHECK:     %[[ROW:.+]] = vector.transfer_read %[[B]][%[[KK]], %[[N]]]{{.*}} vector<32xf32>
// CHECK:     vector.transfer_write %[[ROW]], %[[P]][%[[KK]], %{{.+}}]
// CHECK:   scf.for %[[M:.+]] = %{{.+}} to %{{.+}} step %c2
// CHECK:     %[[C0:.+]] = vector.transfer_read %[[C]][%[[M]], %[[N]]]{{.*}} vector<2x32xf32>
// CHECK:     %[[SUM:.+]] = scf.for %[[K:.+]] = {{.*}} iter_args(%[[ACC:.+]] = %[[C0]]) -> (vector<2x32xf32>)
// CHECK:       %[[AV:.+]] = vector.transfer_read %[[A]][%[[M]], %[[K]]]
// CHECK:       %[[BV:.+]] = vector.transfer_read %[[P]][%[[K]], %{{.+}}]
// CHECK:       %[[PROD:.+]] = arith.mulf %[[AV]], %[[BV]] : vector<2x1x32xf32>
// CHECK:       %[[FLAT:.+]] = vector.shape_cast %[[PROD]]
// CHECK:       %[[NEXT:.+]] = arith.addf %[[ACC]], %[[FLAT]] : vector<2x32xf32>
// CHECK:       scf.yield %[[NEXT]]
// CHECK:     vector.transfer_write %[[SUM]], %[[C]][%[[M]], %[[N]]]
// CHECK: memref.dealloc %[[P]]
// T4X16-LABEL: func.func @mm
// T4X16: memref.alloc() : memref<6x16xf32>
// T4X16: vector.transfer_read %{{.+}} : memref<8x64xf32>, vector<4x16xf32>
#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>
func.func @mm(%a: memref<8x6xf32>, %b: memref<6x64xf32>, %c: memref<8x64xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b : memref<8x6xf32>, memref<6x64xf32>) outs(%c : memref<8x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Batched (attention), with one B per batch: the batch loop stays outside.
// CHECK-LABEL: func.func @batched
// CHECK: memref.alloc() : memref<1x4x32xf32>
// CHECK: scf.for %[[I:.+]] =
// CHECK: scf.for %[[N:.+]] =
// CHECK: vector.transfer_read %{{.+}}[%[[I]], %{{.+}}, %[[N]]]{{.*}} : memref<3x4x32xf32>, vector<32xf32>
// CHECK: iter_args
#a3 = affine_map<(b, m, k, n) -> (b, m, k)>
#b3 = affine_map<(b, m, k, n) -> (b, k, n)>
#c3 = affine_map<(b, m, k, n) -> (b, m, n)>
func.func @batched(%a: memref<3x2x4xf32>, %b: memref<3x4x32xf32>, %c: memref<3x2x32xf32>) {
  linalg.generic {indexing_maps = [#a3, #b3, #c3], iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
      ins(%a, %b : memref<3x2x4xf32>, memref<3x4x32xf32>) outs(%c : memref<3x2x32xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// n = 10 is no multiple of the tile, and a max is not a product: both stay.
// CHECK-LABEL: func.func @untouched
// CHECK-NOT: vector.
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-NOT: vector.
#a = affine_map<(m, k, n) -> (m, k)>
#b = affine_map<(m, k, n) -> (k, n)>
#c = affine_map<(m, k, n) -> (m, n)>
func.func @untouched(%a: memref<8x6xf32>, %b: memref<6x10xf32>, %c: memref<8x10xf32>,
                     %b2: memref<6x64xf32>, %c2: memref<8x64xf32>) {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b : memref<8x6xf32>, memref<6x10xf32>) outs(%c : memref<8x10xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b2 : memref<8x6xf32>, memref<6x64xf32>) outs(%c2 : memref<8x64xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
