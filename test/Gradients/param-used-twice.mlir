// A parameter read twice and used twice (a a^T, like a tied head) gets the sum.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x3xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<3x4xf64>
  %a2 = train.get_param @a : tensor<3x4xf64>
  %y = train.matmul %a, %a2 transpose_rhs : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x3xf64>
  %z = train.add %y, %y : (tensor<3x3xf64>, tensor<3x3xf64>) -> tensor<3x3xf64>
  %w = train.mul %z, %probe : (tensor<3x3xf64>, tensor<3x3xf64>) -> tensor<3x3xf64>
  %l = train.sum %w dims [0, 1] : tensor<3x3xf64> -> tensor<f64>
  return %l : tensor<f64>
}
