// d of the fused attention op without a mask and with an explicit scale,
// more keys than queries (cross-attention shapes).
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @q : tensor<2x3x4xf64> init #train.normal
train.param @k : tensor<2x5x4xf64> init #train.normal
train.param @v : tensor<2x5x2xf64> init #train.normal
func.func @loss(%probe: tensor<2x3x2xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %q = train.get_param @q : tensor<2x3x4xf64>
  %k = train.get_param @k : tensor<2x5x4xf64>
  %v = train.get_param @v : tensor<2x5x2xf64>
  %y = train.attention %q, %k, %v {scale = 0.7 : f64} : (tensor<2x3x4xf64>, tensor<2x5x4xf64>, tensor<2x5x2xf64>) -> tensor<2x3x2xf64>
  %w = train.mul %y, %probe : (tensor<2x3x2xf64>, tensor<2x3x2xf64>) -> tensor<2x3x2xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x3x2xf64> -> tensor<f64>
  return %l : tensor<f64>
}
