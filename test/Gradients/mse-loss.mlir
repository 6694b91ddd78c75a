// d mse_loss(x, t) for both operands.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<3x4xf64> init #train.normal
train.param @t : tensor<3x4xf64> init #train.normal
func.func @loss() -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<3x4xf64>
  %t = train.get_param @t : tensor<3x4xf64>
  %l = train.mse_loss %x, %t : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<f64>
  return %l : tensor<f64>
}
