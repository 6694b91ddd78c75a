// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-lower-train))' | FileCheck %s
// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-lower-train),linalg-fuse-elementwise-ops,canonicalize)' | FileCheck %s --check-prefix=FUSED

// The AdamW update is one elementwise pass: the gradient in, the parameter
// and both moments updated through the outputs (read once, written once).
// CHECK-LABEL: func.func @adamw
// CHECK-SAME: (%[[P:.+]]: tensor<8xf32>, %[[G:.+]]: tensor<8xf32>, %[[M:.+]]: tensor<8xf32>, %[[V:.+]]: tensor<8xf32>, %{{.+}}: tensor<i64>)
// CHECK: math.powf
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[G]] : tensor<8xf32>) outs(%[[P]], %[[M]], %[[V]] : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: math.sqrt
// CHECK: linalg.yield %{{.+}}, %{{.+}}, %{{.+}} : f32, f32, f32
// CHECK-NOT: linalg.generic
func.func @adamw(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>, %v: tensor<8xf32>, %t: tensor<i64>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0, %1, %2 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t : tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// A linear layer and its ReLU: a contraction summing over k in order, then
// bias and ReLU, which elementwise fusion merges into one generic.
// CHECK-LABEL: func.func @linear_relu
// CHECK: linalg.transpose
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.addf
// CHECK: linalg.generic
// CHECK: arith.maximumf
// FUSED-LABEL: func.func @linear_relu
// FUSED: linalg.generic {{.*}}["parallel", "reduction", "parallel"]
// FUSED: linalg.generic
// FUSED: arith.addf
// FUSED-NEXT: arith.maximumf
// FUSED-NEXT: linalg.yield
// FUSED-NEXT: } -> tensor<4x3xf32>
// FUSED-NEXT: return
func.func @linear_relu(%x: tensor<4x8xf32>, %w: tensor<3x8xf32>, %b: tensor<3xf32>) -> tensor<4x3xf32> {
  %0 = train.linear %x, %w, %b : (tensor<4x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
  %1 = train.relu %0 : tensor<4x3xf32>
  return %1 : tensor<4x3xf32>
}

// -----

// Broadcasting reads a size-1 or missing dimension at index 0 / not at all.
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[$COL:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @broadcast
// CHECK: linalg.generic {indexing_maps = [#[[$COL]], #[[$ROW]], #{{.+}}]
func.func @broadcast(%a: tensor<4x1xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  %0 = train.mul %a, %b : (tensor<4x1xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// Cross-entropy as log-softmax: row max, sum of exp(z - max), then the
// label's term read with tensor.extract; mean over the rows.
// CHECK-LABEL: func.func @cross_entropy
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: tensor.extract
// CHECK: math.log
// CHECK: arith.divf
func.func @cross_entropy(%z: tensor<4x3xf32>, %y: tensor<4xi32>) -> tensor<f32> {
  %0 = train.cross_entropy %z, %y : (tensor<4x3xf32>, tensor<4xi32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Reshapes go through a flat tensor.
// CHECK-LABEL: func.func @reshape
// CHECK: tensor.collapse_shape %{{.+}} {{\[\[}}0, 1]] : tensor<2x6xf32> into tensor<12xf32>
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [3, 4] : tensor<12xf32> into tensor<3x4xf32>
func.func @reshape(%x: tensor<2x6xf32>) -> tensor<3x4xf32> {
  %0 = train.reshape %x : tensor<2x6xf32> -> tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
