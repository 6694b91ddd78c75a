// d sqrt(x), x away from zero.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @positive_x : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %positive_x = train.get_param @positive_x : tensor<3x4xf64>
  %y = train.sqrt %positive_x : tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
