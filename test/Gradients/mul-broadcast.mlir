// d(a * b), b [4] broadcast along rows.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<3x4xf64> init #train.normal
train.param @b : tensor<4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<3x4xf64>
  %b = train.get_param @b : tensor<4xf64>
  %y = train.mul %a, %b : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
