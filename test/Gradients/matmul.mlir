// d matmul for every transpose combination, batched too.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<3x4xf64> init #train.normal
train.param @b : tensor<4x5xf64> init #train.normal
train.param @at : tensor<4x3xf64> init #train.normal
train.param @bt : tensor<5x4xf64> init #train.normal
train.param @q : tensor<2x4x3xf64> init #train.normal
train.param @k : tensor<2x5x4xf64> init #train.normal
func.func @loss(%probe: tensor<2x3x5xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<3x4xf64>
  %b = train.get_param @b : tensor<4x5xf64>
  %at = train.get_param @at : tensor<4x3xf64>
  %bt = train.get_param @bt : tensor<5x4xf64>
  %q = train.get_param @q : tensor<2x4x3xf64>
  %k = train.get_param @k : tensor<2x5x4xf64>
  %c1 = train.matmul %a, %b : (tensor<3x4xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
  %c2 = train.matmul %at, %b transpose_lhs : (tensor<4x3xf64>, tensor<4x5xf64>) -> tensor<3x5xf64>
  %c3 = train.matmul %a, %bt transpose_rhs : (tensor<3x4xf64>, tensor<5x4xf64>) -> tensor<3x5xf64>
  %c4 = train.matmul %q, %k transpose_lhs transpose_rhs : (tensor<2x4x3xf64>, tensor<2x5x4xf64>) -> tensor<2x3x5xf64>
  %s1 = train.add %c1, %c2 : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %s2 = train.add %s1, %c3 : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
  %y = train.add %c4, %s2 : (tensor<2x3x5xf64>, tensor<3x5xf64>) -> tensor<2x3x5xf64>
  %w = train.mul %y, %probe : (tensor<2x3x5xf64>, tensor<2x3x5xf64>) -> tensor<2x3x5xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<2x3x5xf64> -> tensor<f64>
  return %l : tensor<f64>
}
