// d embedding(table, idx) / d table: a scatter-add; 12 indices into 5 rows repeat.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @table : tensor<5x4xf64> init #train.normal
func.func @loss(%idx: tensor<3x4xi32> {train.input = "idx"}, %probe: tensor<3x4x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %table = train.get_param @table : tensor<5x4xf64>
  %y = train.embedding %table, %idx : (tensor<5x4xf64>, tensor<3x4xi32>) -> tensor<3x4x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4x4xf64>, tensor<3x4x4xf64>) -> tensor<3x4x4xf64>
  %l = train.sum %w dims [0, 1, 2] : tensor<3x4x4xf64> -> tensor<f64>
  return %l : tensor<f64>
}
