// d slice and d pad: q, k, v from one projection, and back.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<2x9xf64> init #train.normal
train.param @z : tensor<2x3xf64> init #train.normal
func.func @loss(%probe: tensor<2x7xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<2x9xf64>
  %z = train.get_param @z : tensor<2x3xf64>
  %q = train.slice %x dim 1 start 0 : tensor<2x9xf64> -> tensor<2x3xf64>
  %k = train.slice %x dim 1 start 3 : tensor<2x9xf64> -> tensor<2x3xf64>
  %v = train.slice %x dim 1 start 6 : tensor<2x9xf64> -> tensor<2x3xf64>
  %qk = train.mul %q, %k : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %s = train.add %qk, %v : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %t = train.mul %s, %z : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
  %y = train.pad %t dim 1 start 2 : tensor<2x3xf64> -> tensor<2x7xf64>
  %w = train.mul %y, %probe : (tensor<2x7xf64>, tensor<2x7xf64>) -> tensor<2x7xf64>
  %l = train.sum %w dims [0, 1] : tensor<2x7xf64> -> tensor<f64>
  return %l : tensor<f64>
}
