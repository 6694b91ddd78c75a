// d log_softmax(x) along the last dimension.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<3x4xf64>
  %y = train.log_softmax %x : tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
