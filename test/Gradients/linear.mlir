// d linear(x, W, b) on a 3-d input, and without bias.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<2x3x4xf64> init #train.normal
train.param @wt : tensor<5x4xf64> init #train.normal
train.param @b : tensor<5xf64> init #train.normal
train.param @v : tensor<5x5xf64> init #train.normal
func.func @loss(%probe: tensor<2x3x5xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<2x3x4xf64>
  %wt = train.get_param @wt : tensor<5x4xf64>
  %b = train.get_param @b : tensor<5xf64>
  %v = train.get_param @v : tensor<5x5xf64>
  %h = train.linear %x, %wt, %b : (tensor<2x3x4xf64>, tensor<5x4xf64>, tensor<5xf64>) -> tensor<2x3x5xf64>
  %y = train.linear %h, %v : (tensor<2x3x5xf64>, tensor<5x5xf64>) -> tensor<2x3x5xf64>
  %w = train.mul %y, %probe : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x3x5xf64> -> tensor<f64>
  return %l : tensor<f64>
}
