// A pipeline registered by name and the same pipeline spelled as a string
// give the same result, so any ftc compile can be replayed.
// RUN: ftc-opt --ftc-frontend %s > %t.named.mlir
// RUN: ftc-opt --pass-pipeline='builtin.module(ftc-frontend)' %s > %t.string.mlir
// RUN: diff %t.named.mlir %t.string.mlir
// RUN: FileCheck %s < %t.named.mlir
// RUN: ftc-opt --ftc-frontend --dump-pass-pipeline %s -o /dev/null 2>&1 | FileCheck %s --check-prefix=PIPELINE

// CHECK-LABEL: func.func @loss
// PIPELINE: ftc-verify-model
train.param @w : tensor<4xf32> init #train.zeros
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %w = train.get_param @w : tensor<4xf32>
  %l = train.mse_loss %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
