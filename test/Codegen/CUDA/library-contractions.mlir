// RUN: ftc-opt %s --split-input-file --ftc-gpu-library-contractions=bias-epilogue=false | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-gpu-library-contractions | FileCheck %s --check-prefix=EPI
// RUN: ftc-opt %s --split-input-file --ftc-gpu-library-contractions=gelu-epilogue=false | FileCheck %s --check-prefix=NOGELU

// A plain product after a zero fill: the fill goes (beta = 0), the product
// is a call with its descriptor [version, operand type, result type,
// batch, m, n, k, A's strides (batch, m, k), B's (batch, k, n), C's
// (batch, m, n), beta, bias, activation], the three buffers' addresses
// and 0 twice (no bias, no aux matrix); one product counted.
// CHECK: func.func private @ftcrt_gemm(index, index, index, index, index, index)
// CHECK: memref.global constant @ftcrt_gemm_count : memref<1xi32> = dense<1>
// CHECK: memref.global "private" constant @ftc_gemm_0 : memref<19xi64> = dense<[3, 0, 0, 1, 8, 16, 32, 0, 32, 1, 0, 16, 1, 0, 16, 1, 0, 0, 0]>
// CHECK-LABEL: func.func @plain
// CHECK-NOT: linalg.fill
// CHECK: %[[D:.*]] = memref.get_global @ftc_gemm_0
// CHECK: %[[DP:.*]] = memref.extract_aligned_pointer_as_index %[[D]]
// CHECK: %[[AP:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[BP:.*]] = memref.extract_aligned_pointer_as_index %arg1
// CHECK: %[[CP:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK: %[[NONE:.*]] = arith.constant 0 : index
// CHECK: call @ftcrt_gemm(%[[DP]], %[[AP]], %[[BP]], %[[CP]], %[[NONE]], %[[NONE]])
// CHECK-NOT: linalg.contract
func.func @plain(%a: memref<8x32xf32>, %b: memref<32x16xf32>, %c: memref<8x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<8x16xf32>)
  linalg.matmul ins(%a, %b : memref<8x32xf32>, memref<32x16xf32>) outs(%c : memref<8x16xf32>)
  return
}

// -----

// linear's product: bf16 operands, f32 sums, the weight [out, in] read
// transposed by the map (B's k stride 1, n stride 64), the accumulator
// holding the bias (no fill: beta = 1).
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 0, 1, 4, 32, 64, 0, 64, 1, 0, 1, 64, 0, 32, 1, 1, 0, 0]>
// CHECK-LABEL: func.func @linear
// CHECK: call @ftcrt_gemm
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhsT = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
func.func @linear(%x: memref<4x64xbf16>, %w: memref<32x64xbf16>, %y: memref<4x32xf32>) {
  linalg.contract indexing_maps = [#lhs, #rhsT, #out]
      ins(%x, %w : memref<4x64xbf16>, memref<32x64xbf16>) outs(%y : memref<4x32xf32>)
  return
}

// -----

// Attention's scores: batch dimensions [batch, head] collapse into one
// (16 = 2 x 8 products), q and k are views into one qkv buffer at offsets,
// read in place: each address is the aligned pointer plus the view's offset
// in bytes.
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 2, 0, 16, 128, 128, 64, 24576, 192, 1, 24576, 1, 192, 16384, 128, 1, 0, 0, 0]>
// CHECK-LABEL: func.func @scores
// CHECK: %[[KP:.*]] = memref.extract_aligned_pointer_as_index %[[K:subview_[0-9]+]] :
// CHECK: %{{[a-z0-9_]+}}, %[[OFF:[a-z0-9_]+]], %{{[a-z0-9_]+}}:4, %{{[a-z0-9_]+}}:4 = memref.extract_strided_metadata %[[K]]
// CHECK: %[[BYTES:.*]] = arith.muli %[[OFF]], %c2
// CHECK: %[[KA:.*]] = arith.addi %[[KP]], %[[BYTES]]
// CHECK: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %[[KA]],
#q = affine_map<(b, h, m, n, k) -> (b, h, m, k)>
#k = affine_map<(b, h, m, n, k) -> (b, h, n, k)>
#s = affine_map<(b, h, m, n, k) -> (b, h, m, n)>
func.func @scores(%qkv: memref<2x8x128x192xf16>, %scores: memref<2x8x128x128xf32>) {
  %zero = arith.constant 0.0 : f32
  %q = memref.subview %qkv[0, 0, 0, 0] [2, 8, 128, 64] [1, 1, 1, 1]
      : memref<2x8x128x192xf16> to memref<2x8x128x64xf16, strided<[196608, 24576, 192, 1]>>
  %k = memref.subview %qkv[0, 0, 0, 64] [2, 8, 128, 64] [1, 1, 1, 1]
      : memref<2x8x128x192xf16> to memref<2x8x128x64xf16, strided<[196608, 24576, 192, 1], offset: 64>>
  linalg.fill ins(%zero : f32) outs(%scores : memref<2x8x128x128xf32>)
  linalg.contract indexing_maps = [#q, #k, #s]
      ins(%q, %k : memref<2x8x128x64xf16, strided<[196608, 24576, 192, 1]>>,
                   memref<2x8x128x64xf16, strided<[196608, 24576, 192, 1], offset: 64>>)
      outs(%scores : memref<2x8x128x128xf32>)
  return
}

// -----

// A product as elementwise fusion leaves it, reshapes folded in: attention's
// output projection y[b, t, o] = sum over (h, d) of x[b, t, h, d] w[o, h, d].
// The rows (b, t) and the reduced (h, d) each collapse into one stride:
// m = 32 rows, k = 32; no fill before it (beta = 1).
// CHECK: dense<[3, 0, 0, 1, 32, 32, 32, 0, 32, 1, 0, 1, 32, 0, 32, 1, 1, 0, 0]>
// CHECK-LABEL: func.func @heads
// CHECK: call @ftcrt_gemm
// CHECK-NOT: linalg.generic
#x = affine_map<(b, t, o, h, d) -> (b, t, h, d)>
#w = affine_map<(b, t, o, h, d) -> (o, h, d)>
#y = affine_map<(b, t, o, h, d) -> (b, t, o)>
func.func @heads(%x: memref<2x16x4x8xf32>, %w: memref<32x4x8xf32>, %y: memref<2x16x32xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #y],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<2x16x4x8xf32>, memref<32x4x8xf32>) outs(%y : memref<2x16x32xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A fill that something reads before the product is kept, and the product
// adds to it (beta = 1).
// CHECK: dense<[3, 0, 0, 1, 8, 16, 32, 0, 32, 1, 0, 16, 1, 0, 16, 1, 1, 0, 0]>
// CHECK-LABEL: func.func @fill_read_between
// CHECK: linalg.fill
// CHECK: memref.copy
// CHECK: call @ftcrt_gemm
func.func @fill_read_between(%a: memref<8x32xf32>, %b: memref<32x16xf32>, %c: memref<8x16xf32>,
                             %keep: memref<8x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<8x16xf32>)
  memref.copy %c, %keep : memref<8x16xf32> to memref<8x16xf32>
  linalg.matmul ins(%a, %b : memref<8x32xf32>, memref<32x16xf32>) outs(%c : memref<8x16xf32>)
  return
}

// -----

// What cuBLAS cannot read stays a linalg op (a kernel): an operand with no
// unit stride (every other column), a batch whose dimensions do not
// collapse into one stride, f64, reduced dimensions [h, d] that a weight
// stores apart ([h, o, d]); a step without products gets no count.
// CHECK-NOT: ftcrt_gemm_count
// CHECK-LABEL: func.func @not_blas
// CHECK-NOT: call
// CHECK: linalg.matmul
// CHECK: linalg.contract
// CHECK: linalg.matmul
// CHECK: linalg.generic
func.func @not_blas(%a: memref<8x64xf32>, %b: memref<32x16xf32>, %c: memref<8x16xf32>,
                    %x: memref<2x4x8x32xf32>, %y: memref<2x4x32x16xf32>,
                    %z: memref<4x2x8x16xf32>,
                    %d: memref<8x32xf64>, %e: memref<32x16xf64>, %f: memref<8x16xf64>,
                    %hx: memref<2x16x4x8xf32>, %hw: memref<4x32x8xf32>, %hy: memref<2x16x32xf32>) {
  %strided = memref.subview %a[0, 0] [8, 32] [1, 2]
      : memref<8x64xf32> to memref<8x32xf32, strided<[64, 2]>>
  linalg.matmul ins(%strided, %b : memref<8x32xf32, strided<[64, 2]>>, memref<32x16xf32>)
      outs(%c : memref<8x16xf32>)
  // The result's batch dimensions are [h, b]: not one stride for (b, h).
  %zt = memref.transpose %z (h, b, m, n) -> (b, h, m, n)
      : memref<4x2x8x16xf32> to memref<2x4x8x16xf32, strided<[128, 256, 16, 1]>>
  linalg.contract indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>,
                                   affine_map<(b, h, m, n, k) -> (b, h, k, n)>,
                                   affine_map<(b, h, m, n, k) -> (b, h, m, n)>]
      ins(%x, %y : memref<2x4x8x32xf32>, memref<2x4x32x16xf32>)
      outs(%zt : memref<2x4x8x16xf32, strided<[128, 256, 16, 1]>>)
  linalg.matmul ins(%d, %e : memref<8x32xf64>, memref<32x16xf64>) outs(%f : memref<8x16xf64>)
  linalg.generic {indexing_maps = [affine_map<(b, t, o, h, d) -> (b, t, h, d)>,
                                   affine_map<(b, t, o, h, d) -> (h, o, d)>,
                                   affine_map<(b, t, o, h, d) -> (b, t, o)>],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]}
      ins(%hx, %hw : memref<2x16x4x8xf32>, memref<4x32x8xf32>) outs(%hy : memref<2x16x32xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %p = arith.mulf %u, %v : f32
    %sum = arith.addf %acc, %p : f32
    linalg.yield %sum : f32
  }
  return
}

// -----

// A linear under --precision=bf16: its buffer holds the bias (bf16,
// extended), the product adds to it in f32, and every read rounds it back
// to bf16. cuBLASLt writes it in bf16 instead (result type 1 = bf16, beta
// 1): the buffer is bf16, the bias stored unextended, the readers read
// bf16 with no rounding, through the same views; the f32 buffer is gone.
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1, 1, 16, 32, 64, 0, 64, 1, 0, 1, 64, 0, 32, 1, 1, 0, 0]>
// CHECK-LABEL: func.func @linear_rounded
// CHECK: %[[C:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x32xbf16>
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : memref<32xf32>) outs(%[[C]] : memref<16x32xbf16>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: f32, %{{.*}}: bf16):
// CHECK-NEXT: %[[T:.*]] = arith.truncf %[[IN]] : f32 to bf16
// CHECK-NEXT: linalg.yield %[[T]] : bf16
// CHECK: %[[CP:.*]] = memref.extract_aligned_pointer_as_index %[[C]]
// CHECK: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[CP]], %{{.*}})
// CHECK: %[[V:.*]] = memref.expand_shape %[[C]] {{.*}} into memref<2x8x32xbf16>
// CHECK: linalg.generic {{.*}} ins(%[[V]] : memref<2x8x32xbf16>) outs(%{{.*}} : memref<2x8x32xbf16>)
// CHECK-NEXT: ^bb0(%[[R:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT: linalg.yield %[[R]] : bf16
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[C]] : memref<16x32xf32>, memref<16x32xbf16>)
// CHECK-NEXT: ^bb0(%[[X:.*]]: f32, %[[Y:.*]]: bf16, %{{.*}}: f32):
// CHECK-NEXT: %[[E:.*]] = arith.extf %[[Y]] : bf16 to f32
// CHECK-NEXT: arith.addf %[[X]], %[[E]]
// CHECK: memref.dealloc %[[C]] : memref<16x32xbf16>
// With cuBLASLt's bias epilogue (the default): beta 0, bias 2 (one per
// column of C): the broadcast goes; the bias, rounded to bf16 (C's type)
// by a 32-element kernel at the function's start (it reads a parameter),
// is the call's fifth operand; the product writes bf16 as above.
// EPI: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1, 1, 16, 32, 64, 0, 64, 1, 0, 1, 64, 0, 32, 1, 0, 2, 0]>
// EPI-LABEL: func.func @linear_rounded
// EPI-NEXT: %[[B16:.*]] = memref.alloc() {alignment = 64 : i64} : memref<32xbf16>
// EPI-NEXT: linalg.generic {{.*}} ins(%arg2 : memref<32xf32>) outs(%[[B16]] : memref<32xbf16>)
// EPI-NEXT: ^bb0(%[[IN:.*]]: f32, %{{.*}}: bf16):
// EPI-NEXT: %[[T:.*]] = arith.truncf %[[IN]] : f32 to bf16
// EPI-NEXT: linalg.yield %[[T]] : bf16
// EPI: %[[C:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x32xbf16>
// EPI-NOT: linalg.generic
// EPI: %[[CP:.*]] = memref.extract_aligned_pointer_as_index %[[C]]
// EPI: %[[BP:.*]] = memref.extract_aligned_pointer_as_index %[[B16]]
// EPI: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[CP]], %[[BP]], %{{.*}})
// EPI-NEXT: memref.dealloc %[[B16]] : memref<32xbf16>
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhsT = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#bias = affine_map<(m, n) -> (n)>
#id2 = affine_map<(m, n) -> (m, n)>
#id3 = affine_map<(b, t, n) -> (b, t, n)>
func.func @linear_rounded(%x: memref<16x64xbf16>, %w: memref<32x64xbf16>, %b: memref<32xf32>,
                          %y: memref<2x8x32xbf16>, %res: memref<16x32xf32>, %sum: memref<16x32xf32>) {
  %c = memref.alloc() {alignment = 64 : i64} : memref<16x32xf32>
  linalg.generic {indexing_maps = [#bias, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<32xf32>) outs(%c : memref<16x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    %t = arith.truncf %in : f32 to bf16
    %e = arith.extf %t : bf16 to f32
    linalg.yield %e : f32
  }
  linalg.contract indexing_maps = [#lhs, #rhsT, #out]
      ins(%x, %w : memref<16x64xbf16>, memref<32x64xbf16>) outs(%c : memref<16x32xf32>)
  %v = memref.expand_shape %c [[0, 1], [2]] output_shape [2, 8, 32] : memref<16x32xf32> into memref<2x8x32xf32>
  linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%v : memref<2x8x32xf32>) outs(%y : memref<2x8x32xbf16>) {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  }
  // A residual: the rounded value extended again.
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%res, %c : memref<16x32xf32>, memref<16x32xf32>) outs(%sum : memref<16x32xf32>) {
  ^bb0(%r: f32, %in: f32, %o: f32):
    %t = arith.truncf %in : f32 to bf16
    %e = arith.extf %t : bf16 to f32
    %s = arith.addf %r, %e : f32
    linalg.yield %s : f32
  }
  memref.dealloc %c : memref<16x32xf32>
  return
}

// -----

// A backward product (dx = dy w) into a zero-filled buffer the product
// sees through a reshape: the fill goes (beta = 0), and the gradient, read
// rounded to f16, is written in f16 (result type 2).
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 2, 2, 1, 16, 64, 32, 0, 32, 1, 0, 64, 1, 0, 64, 1, 0, 0, 0]>
// CHECK-LABEL: func.func @dx_rounded
// CHECK-NOT: linalg.fill
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<16x64xf16>
// CHECK: call @ftcrt_gemm
// CHECK-NOT: arith.truncf
// CHECK: return
#dy = affine_map<(b, t, n, k) -> (b, t, k)>
#wk = affine_map<(b, t, n, k) -> (k, n)>
#dx = affine_map<(b, t, n, k) -> (b, t, n)>
func.func @dx_rounded(%dy: memref<2x8x32xf16>, %w: memref<32x64xf16>, %out: memref<2x8x64xf16>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() {alignment = 64 : i64} : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<16x64xf32>)
  %v = memref.expand_shape %c [[0, 1], [2]] output_shape [2, 8, 64] : memref<16x64xf32> into memref<2x8x64xf32>
  linalg.generic {indexing_maps = [#dy, #wk, #dx],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%dy, %w : memref<2x8x32xf16>, memref<32x64xf16>) outs(%v : memref<2x8x64xf32>) {
  ^bb0(%a: f16, %b: f16, %acc: f32):
    %ea = arith.extf %a : f16 to f32
    %eb = arith.extf %b : f16 to f32
    %p = arith.mulf %ea, %eb : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(b, t, n) -> (b, t, n)>, affine_map<(b, t, n) -> (b, t, n)>],
                  iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%v : memref<2x8x64xf32>) outs(%out : memref<2x8x64xf16>) {
  ^bb0(%in: f32, %o: f16):
    %t = arith.truncf %in : f32 to f16
    linalg.yield %t : f16
  }
  memref.dealloc %c : memref<16x64xf32>
  return
}

// -----

// Results that stay f32: one read unrounded (an f32 sum of the gradient),
// one whose bias is not a 16-bit value, one the caller gave (not a
// temporary), one of f32 operands.
// CHECK-COUNT-4: memref.global "private" constant @ftc_gemm_{{[0-3]}} : memref<19xi64> = dense<[3, {{[01]}}, 0,
// CHECK-LABEL: func.func @stays_f32
// With the bias epilogue the f32 bias is the parameter itself, read by
// cuBLASLt as it is (C's type, contiguous): no kernel at all.
// EPI: @ftc_gemm_1 : memref<19xi64> = dense<[3, 1, 0, 1, 8, 4, 16, 0, 16, 1, 0, 4, 1, 0, 4, 1, 0, 2, 0]>
// EPI-LABEL: func.func @stays_f32
// EPI: call @ftcrt_gemm
// EPI-NOT: linalg.generic {{.*}} ins(%arg2
// EPI: %[[BP:.*]] = memref.extract_aligned_pointer_as_index %arg2 : memref<4xf32>
// EPI: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[BP]], %{{.*}})
#l = affine_map<(m, n, k) -> (m, k)>
#r = affine_map<(m, n, k) -> (k, n)>
#o = affine_map<(m, n, k) -> (m, n)>
#e = affine_map<(m, n) -> (m, n)>
#bn = affine_map<(m, n) -> (n)>
func.func @stays_f32(%a: memref<8x16xbf16>, %b: memref<16x4xbf16>, %bias: memref<4xf32>,
                     %given: memref<8x4xf32>, %af: memref<8x16xf32>, %bf: memref<16x4xf32>,
                     %out: memref<8x4xf32>, %out16: memref<8x4xbf16>) {
  %zero = arith.constant 0.0 : f32
  %c1 = memref.alloc() : memref<8x4xf32>
  linalg.fill ins(%zero : f32) outs(%c1 : memref<8x4xf32>)
  linalg.contract indexing_maps = [#l, #r, #o] ins(%a, %b : memref<8x16xbf16>, memref<16x4xbf16>) outs(%c1 : memref<8x4xf32>)
  linalg.generic {indexing_maps = [#e, #e], iterator_types = ["parallel", "parallel"]}
      ins(%c1 : memref<8x4xf32>) outs(%out : memref<8x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %s = arith.addf %in, %o : f32
    linalg.yield %s : f32
  }
  memref.dealloc %c1 : memref<8x4xf32>
  %c2 = memref.alloc() : memref<8x4xf32>
  linalg.generic {indexing_maps = [#bn, #e], iterator_types = ["parallel", "parallel"]}
      ins(%bias : memref<4xf32>) outs(%c2 : memref<8x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  linalg.contract indexing_maps = [#l, #r, #o] ins(%a, %b : memref<8x16xbf16>, memref<16x4xbf16>) outs(%c2 : memref<8x4xf32>)
  linalg.generic {indexing_maps = [#e, #e], iterator_types = ["parallel", "parallel"]}
      ins(%c2 : memref<8x4xf32>) outs(%out16 : memref<8x4xbf16>) {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %c2 : memref<8x4xf32>
  linalg.contract indexing_maps = [#l, #r, #o] ins(%a, %b : memref<8x16xbf16>, memref<16x4xbf16>) outs(%given : memref<8x4xf32>)
  %c4 = memref.alloc() : memref<8x4xf32>
  linalg.fill ins(%zero : f32) outs(%c4 : memref<8x4xf32>)
  linalg.contract indexing_maps = [#l, #r, #o] ins(%af, %bf : memref<8x16xf32>, memref<16x4xf32>) outs(%c4 : memref<8x4xf32>)
  linalg.generic {indexing_maps = [#e, #e], iterator_types = ["parallel", "parallel"]}
      ins(%c4 : memref<8x4xf32>) outs(%out16 : memref<8x4xbf16>) {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %c4 : memref<8x4xf32>
  return
}

// -----

// The loss's logit of each row's target: an element of the result loaded
// in an op's body and rounded is a read like the others; the load reads
// bf16 and the rounding goes.
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1,
// CHECK-LABEL: func.func @element_loaded
// CHECK: %[[C:.*]] = memref.alloc() : memref<8x4xbf16>
// CHECK: call @ftcrt_gemm
// CHECK: linalg.generic
// CHECK: %[[L:.*]] = memref.load %[[C]][%{{.*}}, %{{.*}}] : memref<8x4xbf16>
// CHECK-NEXT: linalg.yield %[[L]] : bf16
func.func @element_loaded(%a: memref<8x16xbf16>, %b: memref<16x4xbf16>, %t: memref<8xindex>,
                          %out: memref<8xbf16>) {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<8x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<8x4xf32>)
  linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>,
                                   affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : memref<8x16xbf16>, memref<16x4xbf16>) outs(%c : memref<8x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>],
                  iterator_types = ["parallel"]}
      ins(%t : memref<8xindex>) outs(%out : memref<8xbf16>) {
  ^bb0(%j: index, %o: bf16):
    %i = linalg.index 0 : index
    %v = memref.load %c[%i, %j] : memref<8x4xf32>
    %r = arith.truncf %v : f32 to bf16
    linalg.yield %r : bf16
  }
  memref.dealloc %c : memref<8x4xf32>
  return
}

// -----

// A GELU (ftc.activation = "gelu_tanh": its body here is a stand-in) of a
// bf16 linear whose result its gradient reads too: cuBLASLt's epilogue
// computes it (activation 2 = GELU_AUX, with the bias epilogue: bias 2,
// beta 0) into the GELU's output, the call's fourth operand, and keeps
// its input, rounded to bf16, as the aux matrix (the sixth): the GELU's
// kernel goes, the other reader reads the bf16 input unrounded. The
// output's buffer, made after the product, is made before it.
// EPI: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1, 1, 16, 64, 32, 0, 32, 1, 0, 1, 32, 0, 64, 1, 0, 2, 2]>
// EPI-LABEL: func.func @gelu_aux
// EPI: %[[F:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x64xbf16>
// EPI: %[[G:.*]] = memref.alloc() {alignment = 64 : i64} : memref<16x64xbf16>
// EPI: %[[GP:.*]] = memref.extract_aligned_pointer_as_index %[[G]]
// EPI: %[[FP:.*]] = memref.extract_aligned_pointer_as_index %[[F]]
// EPI: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[GP]], %{{.*}}, %[[FP]])
// EPI-NOT: gelu_tanh
// EPI: linalg.generic {{.*}} ins(%[[F]] : memref<16x64xbf16>) outs(%arg3 : memref<16x64xbf16>)
// EPI-NEXT: ^bb0(%[[IN:.*]]: bf16, %{{.*}}: bf16):
// EPI-NEXT: linalg.yield %[[IN]] : bf16
// Without the bias epilogue the product adds to the bias (beta 1): the
// GELU stays a kernel.
// CHECK-LABEL: func.func @gelu_aux
// CHECK: call @ftcrt_gemm
// CHECK: ftc.activation = "gelu_tanh"
// And with gelu-epilogue=false.
// NOGELU-LABEL: func.func @gelu_aux
// NOGELU: call @ftcrt_gemm
// NOGELU: ftc.activation = "gelu_tanh"
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhsT = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#bias = affine_map<(m, n) -> (n)>
#id2 = affine_map<(m, n) -> (m, n)>
func.func @gelu_aux(%x: memref<16x32xbf16>, %w: memref<64x32xbf16>, %b: memref<64xf32>,
                    %other: memref<16x64xbf16>) {
  %f = memref.alloc() {alignment = 64 : i64} : memref<16x64xf32>
  linalg.generic {indexing_maps = [#bias, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<64xf32>) outs(%f : memref<16x64xf32>) {
  ^bb0(%in: f32, %o: f32):
    %t = arith.truncf %in : f32 to bf16
    %e = arith.extf %t : bf16 to f32
    linalg.yield %e : f32
  }
  linalg.contract indexing_maps = [#lhs, #rhsT, #out]
      ins(%x, %w : memref<16x32xbf16>, memref<64x32xbf16>) outs(%f : memref<16x64xf32>)
  %g = memref.alloc() {alignment = 64 : i64} : memref<16x64xbf16>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x64xf32>) outs(%g : memref<16x64xbf16>) attrs = {ftc.activation = "gelu_tanh"} {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    %s = arith.mulf %t, %t : bf16
    linalg.yield %s : bf16
  }
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x64xf32>) outs(%other : memref<16x64xbf16>) {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %f : memref<16x64xf32>
  memref.dealloc %g : memref<16x64xbf16>
  return
}

// -----

// A GELU that is its input's only reader (a forward-only entry), after a
// zero-filled bf16 product: GELU (activation 1) into its bf16 output, no
// aux matrix; the product's result buffer goes.
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1, 1, 16, 64, 32, 0, 32, 1, 0, 64, 1, 0, 64, 1, 0, 0, 1]>
// CHECK-LABEL: func.func @gelu_only
// CHECK-NOT: memref.alloc
// CHECK: %[[GP:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK: %[[NONE:.*]] = arith.constant 0 : index
// CHECK: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[GP]], %[[NONE]], %[[NONE]])
// CHECK-NOT: linalg.generic
// CHECK: return
// NOGELU-LABEL: func.func @gelu_only
// NOGELU: call @ftcrt_gemm
// NOGELU: ftc.activation = "gelu_tanh"
#id2 = affine_map<(m, n) -> (m, n)>
func.func @gelu_only(%x: memref<16x32xbf16>, %w: memref<32x64xbf16>, %g: memref<16x64xbf16>) {
  %zero = arith.constant 0.0 : f32
  %f = memref.alloc() : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%f : memref<16x64xf32>)
  linalg.matmul ins(%x, %w : memref<16x32xbf16>, memref<32x64xbf16>) outs(%f : memref<16x64xf32>)
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x64xf32>) outs(%g : memref<16x64xbf16>) attrs = {ftc.activation = "gelu_tanh"} {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    %s = arith.mulf %t, %t : bf16
    linalg.yield %s : bf16
  }
  memref.dealloc %f : memref<16x64xf32>
  return
}

// -----

// The GELU's gradient dy gelu'(x) (ftc.activation = "gelu_tanh_grad"), dy
// the product's result and nothing else's, x the GELU's bf16 input: the
// product computes it (activation 3 = DGELU) into the gradient's output,
// in bf16, x the aux matrix; dy's buffer goes. dy is found as the
// yielded product's operand (x comes first among the inputs here).
// CHECK: @ftc_gemm_0 : memref<19xi64> = dense<[3, 1, 1, 1, 16, 64, 32, 0, 32, 1, 0, 64, 1, 0, 64, 1, 0, 0, 3]>
// CHECK-LABEL: func.func @gelu_grad
// CHECK-NOT: memref.alloc
// CHECK: %[[DP:.*]] = memref.extract_aligned_pointer_as_index %arg3
// CHECK: %[[NONE:.*]] = arith.constant 0 : index
// CHECK: %[[XP:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %[[DP]], %[[NONE]], %[[XP]])
// CHECK-NOT: linalg.generic
// CHECK: return
#id2 = affine_map<(m, n) -> (m, n)>
func.func @gelu_grad(%dy: memref<16x32xbf16>, %w: memref<32x64xbf16>, %x: memref<16x64xbf16>,
                     %dx: memref<16x64xbf16>) {
  %zero = arith.constant 0.0 : f32
  %d = memref.alloc() : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%d : memref<16x64xf32>)
  linalg.matmul ins(%dy, %w : memref<16x32xbf16>, memref<32x64xbf16>) outs(%d : memref<16x64xf32>)
  linalg.generic {indexing_maps = [#id2, #id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x, %d : memref<16x64xbf16>, memref<16x64xf32>) outs(%dx : memref<16x64xbf16>)
      attrs = {ftc.activation = "gelu_tanh_grad"} {
  ^bb0(%xx: bf16, %in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    %h = arith.addf %xx, %xx : bf16
    %m = arith.mulf %t, %h : bf16
    linalg.yield %m : bf16
  }
  memref.dealloc %d : memref<16x64xf32>
  return
}

// -----

// Not computed by the epilogue: a result whose leading dimension (36) is
// not a multiple of 8 (cuBLASLt's aux matrix needs one), a GELU whose
// output something reads between the product and it, and an f32 product's
// GELU (cuBLASLt does not document its epilogue's tanh to f32 precision).
// CHECK-COUNT-3: dense<[3, {{[01]}}, {{[01]}}, 1, 16, {{.*}}, 0, 0, 0]>
// CHECK-LABEL: func.func @gelu_odd
// CHECK: call @ftcrt_gemm
// CHECK: ftc.activation = "gelu_tanh"
// CHECK-LABEL: func.func @gelu_out_read_between
// CHECK: call @ftcrt_gemm
// CHECK: memref.copy
// CHECK: ftc.activation = "gelu_tanh"
// CHECK-LABEL: func.func @gelu_f32
// CHECK: call @ftcrt_gemm
// CHECK: ftc.activation = "gelu_tanh"
#id2 = affine_map<(m, n) -> (m, n)>
func.func @gelu_odd(%x: memref<16x32xbf16>, %w: memref<32x36xbf16>, %g: memref<16x36xbf16>,
                    %other: memref<16x36xf32>) {
  %zero = arith.constant 0.0 : f32
  %f = memref.alloc() : memref<16x36xf32>
  linalg.fill ins(%zero : f32) outs(%f : memref<16x36xf32>)
  linalg.matmul ins(%x, %w : memref<16x32xbf16>, memref<32x36xbf16>) outs(%f : memref<16x36xf32>)
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x36xf32>) outs(%g : memref<16x36xbf16>) attrs = {ftc.activation = "gelu_tanh"} {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    %s = arith.mulf %t, %t : bf16
    linalg.yield %s : bf16
  }
  memref.copy %f, %other : memref<16x36xf32> to memref<16x36xf32>
  memref.dealloc %f : memref<16x36xf32>
  return
}
func.func @gelu_out_read_between(%x: memref<16x32xbf16>, %w: memref<32x64xbf16>,
                                 %g: memref<16x64xbf16>, %old: memref<16x64xbf16>) {
  %zero = arith.constant 0.0 : f32
  %f = memref.alloc() : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%f : memref<16x64xf32>)
  linalg.matmul ins(%x, %w : memref<16x32xbf16>, memref<32x64xbf16>) outs(%f : memref<16x64xf32>)
  memref.copy %g, %old : memref<16x64xbf16> to memref<16x64xbf16>
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x64xf32>) outs(%g : memref<16x64xbf16>) attrs = {ftc.activation = "gelu_tanh"} {
  ^bb0(%in: f32, %o: bf16):
    %t = arith.truncf %in : f32 to bf16
    %s = arith.mulf %t, %t : bf16
    linalg.yield %s : bf16
  }
  memref.dealloc %f : memref<16x64xf32>
  return
}
func.func @gelu_f32(%x: memref<16x32xf32>, %w: memref<32x64xf32>, %g: memref<16x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %f = memref.alloc() : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%f : memref<16x64xf32>)
  linalg.matmul ins(%x, %w : memref<16x32xf32>, memref<32x64xf32>) outs(%f : memref<16x64xf32>)
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%f : memref<16x64xf32>) outs(%g : memref<16x64xf32>) attrs = {ftc.activation = "gelu_tanh"} {
  ^bb0(%in: f32, %o: f32):
    %s = arith.mulf %in, %in : f32
    linalg.yield %s : f32
  }
  memref.dealloc %f : memref<16x64xf32>
  return
}

// -----

// The bias a buffer of its own (a recomputed linear's 16-bit copy of the
// parameter), freed after the broadcast, its last reader before: the call
// reads it now, so it is freed after the call (it was freed before it,
// and the memory plan gave its bytes to the next buffer).
// EPI-LABEL: func.func @bias_freed_before
// EPI: %[[BV:.*]] = memref.alloc() {alignment = 64 : i64} : memref<32xf32>
// EPI-NOT: memref.dealloc %[[BV]]
// EPI: %[[BP:.*]] = memref.extract_aligned_pointer_as_index %[[BV]] :
// EPI: call @ftcrt_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[BP]], %{{.*}})
// EPI-NEXT: memref.dealloc %[[BV]] : memref<32xf32>
#lhs = affine_map<(m, n, k) -> (m, k)>
#rhsT = affine_map<(m, n, k) -> (n, k)>
#out = affine_map<(m, n, k) -> (m, n)>
#bias = affine_map<(m, n) -> (n)>
#id1 = affine_map<(n) -> (n)>
#id2 = affine_map<(m, n) -> (m, n)>
func.func @bias_freed_before(%x: memref<16x64xf32>, %w: memref<32x64xf32>, %b: memref<32xf32>,
                             %y: memref<16x32xf32>) {
  %bv = memref.alloc() {alignment = 64 : i64} : memref<32xf32>
  linalg.generic {indexing_maps = [#id1, #id1], iterator_types = ["parallel"]}
      ins(%b : memref<32xf32>) outs(%bv : memref<32xf32>) {
  ^bb0(%in: f32, %o: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  }
  %c = memref.alloc() {alignment = 64 : i64} : memref<16x32xf32>
  linalg.generic {indexing_maps = [#bias, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%bv : memref<32xf32>) outs(%c : memref<16x32xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  }
  memref.dealloc %bv : memref<32xf32>
  linalg.contract indexing_maps = [#lhs, #rhsT, #out]
      ins(%x, %w : memref<16x64xf32>, memref<32x64xf32>) outs(%c : memref<16x32xf32>)
  memref.copy %c, %y : memref<16x32xf32> to memref<16x32xf32>
  memref.dealloc %c : memref<16x32xf32>
  return
}
