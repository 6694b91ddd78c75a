// Every train op prints, re-parses and prints the same; the generic form
// parses back to the same custom form.
// RUN: ftc-opt %s > %t.1.mlir
// RUN: ftc-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir
// RUN: ftc-opt --mlir-print-op-generic %s | ftc-opt | FileCheck %s

// CHECK-LABEL: train.param @w : tensor<3x4xf32> init #train.zeros
train.param @w : tensor<3x4xf32> init #train.zeros
// CHECK: train.param frozen @w.frozen : tensor<4xf32> init #train.ones
train.param frozen @w.frozen : tensor<4xf32> init #train.ones

// CHECK-LABEL: func.func @params
func.func @params() -> (tensor<3x4xf32>, tensor<4xf32>) {
  // CHECK: %[[W:.+]] = train.get_param @w : tensor<3x4xf32>
  %w = train.get_param @w : tensor<3x4xf32>
  // CHECK: %[[F:.+]] = train.get_param @w.frozen : tensor<4xf32>
  %f = train.get_param @w.frozen : tensor<4xf32>
  // CHECK: return %[[W]], %[[F]]
  return %w, %f : tensor<3x4xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @constants
func.func @constants() -> (tensor<2xf32>, tensor<2x3xbf16>, tensor<3xi32>) {
  // CHECK: train.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %c = train.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: train.fill 2.500000e-01 : tensor<2x3xbf16>
  %f = train.fill 0.25 : tensor<2x3xbf16>
  // CHECK: train.constant dense<[0, 1, 2]> : tensor<3xi32>
  %i = train.constant dense<[0, 1, 2]> : tensor<3xi32>
  return %c, %f, %i : tensor<2xf32>, tensor<2x3xbf16>, tensor<3xi32>
}

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[A:.+]]: tensor<8x4xf32>, %[[B:.+]]: tensor<4xf32>)
func.func @elementwise(%a: tensor<8x4xf32>, %b: tensor<4xf32>) -> tensor<8x4xf32> {
  // CHECK: %[[ADD:.+]] = train.add %[[A]], %[[B]] : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %0 = train.add %a, %b : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  // CHECK: %[[SUB:.+]] = train.sub %[[B]], %[[ADD]] : (tensor<4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %1 = train.sub %b, %0 : (tensor<4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  // CHECK: %[[MUL:.+]] = train.mul %[[SUB]], %[[SUB]] : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  %2 = train.mul %1, %1 : (tensor<8x4xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
  // CHECK: %[[DIV:.+]] = train.div %[[MUL]], %[[B]] : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %3 = train.div %2, %b : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  // CHECK: %[[NEG:.+]] = train.neg %[[DIV]] : tensor<8x4xf32>
  %4 = train.neg %3 : tensor<8x4xf32>
  // CHECK: %[[RELU:.+]] = train.relu %[[NEG]] : tensor<8x4xf32>
  %5 = train.relu %4 : tensor<8x4xf32>
  // CHECK: %[[EXP:.+]] = train.exp %[[RELU]] : tensor<8x4xf32>
  %6 = train.exp %5 : tensor<8x4xf32>
  // CHECK: %[[LOG:.+]] = train.log %[[EXP]] : tensor<8x4xf32>
  %7 = train.log %6 : tensor<8x4xf32>
  // CHECK: %[[TANH:.+]] = train.tanh %[[LOG]] : tensor<8x4xf32>
  %8 = train.tanh %7 : tensor<8x4xf32>
  // CHECK: %[[SIG:.+]] = train.sigmoid %[[TANH]] : tensor<8x4xf32>
  %9 = train.sigmoid %8 : tensor<8x4xf32>
  // CHECK: %[[SQRT:.+]] = train.sqrt %[[SIG]] : tensor<8x4xf32>
  %sqrt = train.sqrt %9 : tensor<8x4xf32>
  // CHECK: train.stop_gradient %[[SQRT]] : tensor<8x4xf32>
  %held = train.stop_gradient %sqrt : tensor<8x4xf32>
  // CHECK: return %[[SIG]]
  return %9 : tensor<8x4xf32>
}

// CHECK-LABEL: func.func @casts
func.func @casts(%labels: tensor<16xi32>, %x: tensor<16xf32>) -> (tensor<16xf32>, tensor<16xbf16>, tensor<16xi64>) {
  // CHECK: train.cast %{{.+}} : tensor<16xi32> to tensor<16xf32>
  %0 = train.cast %labels : tensor<16xi32> to tensor<16xf32>
  // CHECK: train.cast %{{.+}} : tensor<16xf32> to tensor<16xbf16>
  %1 = train.cast %x : tensor<16xf32> to tensor<16xbf16>
  // CHECK: train.cast %{{.+}} : tensor<16xf32> to tensor<16xi64>
  %2 = train.cast %x : tensor<16xf32> to tensor<16xi64>
  return %0, %1, %2 : tensor<16xf32>, tensor<16xbf16>, tensor<16xi64>
}

// CHECK-LABEL: func.func @reductions
func.func @reductions(%x: tensor<2x3x4xf64>) -> (tensor<2x4xf64>, tensor<1x3x1xf64>, tensor<2x3x1xf64>) {
  // CHECK: train.sum %{{.+}} dims [1] : tensor<2x3x4xf64> -> tensor<2x4xf64>
  %0 = train.sum %x dims [1] : tensor<2x3x4xf64> -> tensor<2x4xf64>
  // CHECK: train.mean %{{.+}} dims [0, 2] keepdim : tensor<2x3x4xf64> -> tensor<1x3x1xf64>
  %1 = train.mean %x dims [0, 2] keepdim : tensor<2x3x4xf64> -> tensor<1x3x1xf64>
  // CHECK: train.max %{{.+}} dims [2] keepdim : tensor<2x3x4xf64> -> tensor<2x3x1xf64>
  %2 = train.max %x dims [2] keepdim : tensor<2x3x4xf64> -> tensor<2x3x1xf64>
  return %0, %1, %2 : tensor<2x4xf64>, tensor<1x3x1xf64>, tensor<2x3x1xf64>
}

// CHECK-LABEL: func.func @shapes
func.func @shapes(%x: tensor<8x16x32xf32>) -> (tensor<128x32xf32>, tensor<32x8x16xf32>) {
  // CHECK: train.reshape %{{.+}} : tensor<8x16x32xf32> -> tensor<128x32xf32>
  %0 = train.reshape %x : tensor<8x16x32xf32> -> tensor<128x32xf32>
  // CHECK: train.transpose %{{.+}} [2, 0, 1] : tensor<8x16x32xf32> -> tensor<32x8x16xf32>
  %1 = train.transpose %x [2, 0, 1] : tensor<8x16x32xf32> -> tensor<32x8x16xf32>
  return %0, %1 : tensor<128x32xf32>, tensor<32x8x16xf32>
}

// CHECK-LABEL: func.func @matmuls
func.func @matmuls(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>, %q: tensor<2x8x16xf32>) -> (tensor<4x5xf32>, tensor<5x4xf32>, tensor<2x8x8xf32>) {
  // CHECK: train.matmul %{{.+}}, %{{.+}} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %0 = train.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  // CHECK: train.matmul %{{.+}}, %{{.+}} transpose_lhs transpose_rhs : (tensor<3x5xf32>, tensor<4x3xf32>) -> tensor<5x4xf32>
  %1 = train.matmul %b, %a transpose_lhs transpose_rhs : (tensor<3x5xf32>, tensor<4x3xf32>) -> tensor<5x4xf32>
  // CHECK: train.matmul %{{.+}}, %{{.+}} transpose_rhs : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x8xf32>
  %2 = train.matmul %q, %q transpose_rhs : (tensor<2x8x16xf32>, tensor<2x8x16xf32>) -> tensor<2x8x8xf32>
  return %0, %1, %2 : tensor<4x5xf32>, tensor<5x4xf32>, tensor<2x8x8xf32>
}

// CHECK-LABEL: func.func @linears
func.func @linears(%x: tensor<8x784xf32>, %w: tensor<10x784xf32>, %b: tensor<10xf32>, %s: tensor<2x8x784xf32>) -> (tensor<8x10xf32>, tensor<2x8x10xf32>) {
  // CHECK: train.linear %{{.+}}, %{{.+}}, %{{.+}} : (tensor<8x784xf32>, tensor<10x784xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  %0 = train.linear %x, %w, %b : (tensor<8x784xf32>, tensor<10x784xf32>, tensor<10xf32>) -> tensor<8x10xf32>
  // CHECK: train.linear %{{.+}}, %{{.+}} : (tensor<2x8x784xf32>, tensor<10x784xf32>) -> tensor<2x8x10xf32>
  %1 = train.linear %s, %w : (tensor<2x8x784xf32>, tensor<10x784xf32>) -> tensor<2x8x10xf32>
  return %0, %1 : tensor<8x10xf32>, tensor<2x8x10xf32>
}

// CHECK-LABEL: func.func @losses
func.func @losses(%logits: tensor<8x10xf32>, %labels: tensor<8xi64>, %seq: tensor<2x4x16xf64>, %targets: tensor<2x4xi32>) -> (tensor<f32>, tensor<f64>, tensor<f32>) {
  // CHECK: train.cross_entropy %{{.+}}, %{{.+}} : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  %0 = train.cross_entropy %logits, %labels : (tensor<8x10xf32>, tensor<8xi64>) -> tensor<f32>
  // CHECK: train.cross_entropy %{{.+}}, %{{.+}} : (tensor<2x4x16xf64>, tensor<2x4xi32>) -> tensor<f64>
  %1 = train.cross_entropy %seq, %targets : (tensor<2x4x16xf64>, tensor<2x4xi32>) -> tensor<f64>
  // CHECK: train.mse_loss %{{.+}}, %{{.+}} : (tensor<8x10xf32>, tensor<8x10xf32>) -> tensor<f32>
  %2 = train.mse_loss %logits, %logits : (tensor<8x10xf32>, tensor<8x10xf32>) -> tensor<f32>
  return %0, %1, %2 : tensor<f32>, tensor<f64>, tensor<f32>
}
