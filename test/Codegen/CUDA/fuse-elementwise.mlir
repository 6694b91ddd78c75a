// RUN: ftc-opt %s --split-input-file --ftc-gpu-fuse-elementwise | FileCheck %s

// A layer norm's scale applied to x, then the product that reads it (a
// forward-only LM head): the scale stays its own op and the product stays a
// product (cuBLASLt's), not one kernel recomputing the scale per output.
// CHECK-LABEL: func.func @keeps_product
// CHECK: %[[S:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: arith.mulf
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[S]], %arg1 :
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @keeps_product(%x: tensor<64x256xf32>, %w: tensor<512x256xf32>, %gamma: tensor<256xf32>,
                         %out: tensor<64x512xf32>) -> tensor<64x512xf32> {
  %e = tensor.empty() : tensor<64x256xf32>
  %s = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %gamma : tensor<64x256xf32>, tensor<256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %g: f32, %o: f32):
    %m = arith.mulf %u, %g : f32
    linalg.yield %m : f32
  } -> tensor<64x256xf32>
  %p = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%s, %w : tensor<64x256xf32>, tensor<512x256xf32>) outs(%out : tensor<64x512xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %m = arith.mulf %u, %v : f32
    %r = arith.addf %acc, %m : f32
    linalg.yield %r : f32
  } -> tensor<64x512xf32>
  return %p : tensor<64x512xf32>
}

// -----

// Elsewhere it is upstream's fusion: an exp into the row sum that reads it
// (one op), and two elementwise ops into one.
// CHECK-LABEL: func.func @fuses_the_rest
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: linalg.generic
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @fuses_the_rest(%x: tensor<64x256xf32>, %acc: tensor<64xf32>)
    -> (tensor<64xf32>, tensor<64x256xf32>) {
  %e = tensor.empty() : tensor<64x256xf32>
  %ex = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %o: f32):
    %m = math.exp %u : f32
    linalg.yield %m : f32
  } -> tensor<64x256xf32>
  %sum = linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
      ins(%ex : tensor<64x256xf32>) outs(%acc : tensor<64xf32>) {
  ^bb0(%u: f32, %a: f32):
    %r = arith.addf %u, %a : f32
    linalg.yield %r : f32
  } -> tensor<64xf32>
  %sq = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %o: f32):
    %m = arith.mulf %u, %u : f32
    linalg.yield %m : f32
  } -> tensor<64x256xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%sq, %x : tensor<64x256xf32>, tensor<64x256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %m = arith.addf %u, %v : f32
    linalg.yield %m : f32
  } -> tensor<64x256xf32>
  return %sum, %y : tensor<64xf32>, tensor<64x256xf32>
}
