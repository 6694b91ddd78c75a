// An intermediate with several uses accumulates its adjoints.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<3x4xf64>
  %h = train.tanh %a : tensor<3x4xf64>
  %h2 = train.mul %h, %h : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %y = train.sub %h2, %h : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
