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

// -----

// The LM head's logits: the product's f32 sums rounded to bf16 and
// extended again for the loss, read through a reshape by a row's maximum
// and, one element a row, by the loss. The casts move past the reshape and
// into each reader (an element computed where it is extracted), so that no
// op writes the rounded logits: each reads the product's result rounded,
// which ftc-gpu-library-contractions then has the product write in bf16.
// (The reshape moves on into the product, as upstream's folding does.)
// CHECK-LABEL: func.func @logits
// CHECK: %[[P:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: outs(%{{.*}} : tensor<2x8x64xf32>)
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%[[P]] : tensor<2x8x64xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.truncf
// CHECK-NEXT: arith.extf
// CHECK-NEXT: arith.maximumf
// CHECK: linalg.generic
// CHECK: %[[X:.*]] = tensor.extract %[[P]]
// CHECK: %[[T:.*]] = arith.truncf %[[X]]
// CHECK: arith.extf %[[T]]
// CHECK-NOT: linalg.generic
// CHECK: return
#a = affine_map<(m, n, k) -> (m, k)>
#b = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#rows = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @logits(%x: tensor<16x32xbf16>, %w: tensor<64x32xbf16>, %init: tensor<16x64xf32>,
                  %maxInit: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %p = linalg.contract indexing_maps = [#a, #b, #c]
      ins(%x, %w : tensor<16x32xbf16>, tensor<64x32xbf16>) outs(%init : tensor<16x64xf32>) -> tensor<16x64xf32>
  %eb = tensor.empty() : tensor<16x64xbf16>
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<16x64xf32>) outs(%eb : tensor<16x64xbf16>) {
  ^bb0(%u: f32, %o: bf16):
    %t = arith.truncf %u : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16x64xbf16>
  %ef = tensor.empty() : tensor<16x64xf32>
  %f = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<16x64xbf16>) outs(%ef : tensor<16x64xf32>) {
  ^bb0(%u: bf16, %o: f32):
    %e = arith.extf %u : bf16 to f32
    linalg.yield %e : f32
  } -> tensor<16x64xf32>
  %v = tensor.expand_shape %f [[0, 1], [2]] output_shape [2, 8, 64] : tensor<16x64xf32> into tensor<2x8x64xf32>
  %max = linalg.generic {indexing_maps = [#id3, #rows], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%v : tensor<2x8x64xf32>) outs(%maxInit : tensor<2x8xf32>) {
  ^bb0(%u: f32, %acc: f32):
    %m = arith.maximumf %u, %acc : f32
    linalg.yield %m : f32
  } -> tensor<2x8xf32>
  %el = tensor.empty() : tensor<2x8xf32>
  %loss = linalg.generic {indexing_maps = [#id2], iterator_types = ["parallel", "parallel"]}
      outs(%el : tensor<2x8xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %c3 = arith.constant 3 : index
    %x3 = tensor.extract %v[%i, %j, %c3] : tensor<2x8x64xf32>
    linalg.yield %x3 : f32
  } -> tensor<2x8xf32>
  return %max, %loss : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// A layer norm backward's x̂ = (x - mean) rstd, over [rows, C], reads its
// row's mean and rstd (broadcasts) besides x: its row sum recomputes it,
// and so does the input gradient, which reads it as [batch, T, C] through
// an expansion: there x, the means and the rstds are expanded the same
// ([32] into [4, 8]). dy w over [batch, T, C] reads w along C; its row
// sum reads it collapsed into [rows, C] (and is then expanded back, with
// w read as it is), the input gradient as it is. x̂ and dy w are never
// computed into tensors of their own.
// CHECK-LABEL: func.func @broadcasts
// CHECK: %[[S1:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : tensor<32x16xf32>, tensor<32xf32>, tensor<32xf32>) outs(%{{.*}} : tensor<32xf32>)
// CHECK:   arith.subf
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK-DAG: %[[X3:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] output_shape [4, 8, 16] : tensor<32x16xf32> into tensor<4x8x16xf32>
// CHECK-DAG: %[[M3:.*]] = tensor.expand_shape %arg1 {{\[\[}}0, 1]] output_shape [4, 8] : tensor<32xf32> into tensor<4x8xf32>
// CHECK-DAG: %[[R3:.*]] = tensor.expand_shape %arg2 {{\[\[}}0, 1]] output_shape [4, 8] : tensor<32xf32> into tensor<4x8xf32>
// CHECK: %[[S2:.*]] = linalg.generic {{.*}} ins(%arg3, %arg4 : tensor<4x8x16xf32>, tensor<16xf32>) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK: %[[C2:.*]] = tensor.collapse_shape %[[S2]]
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[X3]], %[[M3]], %[[R3]], %arg3, %arg4 : tensor<4x8x16xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8x16xf32>, tensor<16xf32>)
// CHECK: return %[[S1]], %[[C2]], %[[OUT]]
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#c3 = affine_map<(d0, d1, d2) -> (d2)>
func.func @broadcasts(%x: tensor<32x16xf32>, %mean: tensor<32xf32>, %rstd: tensor<32xf32>,
                               %dy: tensor<4x8x16xf32>, %w: tensor<16xf32>) -> (tensor<32xf32>, tensor<32xf32>, tensor<4x8x16xf32>) {
  %e = tensor.empty() : tensor<32x16xf32>
  %xhat = linalg.generic {indexing_maps = [#id, #row, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %mean, %rstd : tensor<32x16xf32>, tensor<32xf32>, tensor<32xf32>) outs(%e : tensor<32x16xf32>) {
  ^bb0(%a: f32, %m: f32, %r: f32, %o: f32):
    %c = arith.subf %a, %m : f32
    %n = arith.mulf %c, %r : f32
    linalg.yield %n : f32
  } -> tensor<32x16xf32>
  %zero = arith.constant 0.0 : f32
  %se = tensor.empty() : tensor<32xf32>
  %s0 = linalg.fill ins(%zero : f32) outs(%se : tensor<32xf32>) -> tensor<32xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%xhat : tensor<32x16xf32>) outs(%s0 : tensor<32xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  %x3 = tensor.expand_shape %xhat [[0, 1], [2]] output_shape [4, 8, 16] : tensor<32x16xf32> into tensor<4x8x16xf32>
  %e3 = tensor.empty() : tensor<4x8x16xf32>
  %out = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x3, %dy : tensor<4x8x16xf32>, tensor<4x8x16xf32>) outs(%e3 : tensor<4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<4x8x16xf32>
  %dyw = linalg.generic {indexing_maps = [#id3, #c3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%dy, %w : tensor<4x8x16xf32>, tensor<16xf32>) outs(%e3 : tensor<4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<4x8x16xf32>
  %dyw2 = tensor.collapse_shape %dyw [[0, 1], [2]] : tensor<4x8x16xf32> into tensor<32x16xf32>
  %sum2 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%dyw2 : tensor<32x16xf32>) outs(%s0 : tensor<32xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  } -> tensor<32xf32>
  %out2 = linalg.generic {indexing_maps = [#id3, #id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%out, %dyw : tensor<4x8x16xf32>, tensor<4x8x16xf32>) outs(%e3 : tensor<4x8x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.subf %a, %b : f32
    linalg.yield %p : f32
  } -> tensor<4x8x16xf32>
  return %sum, %sum2, %out2 : tensor<32xf32>, tensor<32xf32>, tensor<4x8x16xf32>
}

// -----

// An activation (ftc.activation, which ftc-gpu-library-contractions hands
// to cuBLASLt's epilogue): the rounding of its input fuses into it and the
// fused op keeps the mark; an op that computes something else (a scale)
// does not fuse into it, so that the mark still says what the op computes.
// CHECK-LABEL: func.func @activation
// CHECK: %[[S:.*]] = linalg.generic
// CHECK: arith.mulf
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0, %[[S]] : tensor<16x64xf32>, tensor<16x64xbf16>)
// CHECK-SAME: attrs =  {ftc.activation = "gelu_tanh_grad"}
// CHECK-NEXT: ^bb0(%[[DY:.*]]: f32, %[[X:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT: arith.truncf %[[DY]] : f32 to bf16
// CHECK-NOT: linalg.generic
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @activation(%dy: tensor<16x64xf32>, %x: tensor<16x64xbf16>) -> tensor<16x64xbf16> {
  %e = tensor.empty() : tensor<16x64xbf16>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%dy : tensor<16x64xf32>) outs(%e : tensor<16x64xbf16>) {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16x64xbf16>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<16x64xbf16>) outs(%e : tensor<16x64xbf16>) {
  ^bb0(%in: bf16, %o: bf16):
    %m = arith.mulf %in, %in : bf16
    linalg.yield %m : bf16
  } -> tensor<16x64xbf16>
  %g = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r, %s : tensor<16x64xbf16>, tensor<16x64xbf16>) outs(%e : tensor<16x64xbf16>)
      attrs = {ftc.activation = "gelu_tanh_grad"} {
  ^bb0(%a: bf16, %b: bf16, %o: bf16):
    %m = arith.mulf %a, %b : bf16
    linalg.yield %m : bf16
  } -> tensor<16x64xbf16>
  return %g : tensor<16x64xbf16>
}
