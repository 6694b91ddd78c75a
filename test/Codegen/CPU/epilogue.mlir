// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg,ftc-cpu-tile-contractions{isa=avx512}))' | FileCheck %s

// A linear layer with its bias and GELU, whose input the backward pass
// keeps: the bias is the product's starting value, and the GELU runs in the
// product's parallel blocks, on each block of C as soon as it is summed
// (over the register-block view [M/8, 8, N/32, 32]). The blocks yield both
// the product and the GELU; no GELU is left outside them.
// CHECK-LABEL: func.func @linear_gelu
// CHECK: %[[BIAS:.+]] = linalg.generic {{.*}} ins(%{{.+}} : tensor<1024xf32>) outs(%{{.+}} : tensor<384x1024xf32>)
// CHECK: %[[BLOCKS:.+]]:2 = scf.forall (%{{.+}}, %{{.+}}) = (0, 0) to (48, 32) step (12, 16) shared_outs(%[[C:.+]] = %{{.+}}, %[[G:.+]] = %{{.+}})
// CHECK: vector.contract
// CHECK: %[[GELU:.+]] = linalg.generic {{.*}} ins(%{{.+}} : tensor<12x8x16x32xf32>)
// CHECK: math.erf
// CHECK: scf.forall.in_parallel
// CHECK-DAG: tensor.parallel_insert_slice %{{.+}} into %[[C]]
// CHECK-DAG: tensor.parallel_insert_slice %[[GELU]] into %[[G]]
// CHECK-NOT: math.erf
// CHECK: %[[Y:.+]] = tensor.collapse_shape %[[BLOCKS]]#0
// CHECK: %[[H:.+]] = tensor.collapse_shape %[[BLOCKS]]#1
// CHECK-NOT: math.erf
// CHECK: return %[[Y]], %[[H]]
func.func @linear_gelu(%x: tensor<384x128xf32>, %w: tensor<1024x128xf32>, %b: tensor<1024xf32>) -> (tensor<384x1024xf32>, tensor<384x1024xf32>) {
  %0 = train.linear %x, %w, %b : (tensor<384x128xf32>, tensor<1024x128xf32>, tensor<1024xf32>) -> tensor<384x1024xf32>
  %1 = train.gelu %0 : tensor<384x1024xf32>
  return %0, %1 : tensor<384x1024xf32>, tensor<384x1024xf32>
}

// -----

// When nothing else reads the product, the GELU is not fused (the block of
// C would be a temporary of each parallel block, which bufferization puts on
// the heap); it stays after the blocks.
// CHECK-LABEL: func.func @gelu_only
// CHECK: scf.forall
// CHECK-NOT: math.erf
// CHECK: scf.forall.in_parallel
// CHECK: math.erf
func.func @gelu_only(%x: tensor<384x128xf32>, %w: tensor<1024x128xf32>) -> tensor<384x1024xf32> {
  %0 = train.linear %x, %w : (tensor<384x128xf32>, tensor<1024x128xf32>) -> tensor<384x1024xf32>
  %1 = train.gelu %0 : tensor<384x1024xf32>
  return %1 : tensor<384x1024xf32>
}

// -----

// A linear layer on [B, T, in] computes [B T, N] and reshapes it to
// [B, T, N]: the GELU reading that reshape runs in the product's blocks too,
// and its result is reshaped the same way.
// CHECK-LABEL: func.func @linear_gelu_3d
// CHECK: %[[BLOCKS:.+]]:2 = scf.forall
// CHECK: math.erf
// CHECK: scf.forall.in_parallel
// CHECK-NOT: math.erf
// CHECK: %[[H:.+]] = tensor.collapse_shape %[[BLOCKS]]#1 {{\[\[}}0, 1], [2, 3]] : tensor<48x8x32x32xf32> into tensor<384x1024xf32>
// CHECK: %[[H3:.+]] = tensor.expand_shape %[[H]] {{\[\[}}0, 1], [2]] output_shape [4, 96, 1024]
// CHECK-NOT: math.erf
// CHECK: return %{{.+}}, %[[H3]]
func.func @linear_gelu_3d(%x: tensor<4x96x128xf32>, %w: tensor<1024x128xf32>, %b: tensor<1024xf32>) -> (tensor<4x96x1024xf32>, tensor<4x96x1024xf32>) {
  %0 = train.linear %x, %w, %b : (tensor<4x96x128xf32>, tensor<1024x128xf32>, tensor<1024xf32>) -> tensor<4x96x1024xf32>
  %1 = train.gelu %0 : tensor<4x96x1024xf32>
  return %0, %1 : tensor<4x96x1024xf32>, tensor<4x96x1024xf32>
}
