// Upstream elementwise ops on tensors differentiate through their external
// models (arith.addf/subf/mulf/divf/negf, math.exp/log/tanh/sqrt) and lower
// through convert-elementwise-to-linalg.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @a : tensor<3x4xf64> init #train.normal
train.param @positive_b : tensor<3x4xf64> init #train.normal
func.func @loss(%probe: tensor<3x4xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %a = train.get_param @a : tensor<3x4xf64>
  %b = train.get_param @positive_b : tensor<3x4xf64>
  %s = arith.addf %a, %b : tensor<3x4xf64>
  %m = arith.mulf %s, %a : tensor<3x4xf64>
  %d = arith.divf %m, %b : tensor<3x4xf64>
  %n = arith.negf %d : tensor<3x4xf64>
  %e = math.exp %n : tensor<3x4xf64>
  %t = math.tanh %e : tensor<3x4xf64>
  %l = math.log %b : tensor<3x4xf64>
  %q = math.sqrt %b : tensor<3x4xf64>
  %u = arith.subf %t, %l : tensor<3x4xf64>
  %y = arith.addf %u, %q : tensor<3x4xf64>
  %w = train.mul %y, %probe : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
  %r = train.sum %w dims [0, 1] : tensor<3x4xf64> -> tensor<f64>
  return %r : tensor<f64>
}
