// d of causal self-attention (q k^T / sqrt(d), mask, softmax, att v) with
// respect to q, k and v, batched over two heads.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @q : tensor<2x4x3xf64> init #train.normal
train.param @k : tensor<2x4x3xf64> init #train.normal
train.param @v : tensor<2x4x3xf64> init #train.normal
func.func @loss(%probe: tensor<2x4x3xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %q = train.get_param @q : tensor<2x4x3xf64>
  %k = train.get_param @k : tensor<2x4x3xf64>
  %v = train.get_param @v : tensor<2x4x3xf64>
  %s0 = train.matmul %q, %k transpose_rhs : (tensor<2x4x3xf64>, tensor<2x4x3xf64>) -> tensor<2x4x4xf64>
  %scale = train.fill 1.7320508075688772 : tensor<f64>
  %s1 = train.div %s0, %scale : (tensor<2x4x4xf64>, tensor<f64>) -> tensor<2x4x4xf64>
  %s2 = train.causal_mask %s1 : tensor<2x4x4xf64>
  %att = train.softmax %s2 : tensor<2x4x4xf64>
  %y = train.matmul %att, %v : (tensor<2x4x4xf64>, tensor<2x4x3xf64>) -> tensor<2x4x3xf64>
  %w = train.mul %y, %probe : (tensor<2x4x3xf64>, tensor<2x4x3xf64>) -> tensor<2x4x3xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x4x3xf64> -> tensor<f64>
  return %l : tensor<f64>
}
