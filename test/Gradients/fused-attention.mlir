// d of the fused attention op with respect to q, k and v: causal with the
// default scale 1/sqrt(D), batched over [2, 2] (batch, heads).
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @q : tensor<2x2x4x3xf64> init #train.normal
train.param @k : tensor<2x2x4x3xf64> init #train.normal
train.param @v : tensor<2x2x4x5xf64> init #train.normal
func.func @loss(%probe: tensor<2x2x4x5xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %q = train.get_param @q : tensor<2x2x4x3xf64>
  %k = train.get_param @k : tensor<2x2x4x3xf64>
  %v = train.get_param @v : tensor<2x2x4x5xf64>
  %y = train.attention %q, %k, %v causal : (tensor<2x2x4x3xf64>, tensor<2x2x4x3xf64>, tensor<2x2x4x5xf64>) -> tensor<2x2x4x5xf64>
  %w = train.mul %y, %probe : (tensor<2x2x4x5xf64>, tensor<2x2x4x5xf64>) -> tensor<2x2x4x5xf64>
  %l = train.sum %w dims [0, 1, 2, 3] : tensor<2x2x4x5xf64> -> tensor<f64>
  return %l : tensor<f64>
}
