// An op between a trainable parameter and the loss without a derivative
// rule is an error at that op; no library is written.
// RUN: %expect-exit 1 ftc %s -o %t.so 2>&1 | FileCheck %s
// RUN: not test -e %t.so

train.param @w : tensor<4xf32> init #train.normal
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %w = train.get_param @w : tensor<4xf32>
  // CHECK: no-derivative-rule.mlir:[[@LINE+1]]:8: error: 'train.equal' has no derivative rule, and it lies between a trainable parameter and the loss
  %m = train.equal %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %l = train.mse_loss %m, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
