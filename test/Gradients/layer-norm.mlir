// d layer_norm(x, w, b) for x, w and b, over a 3-d input.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<2x3x4xf64> init #train.normal
train.param @gamma : tensor<4xf64> init #train.normal
train.param @beta : tensor<4xf64> init #train.normal
func.func @loss(%probe: tensor<2x3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<2x3x4xf64>
  %gamma = train.get_param @gamma : tensor<4xf64>
  %beta = train.get_param @beta : tensor<4xf64>
  %y = train.layer_norm %x, %gamma, %beta {eps = 1.0e-05 : f64} : (tensor<2x3x4xf64>, tensor<4xf64>, tensor<4xf64>) -> tensor<2x3x4xf64>
  %w = train.mul %y, %probe : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
