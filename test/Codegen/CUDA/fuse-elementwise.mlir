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

// -----

// Probabilities kept in f32 for a later user and rounded to bf16 by a cast
// that reads nothing else: one op computes the exponential once and writes
// both, and the later user reads its f32 result (upstream's pattern would
// compute the exponential twice, once in the cast).
// CHECK-LABEL: func.func @fused_with_cast
// CHECK: %[[F:.*]]:2 = linalg.generic
// CHECK-SAME: outs(%{{.*}}, %{{.*}} : tensor<64x256xf32>, tensor<64x256xbf16>)
// CHECK: math.exp
// CHECK-NOT: math.exp
// CHECK: arith.truncf
// CHECK: linalg.yield
// CHECK: linalg.generic {{.*}} ins(%[[F]]#0 : tensor<64x256xf32>)
// CHECK: return %[[F]]#1, %{{.*}}
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @fused_with_cast(%s: tensor<64x256xf32>, %out: tensor<64xf32>)
    -> (tensor<64x256xbf16>, tensor<64xf32>) {
  %e = tensor.empty() : tensor<64x256xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<64x256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %o: f32):
    %x = math.exp %u : f32
    linalg.yield %x : f32
  } -> tensor<64x256xf32>
  %eb = tensor.empty() : tensor<64x256xbf16>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<64x256xf32>) outs(%eb : tensor<64x256xbf16>) {
  ^bb0(%u: f32, %o: bf16):
    %t = arith.truncf %u : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<64x256xbf16>
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%p : tensor<64x256xf32>) outs(%out : tensor<64xf32>) {
  ^bb0(%u: f32, %acc: f32):
    %a = arith.addf %u, %acc : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  return %b, %r : tensor<64x256xbf16>, tensor<64xf32>
}

// -----

// A cheap producer (a scale and a mask of its indices) read by a row's
// maximum and by a normalization: computed again in each (two fused ops,
// each reading x itself) rather than written once and read back twice.
// CHECK-LABEL: func.func @copied_into_consumers
// CHECK: %[[MAX:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "reduction"]
// CHECK-SAME: ins(%arg0 : tensor<64x256xf32>)
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: arith.maximumf
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins(%arg0, %[[MAX]] : tensor<64x256xf32>, tensor<64xf32>)
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: arith.subf
// CHECK-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @copied_into_consumers(%x: tensor<64x256xf32>, %init: tensor<64xf32>) -> tensor<64x256xf32> {
  %e = tensor.empty() : tensor<64x256xf32>
  %m = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x256xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %eight = arith.constant 8.0 : f32
    %s = arith.divf %u, %eight : f32
    %masked = arith.cmpi ugt, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %r = arith.select %masked, %ninf, %s : f32
    linalg.yield %r : f32
  } -> tensor<64x256xf32>
  %max = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%m : tensor<64x256xf32>) outs(%init : tensor<64xf32>) {
  ^bb0(%u: f32, %acc: f32):
    %a = arith.maximumf %u, %acc : f32
    linalg.yield %a : f32
  } -> tensor<64xf32>
  %d = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%m, %max : tensor<64x256xf32>, tensor<64xf32>) outs(%e : tensor<64x256xf32>) {
  ^bb0(%u: f32, %v: f32, %o: f32):
    %a = arith.subf %u, %v : f32
    linalg.yield %a : f32
  } -> tensor<64x256xf32>
  return %d : tensor<64x256xf32>
}
