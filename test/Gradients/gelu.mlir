// d gelu(x), exact and with the tanh approximation.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<3x4xf64> init #train.normal
train.param @z : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<3x4xf64>
  %z = train.get_param @z : tensor<3x4xf64>
  %a = train.gelu %x : tensor<3x4xf64>
  %b = train.gelu %z tanh : tensor<3x4xf64>
  %y = train.add %a, %b : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
