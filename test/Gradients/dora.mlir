// DoRA's gradient (ftc-lora variant=dora) against central differences of the
// loss with the weight norm held, as the DoRA paper and PEFT detach it: the
// adapters A and B, the magnitude m and a trainable head, through a bias
// (not rescaled) and a ReLU, with rsLoRA's scale.
// RUN: %python %S/gradcheck.py %s %t --lora-targets=fc --lora-rank=2 --lora-alpha=3 --lora-rslora --lora-variant=dora --lora-trainable=head | FileCheck %s
// CHECK: fc.lora_A.weight {{.*}}: max relative error
// CHECK: fc.lora_B.weight {{.*}}: max relative error
// CHECK: fc.lora_magnitude_vector {{.*}}: max relative error
// CHECK: head.weight {{.*}}: max relative error
// CHECK: gradcheck: ok
train.param @fc.weight : tensor<6x5xf64> init #train.normal
train.param @fc.bias : tensor<6xf64> init #train.normal
train.param @head.weight : tensor<3x6xf64> init #train.normal
func.func @loss(%x: tensor<4x5xf64> {train.input = "x"}, %probe: tensor<4x3xf64> {train.input = "probe"}) -> tensor<f64> attributes {train.loss} {
  %w = train.get_param @fc.weight : tensor<6x5xf64>
  %b = train.get_param @fc.bias : tensor<6xf64>
  %h = train.linear %x, %w, %b : (tensor<4x5xf64>, tensor<6x5xf64>, tensor<6xf64>) -> tensor<4x6xf64>
  %r = train.tanh %h : tensor<4x6xf64>
  %hw = train.get_param @head.weight : tensor<3x6xf64>
  %z = train.linear %r, %hw : (tensor<4x6xf64>, tensor<3x6xf64>) -> tensor<4x3xf64>
  %p = train.mul %z, %probe : (tensor<4x3xf64>, tensor<4x3xf64>) -> tensor<4x3xf64>
  %l = train.sum %p dims [0, 1] : tensor<4x3xf64> -> tensor<f64>
  return %l : tensor<f64>
}
