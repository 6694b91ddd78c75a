// d concat(a, b, c) along the last dimension: one slice of g per input.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<2x3xf64> init #train.normal
train.param @b : tensor<2x1xf64> init #train.normal
train.param @c : tensor<2x4xf64> init #train.normal
func.func @loss(%probe: tensor<2x8xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<2x3xf64>
  %b = train.get_param @b : tensor<2x1xf64>
  %c = train.get_param @c : tensor<2x4xf64>
  %y = train.concat %a, %b, %c dim 1 : (tensor<2x3xf64>, tensor<2x1xf64>, tensor<2x4xf64>) -> tensor<2x8xf64>
  %t = train.tanh %y : tensor<2x8xf64>
  %w = train.mul %t, %probe : (tensor<2x8xf64>, tensor<2x8xf64>) -> tensor<2x8xf64>
  %l = train.sum %w dims [0, 1] : tensor<2x8xf64> -> tensor<f64>
  return %l : tensor<f64>
}
