// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

// CHECK: non-scalar-loss.mlir:[[@LINE+1]]:1: error: 'func.func' op must return the loss as a scalar: tensor<f32> (tensor<f64> for gradient checks), got 'tensor<8xf32>'
func.func @loss(%x: tensor<8xf32> {train.input = "x"}) -> tensor<8xf32> attributes {train.loss} {
  return %x : tensor<8xf32>
}
