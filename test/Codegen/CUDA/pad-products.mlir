// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-gpu-pad-products))' | FileCheck %s

// The LM head of a vocabulary of 50257 (gpt2's): the logits' rows are
// padded to 50264 (n, the result's innermost dimension): the weight gets 7
// zero rows, the result is computed whole and read through a slice.
// CHECK-LABEL: func.func @pad_n
// CHECK: %[[W:.*]] = tensor.pad %arg1 low[0, 0] high[7, 0]
// CHECK: } : tensor<50257x64xbf16> to tensor<50264x64xbf16>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<16x50264xf32>)
// CHECK: %[[P:.*]] = linalg.matmul {{.*}} ins(%arg0, %[[W]] : tensor<16x64xbf16>, tensor<50264x64xbf16>) outs(%[[Z]] : tensor<16x50264xf32>)
// CHECK: %[[S:.*]] = tensor.extract_slice %[[P]][0, 0] [16, 50257] [1, 1] : tensor<16x50264xf32> to tensor<16x50257xf32>
// CHECK: return %[[S]]
#a = affine_map<(m, n, k) -> (m, k)>
#bt = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @pad_n(%x: tensor<16x64xbf16>, %w: tensor<50257x64xbf16>) -> tensor<16x50257xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x50257xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<16x50257xf32>) -> tensor<16x50257xf32>
  %r = linalg.matmul indexing_maps = [#a, #bt, #c]
      ins(%x, %w : tensor<16x64xbf16>, tensor<50257x64xbf16>) outs(%z : tensor<16x50257xf32>) -> tensor<16x50257xf32>
  return %r : tensor<16x50257xf32>
}

// -----

// The logits' gradient, made by an elementwise op, read by the two
// gradient products: padded once (k of the input's gradient, m of the
// weight's), the elementwise op writing into the padded tensor (a slice of
// it, inserted back: in place after bufferization), whose padding alone is
// filled with zeros; the weight padded with zero rows along k; the weight
// gradient sliced back to 10 rows.
// CHECK-LABEL: func.func @pad_k_and_m
// CHECK: %[[WP:.*]] = tensor.pad %arg1 low[0, 0] high[6, 0]
// CHECK: %[[E:.*]] = tensor.empty() : tensor<16x16xbf16>
// CHECK: %[[PADDING:.*]] = tensor.extract_slice %[[E]][0, 10] [16, 6] [1, 1]
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%{{.*}} : bf16) outs(%[[PADDING]] : tensor<16x6xbf16>)
// CHECK: %[[FILL:.*]] = tensor.insert_slice %[[ZEROS]] into %[[E]][0, 10] [16, 6] [1, 1]
// CHECK: %[[DST:.*]] = tensor.extract_slice %[[FILL]][0, 0] [16, 10] [1, 1]
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<16x10xf32>) outs(%[[DST]] : tensor<16x10xbf16>)
// CHECK: %[[GP:.*]] = tensor.insert_slice %[[G]] into %[[FILL]][0, 0] [16, 10] [1, 1]
// CHECK: linalg.matmul ins(%[[GP]], %[[WP]] : tensor<16x16xbf16>, tensor<16x64xbf16>) outs(%{{.*}} : tensor<16x64xf32>)
// CHECK: %[[DW:.*]] = linalg.matmul {{.*}} ins(%[[GP]], %arg2 : tensor<16x16xbf16>, tensor<16x64xbf16>) outs(%{{.*}} : tensor<16x64xf32>)
// CHECK: tensor.extract_slice %[[DW]][0, 0] [10, 64] [1, 1] : tensor<16x64xf32> to tensor<10x64xf32>
// CHECK-NOT: tensor.pad
#id = affine_map<(d0, d1) -> (d0, d1)>
#at = affine_map<(m, n, k) -> (k, m)>
#b = affine_map<(m, n, k) -> (k, n)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @pad_k_and_m(%dlogits: tensor<16x10xf32>, %w: tensor<10x64xbf16>, %x: tensor<16x64xbf16>)
    -> (tensor<16x64xf32>, tensor<10x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x10xbf16>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%dlogits : tensor<16x10xf32>) outs(%e : tensor<16x10xbf16>) {
  ^bb0(%v: f32, %o: bf16):
    %t = arith.truncf %v : f32 to bf16
    linalg.yield %t : bf16
  } -> tensor<16x10xbf16>
  %e1 = tensor.empty() : tensor<16x64xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %dx = linalg.matmul ins(%g, %w : tensor<16x10xbf16>, tensor<10x64xbf16>) outs(%z1 : tensor<16x64xf32>) -> tensor<16x64xf32>
  %e2 = tensor.empty() : tensor<10x64xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<10x64xf32>) -> tensor<10x64xf32>
  %dw = linalg.matmul indexing_maps = [#at, #b, #c]
      ins(%g, %x : tensor<16x10xbf16>, tensor<16x64xbf16>) outs(%z2 : tensor<10x64xf32>) -> tensor<10x64xf32>
  return %dx, %dw : tensor<16x64xf32>, tensor<10x64xf32>
}

// -----

// Left as they are: rows of 16 bytes already; an odd dimension that is no
// operand's innermost (m = 10 rows of 64); a kind made of several loops
// (k = a head's [2, 5]: padding one would break its single stride).
// CHECK-LABEL: func.func @not_padded
// CHECK-NOT: tensor.pad
// CHECK-NOT: tensor.extract_slice
#a3 = affine_map<(m, n, h, d) -> (m, h, d)>
#b3 = affine_map<(m, n, h, d) -> (n, h, d)>
#c3 = affine_map<(m, n, h, d) -> (m, n)>
func.func @not_padded(%a: tensor<16x64xbf16>, %b: tensor<64x32xbf16>, %c: tensor<16x32xf32>,
                      %rows: tensor<10x64xbf16>, %c10: tensor<10x32xf32>,
                      %h: tensor<16x2x5xbf16>, %hb: tensor<32x2x5xbf16>) -> (tensor<16x32xf32>, tensor<10x32xf32>, tensor<16x32xf32>) {
  %0 = linalg.matmul ins(%a, %b : tensor<16x64xbf16>, tensor<64x32xbf16>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  %1 = linalg.matmul ins(%rows, %b : tensor<10x64xbf16>, tensor<64x32xbf16>) outs(%c10 : tensor<10x32xf32>) -> tensor<10x32xf32>
  %2 = linalg.generic {indexing_maps = [#a3, #b3, #c3], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%h, %hb : tensor<16x2x5xbf16>, tensor<32x2x5xbf16>) outs(%c : tensor<16x32xf32>) {
  ^bb0(%u: bf16, %v: bf16, %acc: f32):
    %uf = arith.extf %u : bf16 to f32
    %vf = arith.extf %v : bf16 to f32
    %p = arith.mulf %uf, %vf : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<16x32xf32>
  return %0, %1, %2 : tensor<16x32xf32>, tensor<10x32xf32>, tensor<16x32xf32>
}
