// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg),linalg-fuse-elementwise-ops,canonicalize)' | FileCheck %s --check-prefix=FUSED

// Matrix products are linalg.contract over dims (batch..., m, n, k): the
// operands' maps say which one is transposed, no operand is copied, and
// the accumulator is a zero-filled tensor.
// CHECK-DAG: #[[$A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$B:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[$C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: (%[[A:.+]]: tensor<4x3xf32>, %[[B:.+]]: tensor<3x5xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<4x5xf32>
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<4x5xf32>)
// CHECK: %[[R:.+]] = linalg.contract indexing_maps = [#[[$A]], #[[$B]], #[[$C]]]
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<4x3xf32>, tensor<3x5xf32>) outs(%[[INIT]] : tensor<4x5xf32>)
// CHECK: return %[[R]]
// CHECK-NOT: linalg.transpose
func.func @matmul(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>) -> tensor<4x5xf32> {
  %0 = train.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// transpose_lhs: A read (k, m).
// CHECK-DAG: #[[$AT:.+]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG: #[[$B:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[$C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @transpose_lhs
// CHECK-SAME: (%[[A:.+]]: tensor<3x4xf32>, %[[B:.+]]: tensor<3x5xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: linalg.contract indexing_maps = [#[[$AT]], #[[$B]], #[[$C]]]
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<3x4xf32>, tensor<3x5xf32>) outs(%{{.+}} : tensor<4x5xf32>)
// CHECK-NOT: linalg.transpose
func.func @transpose_lhs(%a: tensor<3x4xf32>, %b: tensor<3x5xf32>) -> tensor<4x5xf32> {
  %0 = train.matmul %a, %b transpose_lhs : (tensor<3x4xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// transpose_rhs: B read (n, k).
// CHECK-DAG: #[[$A:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$BT:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$C:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @transpose_rhs
// CHECK-SAME: (%[[A:.+]]: tensor<4x3xf32>, %[[B:.+]]: tensor<5x3xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: linalg.contract indexing_maps = [#[[$A]], #[[$BT]], #[[$C]]]
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<4x3xf32>, tensor<5x3xf32>) outs(%{{.+}} : tensor<4x5xf32>)
// CHECK-NOT: linalg.transpose
func.func @transpose_rhs(%a: tensor<4x3xf32>, %b: tensor<5x3xf32>) -> tensor<4x5xf32> {
  %0 = train.matmul %a, %b transpose_rhs : (tensor<4x3xf32>, tensor<5x3xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// Batched over two dims (batch, heads), as attention's q k^T: dims
// (b, h, m, n, k), the batch dims first in every map.
// CHECK-DAG: #[[$Q:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[$K:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)>
// CHECK-DAG: #[[$S:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @batched
// CHECK-SAME: (%[[Q:.+]]: tensor<2x3x8x16xf32>, %[[K:.+]]: tensor<2x3x8x16xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: %[[INIT:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<2x3x8x8xf32>)
// CHECK: linalg.contract indexing_maps = [#[[$Q]], #[[$K]], #[[$S]]]
// CHECK-SAME: ins(%[[Q]], %[[K]] : tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>) outs(%[[INIT]] : tensor<2x3x8x8xf32>)
// CHECK-NOT: linalg.transpose
func.func @batched(%q: tensor<2x3x8x16xf32>, %k: tensor<2x3x8x16xf32>) -> tensor<2x3x8x8xf32> {
  %0 = train.matmul %q, %k transpose_rhs : (tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>) -> tensor<2x3x8x8xf32>
  return %0 : tensor<2x3x8x8xf32>
}

// -----

// linear: x flattened to [M, in] times W [out, in] read (n, k), the
// accumulator starting as the bias broadcast along the rows (no pass over
// the result adds it after), and the result reshaped back.
// CHECK-DAG: #[[$X:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[$W:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$Y:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.+]]: tensor<2x4x8xf32>, %[[W:.+]]: tensor<3x8xf32>, %[[B:.+]]: tensor<3xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: %[[X2:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [8, 8] : tensor<64xf32> into tensor<8x8xf32>
// CHECK: %[[INIT:.+]] = linalg.generic {indexing_maps = [#[[$ROW]], #[[$ID]]], {{.*}} ins(%[[B]] : tensor<3xf32>) outs(%{{.+}} : tensor<8x3xf32>)
// CHECK-NEXT: ^bb0(%[[BV:.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: linalg.yield %[[BV]] : f32
// CHECK: %[[Y:.+]] = linalg.contract indexing_maps = [#[[$X]], #[[$W]], #[[$Y]]]
// CHECK-SAME: ins(%[[X2]], %[[W]] : tensor<8x8xf32>, tensor<3x8xf32>) outs(%[[INIT]] : tensor<8x3xf32>)
// CHECK-NOT: arith.addf
// CHECK: %[[FLAT:.+]] = tensor.collapse_shape %[[Y]]
// CHECK: %[[R:.+]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1, 2]] output_shape [2, 4, 3]
// CHECK: return %[[R]]
func.func @linear(%x: tensor<2x4x8xf32>, %w: tensor<3x8xf32>, %b: tensor<3xf32>) -> tensor<2x4x3xf32> {
  %0 = train.linear %x, %w, %b : (tensor<2x4x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<2x4x3xf32>
  return %0 : tensor<2x4x3xf32>
}

// -----

// A linear layer and its ReLU: a contraction summing over k in order from
// the bias, then the ReLU.
// CHECK-LABEL: func.func @linear_relu
// CHECK-NOT: linalg.transpose
// CHECK: linalg.contract
// CHECK: linalg.generic
// CHECK: arith.maximumf
// FUSED-LABEL: func.func @linear_relu
// FUSED: %[[Y:.+]] = linalg.contract
// FUSED: linalg.generic {{.*}} ins(%[[Y]] : tensor<4x3xf32>)
// FUSED-NEXT: ^bb0
// FUSED-NEXT: arith.maximumf
// FUSED-NEXT: linalg.yield
// FUSED-NEXT: } -> tensor<4x3xf32>
// FUSED-NEXT: return
func.func @linear_relu(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = train.linear %x, %w, %b : (tensor<4x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  %1 = train.relu %0 : tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}
