// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-gpu-split-reductions{split-rows=true}))' | FileCheck %s
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-gpu-split-reductions))' | FileCheck %s --check-prefix=ROWS

// By default the rows of 64 or more (ftc-gpu-row-kernels' warps') are left
// whole; fewer rows (8, 4: a warp each would leave the GPU idle) are split
// as with split-rows, and columns are split either way.
// ROWS-LABEL: func.func @row_sum
// ROWS-NOT: tensor.expand_shape
// ROWS: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<64x1024xf32>)
// ROWS-NOT: linalg.generic
// ROWS-LABEL: func.func @row_max
// ROWS: tensor.expand_shape {{.*}} output_shape [8, 8, 32]
// ROWS-LABEL: func.func @row_max_odd
// ROWS: output_shape [4, 1733, 29]
// ROWS-LABEL: func.func @column_sum
// ROWS: tensor.expand_shape
// ROWS-LABEL: func.func @row_max_indices
// ROWS-NOT: tensor.empty
// ROWS: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<64x1024xf32>)
// ROWS-NOT: linalg.generic
// ROWS-LABEL: func.func @not_split

// A row's sum (a softmax's, a layer norm's): 32 lanes, lane i summing
// elements i, i + 32, ... of its row (the new parallel dimension is the
// innermost one, so neighbouring threads read neighbouring elements), then
// one thread per row adding its 32 partial sums to the row's initial value.
// CHECK-DAG: #[[$IN:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$PART:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @row_sum
// CHECK: %[[X:.*]] = tensor.expand_shape %arg0 {{\[}}[0], [1, 2]] output_shape [64, 32, 32]
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<64x32xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$PART]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[X]] : tensor<64x32x32xf32>) outs(%[[ZERO]] : tensor<64x32xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[P]] : tensor<64x32xf32>) outs(%arg1 : tensor<64xf32>)
// CHECK:   arith.addf
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @row_sum(%x: tensor<64x1024xf32>, %init: tensor<64xf32>) -> tensor<64xf32> {
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<64x1024xf32>) outs(%init : tensor<64xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  return %r : tensor<64xf32>
}

// -----

// A row's maximum: the same split, the partials starting from maximumf's
// identity.
// CHECK-LABEL: func.func @row_max
// CHECK: tensor.expand_shape {{.*}} output_shape [8, 8, 32]
// CHECK: %[[ID:.*]] = arith.constant 0xFF800000 : f32
// CHECK: linalg.fill ins(%[[ID]] : f32)
// CHECK: iterator_types = ["parallel", "reduction", "parallel"]
// CHECK:   arith.maximumf
// CHECK: iterator_types = ["parallel", "reduction"]
// CHECK:   arith.maximumf
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_max(%x: tensor<8x256xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<8x256xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.maximumf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// A row 32 does not divide (gpt2's vocabulary, 50257 = 29 x 1733): the
// divisor nearest 32 between 16 and 64, 29 lanes of 1733 elements. A row
// of prime length (1031) has none and stays in one thread.
// CHECK-LABEL: func.func @row_max_odd
// CHECK: tensor.expand_shape %arg0 {{\[}}[0], [1, 2]] output_shape [4, 1733, 29]
// CHECK: iterator_types = ["parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%{{.*}} : tensor<4x1733x29xf32>) outs(%{{.*}} : tensor<4x29xf32>)
// CHECK:   arith.maximumf
// CHECK: iterator_types = ["parallel", "reduction"]} ins(%{{.*}} : tensor<4x29xf32>)
// CHECK-NOT: tensor.expand_shape
// CHECK: iterator_types = ["parallel", "reduction"]} ins(%arg2 : tensor<4x1031xf32>)
// CHECK-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_max_odd(%x: tensor<4x50257xf32>, %init: tensor<4xf32>, %p: tensor<4x1031xf32>)
    -> (tensor<4xf32>, tensor<4xf32>) {
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x50257xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.maximumf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %q = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%p : tensor<4x1031xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.maximumf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %r, %q : tensor<4xf32>, tensor<4xf32>
}

// -----

// A column's sum (a bias gradient over 8192 rows, 768 threads): runs of
// rows, as many as make 32768 threads or more (64 runs of 128 rows: 49152
// threads), the column still the innermost parallel dimension.
// CHECK-LABEL: func.func @column_sum
// CHECK: tensor.expand_shape %arg0 {{\[}}[0, 1], [2]] output_shape [64, 128, 768]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}} : tensor<64x128x768xf32>) outs(%{{.*}} : tensor<64x768xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%{{.*}} : tensor<64x768xf32>) outs(%arg1 : tensor<768xf32>)
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @column_sum(%g: tensor<8192x768xf32>, %init: tensor<768xf32>) -> tensor<768xf32> {
  %r = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%g : tensor<8192x768xf32>) outs(%init : tensor<768xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %a, %acc : f32
    linalg.yield %s : f32
  } -> tensor<768xf32>
  return %r : tensor<768xf32>
}

// -----

// A sum over two reduced dimensions with too few outputs (a layer norm's
// weight gradient, in the lowering's blocked order: batch 8 and 32 blocks
// of 32 rows reduced, 32 lanes x 768 columns out, 24,576 threads; the
// blocks' count given by an operand, as the lowering does): the batch
// becomes an output dimension of partial sums from 0 (196,608 threads of 32
// rows), then one sum over the batch into the outputs.
// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 32 + d2, d3)>
// CHECK-DAG: #[[$R:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 32 + d2)>
// CHECK-DAG: #[[$B:.*]] = affine_map<(d0, d1, d2, d3) -> (d1)>
// CHECK-DAG: #[[$P:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[$ALL:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$OUT:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @blocked_column_sum
// CHECK: %[[E:.*]] = tensor.empty() : tensor<8x32x768xf32>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]] : tensor<8x32x768xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[$X]], #[[$R]], #[[$B]], #[[$P]]], iterator_types = ["parallel", "reduction", "parallel", "parallel"]}
// CHECK-SAME: outs(%[[Z]] : tensor<8x32x768xf32>)
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK: linalg.generic {indexing_maps = [#[[$ALL]], #[[$OUT]]], iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[P]] : tensor<8x32x768xf32>) outs(%arg3 : tensor<32x768xf32>)
// CHECK:   arith.addf
#x = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 32 + d2, d3)>
#r = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 32 + d2)>
#b = affine_map<(d0, d1, d2, d3) -> (d1)>
#o = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
func.func @blocked_column_sum(%g: tensor<8x1024x768xf32>, %s: tensor<8x1024xf32>,
                              %blocks: tensor<32xf32>, %init: tensor<32x768xf32>)
    -> tensor<32x768xf32> {
  %r = linalg.generic {indexing_maps = [#x, #r, #b, #o],
                       iterator_types = ["reduction", "reduction", "parallel", "parallel"]}
      ins(%g, %s, %blocks : tensor<8x1024x768xf32>, tensor<8x1024xf32>, tensor<32xf32>)
      outs(%init : tensor<32x768xf32>) {
  ^bb0(%a: f32, %b: f32, %unused: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %t = arith.addf %p, %acc : f32
    linalg.yield %t : f32
  } -> tensor<32x768xf32>
  return %r : tensor<32x768xf32>
}

// -----

// A row's sum whose body reads its indices (a causal mask fused into a
// softmax's maximum or sum): split here, not by upstream (which takes no
// linalg.index): the row's index in the body is block * 32 + lane, the
// blocks' count given by a 32-element operand, then the lanes reduced.
// CHECK-DAG: #[[$X:.*]] = affine_map<(d0, d1, d2) -> (d0, d1 * 32 + d2)>
// CHECK-DAG: #[[$B:.*]] = affine_map<(d0, d1, d2) -> (d1)>
// CHECK-DAG: #[[$P:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @row_max_indices
// CHECK: %[[BLOCKS:.*]] = tensor.empty() : tensor<32xf32>
// CHECK: %[[ID:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[Z:.*]] = linalg.fill ins(%[[ID]] : f32) outs(%{{.*}} : tensor<64x32xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[$X]], #[[$B]], #[[$P]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%arg0, %[[BLOCKS]] : tensor<64x1024xf32>, tensor<32xf32>) outs(%[[Z]] : tensor<64x32xf32>)
// CHECK:   %[[I:.*]] = linalg.index 0
// CHECK:   %[[BLOCK:.*]] = linalg.index 1
// CHECK:   %[[LANE:.*]] = linalg.index 2
// CHECK:   %[[SCALED:.*]] = arith.muli %[[BLOCK]], %{{.*}}
// CHECK:   %[[J:.*]] = arith.addi %[[SCALED]], %[[LANE]]
// CHECK:   arith.cmpi ule, %[[J]], %[[I]]
// CHECK:   arith.maximumf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[P]] : tensor<64x32xf32>) outs(%arg1 : tensor<64xf32>)
// CHECK:   arith.maximumf
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @row_max_indices(%x: tensor<64x1024xf32>, %rows: tensor<64xf32>) -> tensor<64xf32> {
  %r = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<64x1024xf32>) outs(%rows : tensor<64xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %seen = arith.cmpi ule, %j, %i : index
    %ninf = arith.constant 0xFF800000 : f32
    %m = arith.select %seen, %v, %ninf : f32
    %s = arith.maximumf %m, %acc : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  return %r : tensor<64xf32>
}

// -----

// Left as they are: a row too short for 32 lanes of 8, a product
// (cuBLASLt's), two reduced dimensions with outputs enough for the threads
// (32768).
// CHECK-LABEL: func.func @not_split
// CHECK-NOT: tensor.expand_shape
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
#x3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#r3 = affine_map<(d0, d1, d2) -> (d0)>
func.func @not_split(%short: tensor<64x128xf32>, %rows: tensor<64xf32>,
                     %a: tensor<64x1024xf32>, %b: tensor<1024x64xf32>, %c: tensor<64x64xf32>,
                     %t: tensor<32768x4x8xf32>, %many: tensor<32768xf32>)
    -> (tensor<64xf32>, tensor<64x64xf32>, tensor<32768xf32>) {
  %0 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%short : tensor<64x128xf32>) outs(%rows : tensor<64xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<64xf32>
  %2 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %b : tensor<64x1024xf32>, tensor<1024x64xf32>) outs(%c : tensor<64x64xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %p = arith.mulf %u, %v : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<64x64xf32>
  %3 = linalg.generic {indexing_maps = [#x3, #r3], iterator_types = ["parallel", "reduction", "reduction"]}
      ins(%t : tensor<32768x4x8xf32>) outs(%many : tensor<32768xf32>) {
  ^bb0(%v: f32, %acc: f32):
    %s = arith.addf %v, %acc : f32
    linalg.yield %s : f32
  } -> tensor<32768xf32>
  return %0, %2, %3 : tensor<64xf32>, tensor<64x64xf32>, tensor<32768xf32>
}

// -----

// A product fused with its neighbours (a layer norm's scale and shift
// applied to x as the LM head reads it): not a contraction, so cuBLASLt
// does not take it, and not split either: the weight is read along the
// reduced dimension but shared by every row, so the partial sums would be
// the whole [64, 512] output times 32 lanes. Its 32,768 outputs are
// threads enough.
// CHECK-LABEL: func.func @fused_product
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: linalg.generic
#xa = affine_map<(m, n, k) -> (m, k)>
#wa = affine_map<(m, n, k) -> (n, k)>
#ga = affine_map<(m, n, k) -> (k)>
#oa = affine_map<(m, n, k) -> (m, n)>
func.func @fused_product(%x: tensor<64x1024xf32>, %w: tensor<512x1024xf32>,
                         %gamma: tensor<1024xf32>, %out: tensor<64x512xf32>) -> tensor<64x512xf32> {
  %0 = linalg.generic {indexing_maps = [#xa, #wa, #ga, #oa],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %gamma : tensor<64x1024xf32>, tensor<512x1024xf32>, tensor<1024xf32>)
      outs(%out : tensor<64x512xf32>) {
  ^bb0(%u: f32, %v: f32, %g: f32, %acc: f32):
    %n = arith.mulf %u, %g : f32
    %p = arith.mulf %n, %v : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<64x512xf32>
  return %0 : tensor<64x512xf32>
}
