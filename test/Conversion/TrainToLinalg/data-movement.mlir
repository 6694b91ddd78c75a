// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s

// Reshapes go through a flat tensor.
// CHECK-LABEL: func.func @reshape
// CHECK-SAME: (%[[X:.+]]: tensor<2x6xf32>)
// CHECK: %[[FLAT:.+]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1]] : tensor<2x6xf32> into tensor<12xf32>
// CHECK: %[[R:.+]] = tensor.expand_shape %[[FLAT]] {{\[\[}}0, 1]] output_shape [3, 4] : tensor<12xf32> into tensor<3x4xf32>
// CHECK: return %[[R]]
func.func @reshape(%x: tensor<2x6xf32>) -> tensor<3x4xf32> {
  %0 = train.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

// CHECK-LABEL: func.func @transpose
// CHECK-SAME: (%[[X:.+]]: tensor<8x16x32xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<32x8x16xf32>
// CHECK: %[[R:.+]] = linalg.transpose ins(%[[X]] : tensor<8x16x32xf32>) outs(%[[E]] : tensor<32x8x16xf32>) permutation = [2, 0, 1]
// CHECK: return %[[R]]
func.func @transpose(%x: tensor<8x16x32xf32>) -> tensor<32x8x16xf32> {
  %0 = train.transpose %x [2, 0, 1] : tensor<8x16x32xf32> -> tensor<32x8x16xf32>
  return %0 : tensor<32x8x16xf32>
}

// -----

// A slice is an extract_slice along its dim; pad inserts into zeros.
// CHECK-LABEL: func.func @slice_pad
// CHECK-SAME: (%[[X:.+]]: tensor<2x4x24xf32>)
// CHECK: %[[K:.+]] = tensor.extract_slice %[[X]][0, 0, 8] [2, 4, 8] [1, 1, 1] : tensor<2x4x24xf32> to tensor<2x4x8xf32>
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[Z:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.+}} : tensor<2x4x24xf32>)
// CHECK: %[[P:.+]] = tensor.insert_slice %[[K]] into %[[Z]][0, 0, 8] [2, 4, 8] [1, 1, 1] : tensor<2x4x8xf32> into tensor<2x4x24xf32>
// CHECK: return %[[K]], %[[P]]
func.func @slice_pad(%qkv: tensor<2x4x24xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x24xf32>) {
  %k = train.slice %qkv dim 2 start 8 : tensor<2x4x24xf32> -> tensor<2x4x8xf32>
  %dk = train.pad %k dim 2 start 8 : tensor<2x4x8xf32> -> tensor<2x4x24xf32>
  return %k, %dk : tensor<2x4x8xf32>, tensor<2x4x24xf32>
}

// -----

// split: consecutive slices; concat: each input inserted at its offset.
// CHECK-LABEL: func.func @split_concat
// CHECK-SAME: (%[[X:.+]]: tensor<2x8xf32>)
// CHECK: %[[A:.+]] = tensor.extract_slice %[[X]][0, 0] [2, 3] [1, 1]
// CHECK: %[[B:.+]] = tensor.extract_slice %[[X]][0, 3] [2, 5] [1, 1]
// CHECK: %[[E:.+]] = tensor.empty() : tensor<2x8xf32>
// CHECK: %[[C0:.+]] = tensor.insert_slice %[[B]] into %[[E]][0, 0] [2, 5] [1, 1]
// CHECK: %[[C1:.+]] = tensor.insert_slice %[[A]] into %[[C0]][0, 5] [2, 3] [1, 1]
// CHECK: return %[[C1]]
func.func @split_concat(%a: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0:2 = train.split %a dim 1 : tensor<2x8xf32> -> (tensor<2x3xf32>, tensor<2x5xf32>)
  %1 = train.concat %0#1, %0#0 dim 1 : (tensor<2x5xf32>, tensor<2x3xf32>) -> tensor<2x8xf32>
  return %1 : tensor<2x8xf32>
}

// -----

// embedding: a generic over the result reading the index at the leading
// loop indices and the table with tensor.extract; embedding_grad: a
// scatter-add over positions in order, in scf.for loops on tensors.
// CHECK-DAG: #[[$LEAD:.+]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[T:.+]]: tensor<16x8xf32>, %[[I:.+]]: tensor<2x4xi32>, %[[G:.+]]: tensor<2x4x8xf32>)
// CHECK: %[[X:.+]] = linalg.generic {indexing_maps = [#[[$LEAD]], #[[$ID]]], {{.*}} ins(%[[I]] : tensor<2x4xi32>)
// CHECK: ^bb0(%[[IV:.+]]: i32, %{{.+}}: f32):
// CHECK: %[[ROW:.+]] = arith.index_cast %[[IV]] : i32 to index
// CHECK: %[[COL:.+]] = linalg.index 2 : index
// CHECK: %[[V:.+]] = tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<16x8xf32>
// CHECK: linalg.yield %[[V]] : f32
// CHECK: %[[G2:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [8, 8] : tensor<64xf32> into tensor<8x8xf32>
// CHECK: %[[I1:.+]] = tensor.collapse_shape %[[I]] {{\[\[}}0, 1]] : tensor<2x4xi32> into tensor<8xi32>
// CHECK: %[[Z:.+]] = linalg.fill ins(%{{.+}} : f32) outs(%{{.+}} : tensor<16x8xf32>)
// CHECK: %[[DT:.+]] = scf.for %[[P:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC:.+]] = %[[Z]]) -> (tensor<16x8xf32>)
// CHECK: %[[IDX:.+]] = tensor.extract %[[I1]][%[[P]]] : tensor<8xi32>
// CHECK: %[[R:.+]] = arith.index_cast %[[IDX]] : i32 to index
// CHECK: scf.for %[[C:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC2:.+]] = %[[ACC]]) -> (tensor<16x8xf32>)
// CHECK: %[[OLD:.+]] = tensor.extract %[[ACC2]][%[[R]], %[[C]]]
// CHECK: %[[GV:.+]] = tensor.extract %[[G2]][%[[P]], %[[C]]]
// CHECK: %[[SUM:.+]] = arith.addf %[[OLD]], %[[GV]] : f32
// CHECK: tensor.insert %[[SUM]] into %[[ACC2]][%[[R]], %[[C]]]
// CHECK: return %[[X]], %[[DT]]
func.func @embedding(%wte: tensor<16x8xf32>, %tok: tensor<2x4xi32>, %g: tensor<2x4x8xf32>) -> (tensor<2x4x8xf32>, tensor<16x8xf32>) {
  %x = train.embedding %wte, %tok : (tensor<16x8xf32>, tensor<2x4xi32>) -> tensor<2x4x8xf32>
  %dt = train.embedding_grad %g, %tok : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<16x8xf32>
  return %x, %dt : tensor<2x4x8xf32>, tensor<16x8xf32>
}
