// d cross_entropy(logits, labels), classes last, [B, T] labels.
// RUN: %python %S/gradcheck.py %s %t | FileCheck %s
// CHECK: gradcheck: ok
train.param @logits : tensor<2x3x5xf64> init #train.normal
func.func @loss(%labels: tensor<2x3xi32> {train.input = "labels"}) -> tensor<f64> attributes {train.loss} {
  %logits = train.get_param @logits : tensor<2x3x5xf64>
  %l = train.cross_entropy %logits, %labels : (tensor<2x3x5xf64>, tensor<2x3xi32>) -> tensor<f64>
  return %l : tensor<f64>
}
