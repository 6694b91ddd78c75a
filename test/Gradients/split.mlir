// d split(x) = concat of the pieces' gradients; the middle piece does not
// reach the loss, so its part of the gradient is zero.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<3x9xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<3x9xf64>
  %a, %b, %c = train.split %x dim 1 : tensor<3x9xf64> -> (tensor<3x4xf64>, tensor<3x1xf64>, tensor<3x4xf64>)
  %e = train.exp %c : tensor<3x4xf64>
  %p = train.mul %a, %e : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %w = train.mul %p, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
