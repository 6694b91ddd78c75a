// d softmax(causal_mask(x)): no gradient above the diagonal.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<2x4x4xf64> init #train.normal
func.func @loss(%probe: tensor<2x4x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<2x4x4xf64>
  %m = train.causal_mask %x : tensor<2x4x4xf64>
  %y = train.softmax %m : tensor<2x4x4xf64>
  %w = train.mul %y, %probe : (tensor<2x4x4xf64>, tensor<2x4x4xf64>) -> tensor<2x4x4xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x4x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
