// d dropout(x) = dropout(g) with the same mask: eval and grad draw the mask
// of the same (next) step, so finite differences see a fixed mask.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @x : tensor<6x5xf64> init #train.normal
func.func @loss(%probe: tensor<6x5xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %x = train.get_param @x : tensor<6x5xf64>
  %e = train.exp %x : tensor<6x5xf64>
  %y = train.dropout %e p 0.4 : tensor<6x5xf64>
  %w = train.mul %y, %probe : (tensor<6x5xf64>, tensor<6x5xf64>) -> tensor<6x5xf64>
  %l = train.sum %w dims [0, 1] : tensor<6x5xf64> -> tensor<f64>
  return %l : tensor<f64>
}
