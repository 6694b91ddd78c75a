// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-generalize-contractions))' | FileCheck %s

// Temporary (until the contraction codegen lands): a contraction over
// (m, n, k) becomes the generic over (m, k, n) that ftc-tile-matmuls tiles,
// with the same multiply-then-add body.
// CHECK-DAG: #[[$A:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$B:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$C:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @plain
// CHECK-SAME: (%[[A:.+]]: tensor<4x3xf32>, %[[B:.+]]: tensor<3x5xf32>, %[[C:.+]]: tensor<4x5xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[$A]], #[[$B]], #[[$C]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<4x3xf32>, tensor<3x5xf32>) outs(%[[C]] : tensor<4x5xf32>)
// CHECK: ^bb0(%[[X:.+]]: f32, %[[Y:.+]]: f32, %[[ACC:.+]]: f32):
// CHECK: %[[P:.+]] = arith.mulf %[[X]], %[[Y]] : f32
// CHECK: %[[S:.+]] = arith.addf %[[ACC]], %[[P]] : f32
// CHECK: linalg.yield %[[S]] : f32
// CHECK-NOT: linalg.contract
func.func @plain(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>, %c: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %0 = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : tensor<4x3xf32>, tensor<3x5xf32>) outs(%c : tensor<4x5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// A B read transposed is transposed into a tensor of its own first.
// CHECK-DAG: #[[$Q:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[$KT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-DAG: #[[$S:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-LABEL: func.func @batched_rhs_transposed
// CHECK-SAME: (%[[Q:.+]]: tensor<2x3x8x16xf32>, %[[K:.+]]: tensor<2x3x8x16xf32>, %[[C:.+]]: tensor<2x3x8x8xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<2x3x16x8xf32>
// CHECK: %[[KT:.+]] = linalg.transpose ins(%[[K]] : tensor<2x3x8x16xf32>) outs(%[[E]] : tensor<2x3x16x8xf32>) permutation = [0, 1, 3, 2]
// CHECK: linalg.generic {indexing_maps = [#[[$Q]], #[[$KT]], #[[$S]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[Q]], %[[KT]] : tensor<2x3x8x16xf32>, tensor<2x3x16x8xf32>) outs(%[[C]] : tensor<2x3x8x8xf32>)
func.func @batched_rhs_transposed(%q: tensor<2x3x8x16xf32>, %k: tensor<2x3x8x16xf32>, %c: tensor<2x3x8x8xf32>) -> tensor<2x3x8x8xf32> {
  %0 = linalg.contract indexing_maps = [affine_map<(b, h, m, n, k) -> (b, h, m, k)>, affine_map<(b, h, m, n, k) -> (b, h, n, k)>, affine_map<(b, h, m, n, k) -> (b, h, m, n)>]
      ins(%q, %k : tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>) outs(%c : tensor<2x3x8x8xf32>) -> tensor<2x3x8x8xf32>
  return %0 : tensor<2x3x8x8xf32>
}

// -----

// Other contractions (here C read transposed) stay as they are.
// CHECK-LABEL: func.func @other
// CHECK: linalg.contract
// CHECK-NOT: linalg.generic
func.func @other(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>, %c: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %0 = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (n, m)>]
      ins(%a, %b : tensor<4x3xf32>, tensor<3x5xf32>) outs(%c : tensor<5x4xf32>) -> tensor<5x4xf32>
  return %0 : tensor<5x4xf32>
}
