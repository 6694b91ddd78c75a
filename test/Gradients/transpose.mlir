// d transpose(x, [2, 0, 1]).
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<2x3x4xf64> init #train.normal
func.func @loss(%probe: tensor<4x2x3xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<2x3x4xf64>
  %y = train.transpose %x [2, 0, 1] : tensor<2x3x4xf64> -> tensor<4x2x3xf64>
  %w = train.mul %y, %probe : (tensor<4x2x3xf64>, tensor<4x2x3xf64>) -> tensor<4x2x3xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<4x2x3xf64> -> tensor<f64>
  return %l : tensor<f64>
}
