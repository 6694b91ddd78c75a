// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx2}))' | FileCheck %s --check-prefix=AVX2
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx512}))' | FileCheck %s --check-prefix=AVX512
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx2 mr=2 nr=8}))' | FileCheck %s --check-prefix=TILE
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx512bf16}))' | FileCheck %s --check-prefix=BF16

// A linear layer's product, x W^T, without copying W transposed: x packed
// into [M/MR, K, MR], W into [N/NR, K, NR] (both through vector transfers),
// C viewed in place as MR x NR register blocks (here all in one parallel
// block); the k loop (step 4) carries the register block in vector
// registers as a vector.contract accumulator.
// AVX2-LABEL: func.func @linear
// AVX2: vector.transfer_read %arg0{{.*}} : tensor<8x16xf32>, vector<4x8xf32>
// AVX2: vector.transfer_read %arg1{{.*}} : tensor<32x16xf32>, vector<16x8xf32>
// AVX2: tensor.expand_shape {{.*}} output_shape [2, 4, 2, 16] : tensor<8x32xf32> into tensor<2x4x2x16xf32>
// AVX2: %[[C:.+]] = vector.transfer_read {{.*}} : tensor<2x4x2x16xf32>, vector<4x16xf32>
// AVX2: scf.for {{.*}} step %c4 iter_args(%[[ACC:.+]] = %[[C]]) -> (vector<4x16xf32>)
// AVX2: vector.contract {{.*}} %[[ACC]] : vector<4x4xf32>, vector<4x16xf32> into vector<4x16xf32>
// AVX2-NOT: linalg.transpose
// AVX2-NOT: linalg.contract
// AVX512-LABEL: func.func @linear
// AVX512: tensor.expand_shape {{.*}} output_shape [1, 8, 1, 32] : tensor<8x32xf32> into tensor<1x8x1x32xf32>
// AVX512: scf.for {{.*}} step %c4 iter_args(%{{.+}} = %{{.+}}) -> (vector<8x32xf32>)
// AVX512: vector.contract {{.*}} : vector<4x8xf32>, vector<4x32xf32> into vector<8x32xf32>
// TILE-LABEL: func.func @linear
// TILE: vector.contract {{.*}} : vector<4x2xf32>, vector<4x8xf32> into vector<2x8xf32>
func.func @linear(%x: tensor<8x16xf32>, %w: tensor<32x16xf32>) -> tensor<8x32xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %c = linalg.fill ins(%z : f32) outs(%e : tensor<8x32xf32>) -> tensor<8x32xf32>
  %r = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<8x16xf32>, tensor<32x16xf32>) outs(%c : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// -----

// Attention scores q k^T over two batch dimensions: the batch dimensions
// stay outermost in the packs and in C's view, and are parallel blocks.
// AVX2-LABEL: func.func @batched
// AVX2: tensor.expand_shape %arg2 {{\[\[}}0], [1], [2, 3], [4, 5]] output_shape [2, 3, 2, 4, 2, 16]
// AVX2: scf.forall (%{{.+}}, %{{.+}}) in (2, 3)
// AVX2: vector.transfer_read {{.*}} : tensor<2x3x2x16x16xf32>, vector<4x16xf32>
// AVX2: vector.contract {{.*}} : vector<4x4xf32>, vector<4x16xf32> into vector<4x16xf32>
func.func @batched(%q: tensor<2x3x8x16xf32>, %k: tensor<2x3x32x16xf32>, %c: tensor<2x3x8x32xf32>) -> tensor<2x3x8x32xf32> {
  %r = linalg.contract indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>, affine_map<(b, h, m, n, k) -> (b, h, n, k)>, affine_map<(b, h, m, n, k) -> (b, h, m, n)>]
      ins(%q, %k : tensor<2x3x8x16xf32>, tensor<2x3x32x16xf32>) outs(%c : tensor<2x3x8x32xf32>) -> tensor<2x3x8x32xf32>
  return %r : tensor<2x3x8x32xf32>
}

// -----

// N = 36 is no multiple of any AVX2 register tile: columns 0-31 are viewed
// in place, the last 4 go through a zero-padded copy of C (16 wide).
// AVX2-LABEL: func.func @split
// AVX2: tensor.expand_shape {{.*}} output_shape [2, 4, 2, 16] : tensor<8x32xf32> into tensor<2x4x2x16xf32>
// AVX2: vector.contract
// AVX2: tensor.pad {{.*}} high[0, 12]
// AVX2: vector.contract
// AVX2: linalg.transpose
// AVX2: tensor.insert_slice {{.*}} into %{{.+}}[0, 32] [8, 4] [1, 1] : tensor<8x4xf32> into tensor<8x36xf32>
// AVX-512 splits at 32 too; its padded copy is 32 wide.
// AVX512-LABEL: func.func @split
// AVX512: tensor.pad {{.*}} high[0, 28]
func.func @split(%a: tensor<8x12xf32>, %b: tensor<12x36xf32>, %c: tensor<8x36xf32>) -> tensor<8x36xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<8x12xf32>, tensor<12x36xf32>) outs(%c : tensor<8x36xf32>) -> tensor<8x36xf32>
  return %r : tensor<8x36xf32>
}

// -----

// Left alone: f64, and dynamic shapes.
// AVX2-LABEL: func.func @untouched
// AVX2: linalg.matmul {{.*}} -> tensor<8x32xf64>
// AVX2: linalg.matmul {{.*}} -> tensor<?x32xf32>
func.func @untouched(%a: tensor<8x16xf64>, %b: tensor<16x32xf64>, %c: tensor<8x32xf64>,
                     %d: tensor<?x16xf32>, %e: tensor<16x32xf32>, %f: tensor<?x32xf32>) -> (tensor<8x32xf64>, tensor<?x32xf32>) {
  %r = linalg.matmul ins(%a, %b : tensor<8x16xf64>, tensor<16x32xf64>) outs(%c : tensor<8x32xf64>) -> tensor<8x32xf64>
  %s = linalg.matmul ins(%d, %e : tensor<?x16xf32>, tensor<16x32xf32>) outs(%f : tensor<?x32xf32>) -> tensor<?x32xf32>
  return %r, %s : tensor<8x32xf64>, tensor<?x32xf32>
}

// -----

// bf16 x bf16 into f32 with AVX512_BF16: x (row-major, K even) viewed as
// [M/8, 8, K/2, 2] in place, W packed into [N/32, K/2, 32, 2] (k pairs), the
// 8 x 32 register block, two k pairs a step, as 8 rows x 2 vectors x 2
// pairs of x86vector.avx512.dot (a broadcast pair of x by 16 pairs of W),
// each W vector read as one row of the collapsed pack. Without AVX512_BF16
// (or without asking for it: isa=avx512) the packed operands are widened
// to f32 once, and the register blocks run the f32 kernel. The packing's
// transposes move the bf16 bits as i16 (LLVM cannot select some bf16
// shuffles on CPUs with AVX512_BF16 but not AVX512_FP16: see
// test/tools/ftc/cpu-isa.test).
// BF16-LABEL: func.func @bf16_linear
// BF16: tensor.expand_shape %arg0 {{\[\[}}0, 1], [2, 3]] output_shape [2, 8, 32, 2] : tensor<16x64xbf16> into tensor<2x8x32x2xbf16>
// BF16: arith.bitcast {{.*}} : vector<1x32x8x2xbf16> to vector<1x32x8x2xi16>
// BF16-NEXT: vector.transpose {{.*}} : vector<1x32x8x2xi16> to vector<1x8x32x2xi16>
// BF16-NEXT: arith.bitcast {{.*}} : vector<1x8x32x2xi16> to vector<1x8x32x2xbf16>
// BF16: scf.for {{.*}} step %c2 iter_args(%{{.+}} = %{{.+}}) -> (vector<8x32xf32>)
// BF16: vector.transfer_read {{.*}} : tensor<2x64xbf16>, vector<2x64xbf16>
// BF16-COUNT-32: x86vector.avx512.dot {{.*}} : vector<32xbf16> -> vector<16xf32>
// BF16-NOT: vector.contract
// AVX512-LABEL: func.func @bf16_linear
// AVX512: linalg.generic {{.*}} ins(%{{.+}} : tensor<2x64x8xbf16>) outs(%{{.+}} : tensor<2x64x8xf32>)
// AVX512-NEXT: ^bb0
// AVX512-NEXT: arith.extf %{{.+}} : bf16 to f32
// AVX512: linalg.generic {{.*}} ins(%{{.+}} : tensor<1x64x32xbf16>) outs(%{{.+}} : tensor<1x64x32xf32>)
// AVX512-NOT: arith.extf {{.*}} vector
// AVX512: vector.contract {{.*}} : vector<4x8xf32>, vector<4x32xf32> into vector<8x32xf32>
// AVX512-NOT: x86vector
func.func @bf16_linear(%x: tensor<16x64xbf16>, %w: tensor<32x64xbf16>) -> tensor<16x32xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<16x32xf32>
  %c = linalg.fill ins(%z : f32) outs(%e : tensor<16x32xf32>) -> tensor<16x32xf32>
  %r = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<16x64xbf16>, tensor<32x64xbf16>) outs(%c : tensor<16x32xf32>) -> tensor<16x32xf32>
  return %r : tensor<16x32xf32>
}

// -----

// A weight gradient g^T x, K = 18 (9 pairs, odd: the k loop steps by one
// pair and keeps its unit dimension, which marks the pairs): g^T packed
// into [M, K/2, 2] 16 rows at a time and viewed as [M/8, 8, K/2, 2].
// BF16-LABEL: func.func @bf16_weight_grad
// BF16: vector.transfer_read {{.*}} : tensor<?x16xbf16>, vector<16x16xbf16>
// BF16: tensor.expand_shape %{{.+}} {{\[\[}}0, 1], [2], [3]] output_shape [4, 8, 9, 2] : tensor<32x9x2xbf16> into tensor<4x8x9x2xbf16>
// BF16: scf.for {{.*}} step %c1 iter_args(%{{.+}} = %{{.+}}) -> (vector<8x32xf32>)
// BF16-COUNT-16: x86vector.avx512.dot
// BF16-NOT: vector.contract
func.func @bf16_weight_grad(%g: tensor<18x32xbf16>, %x: tensor<18x64xbf16>, %c: tensor<32x64xf32>) -> tensor<32x64xf32> {
  %r = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%g, %x : tensor<18x32xbf16>, tensor<18x64xbf16>) outs(%c : tensor<32x64xf32>) -> tensor<32x64xf32>
  return %r : tensor<32x64xf32>
}

// -----

// M = 9: rows 0-7 on vdpbf16ps, the last row (through a padded copy of C)
// widened. f16 products always widen.
// BF16-LABEL: func.func @bf16_rows
// BF16-COUNT-32: x86vector.avx512.dot
// BF16: arith.extf %{{.+}} : bf16 to f32
// BF16: tensor.pad
// BF16: vector.contract {{.*}} : vector<4x8xf32>, vector<4x32xf32> into vector<8x32xf32>
// BF16-LABEL: func.func @f16
// BF16-NOT: x86vector
// BF16: arith.extf %{{.+}} : f16 to f32
// BF16: vector.contract {{.*}} : vector<4x8xf32>, vector<4x32xf32> into vector<8x32xf32>
func.func @bf16_rows(%a: tensor<9x64xbf16>, %b: tensor<64x32xbf16>, %c: tensor<9x32xf32>) -> tensor<9x32xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<9x64xbf16>, tensor<64x32xbf16>) outs(%c : tensor<9x32xf32>) -> tensor<9x32xf32>
  return %r : tensor<9x32xf32>
}
func.func @f16(%a: tensor<8x64xf16>, %b: tensor<64x32xf16>, %c: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<8x64xf16>, tensor<64x32xf16>) outs(%c : tensor<8x32xf32>) -> tensor<8x32xf32>
  return %r : tensor<8x32xf32>
}

// -----

// Packs of 64K elements or more are copied in parallel blocks of their rows
// (about 16), before the product's: x's [64, 512, 4] and W's [64, 512, 16]
// in blocks of 4 rows of tiles, each block tiled and vectorized as a whole
// pack would be (W's k loop outside).
// AVX2-LABEL: func.func @large_packs
// AVX2: scf.forall (%[[I:.+]]) = (0) to (64) step (4) shared_outs(%[[A:.+]] = %{{.+}}) -> (tensor<64x512x4xf32>)
// AVX2: scf.for {{.*}} to %c4 step %c1
// AVX2: scf.for {{.*}} to %c512 step %c8
// AVX2: vector.transfer_read %arg0{{.*}} : tensor<256x512xf32>, vector<4x8xf32>
// AVX2: tensor.parallel_insert_slice %{{.+}} into %[[A]][%[[I]], 0, 0] [4, 512, 4]
// AVX2: scf.forall (%[[J:.+]]) = (0) to (64) step (4) shared_outs(%[[B:.+]] = %{{.+}}) -> (tensor<64x512x16xf32>)
// AVX2: scf.for {{.*}} to %c512 step %c8
// AVX2: scf.for {{.*}} to %c4 step %c1
// AVX2: vector.transfer_read %arg1{{.*}} : tensor<1024x512xf32>, vector<16x8xf32>
// AVX2: tensor.parallel_insert_slice %{{.+}} into %[[B]][%[[J]], 0, 0] [4, 512, 16]
// AVX2: scf.forall ({{.*}}) = (0, 0) to (64, 64)
// AVX2: vector.contract
func.func @large_packs(%x: tensor<256x512xf32>, %w: tensor<1024x512xf32>, %c: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
  %r = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%x, %w : tensor<256x512xf32>, tensor<1024x512xf32>) outs(%c : tensor<256x1024xf32>) -> tensor<256x1024xf32>
  return %r : tensor<256x1024xf32>
}
