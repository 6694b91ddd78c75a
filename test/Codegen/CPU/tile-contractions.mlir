// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx2}))' | FileCheck %s --check-prefix=AVX2
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx512}))' | FileCheck %s --check-prefix=AVX512
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-cpu-tile-contractions{isa=avx2 mr=2 nr=8}))' | FileCheck %s --check-prefix=TILE

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
