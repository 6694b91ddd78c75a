// RUN: ftc-opt %s --ftc-lora='rank=2 alpha=4 targets=fc1 trainable=^head' | FileCheck %s
// RUN: ftc-opt %s --ftc-lora='rank=4 alpha=4 targets=fc1 rslora=true' | FileCheck %s --check-prefix=RS
// RUN: ftc-opt %s --ftc-lora='rank=2 targets=fc1 trainable=^head' --ftc-autodiff | FileCheck %s --check-prefix=GRAD
// RUN: ftc-opt %s --ftc-lora | FileCheck %s --check-prefix=NONE

// Without options or a train.lora on the module, nothing changes.
// NONE-NOT: lora
// NONE-NOT: frozen

// fc1's weight gets PEFT's adapters (A kaiming-uniform [r, in], B zeros
// [out, r]) declared after it; everything but the adapters and what
// `trainable` names (the head) is frozen; the layer's output gains
// s * B (A x) with s = alpha / r = 2.
// The settings used, spelled out, on the module.
// CHECK: module attributes {train.lora = #train.lora<rank = 2, alpha = 4.0, targets = "fc1", dropout = 0.0, rslora = false, variant = "lora", base = "fp32", trainable = "^head">}
// CHECK: train.param frozen @fc1.weight : tensor<16x8xf32>
// CHECK-NEXT: train.param @fc1.lora_A.weight : tensor<2x8xf32> init #train.kaiming_uniform
// CHECK-NEXT: train.param @fc1.lora_B.weight : tensor<16x2xf32> init #train.zeros
// CHECK-NEXT: train.param frozen @fc1.bias
// CHECK-NEXT: train.param @head.weight
// CHECK: %[[Y:.+]] = train.linear %[[X:.+]], %{{.+}}, %{{.+}} : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>)
// CHECK: %[[A:.+]] = train.get_param @fc1.lora_A.weight
// CHECK: %[[B:.+]] = train.get_param @fc1.lora_B.weight
// CHECK: %[[AX:.+]] = train.linear %[[X]], %[[A]] : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x2xf32>
// CHECK: %[[BAX:.+]] = train.linear %[[AX]], %[[B]] : (tensor<2x2xf32>, tensor<16x2xf32>) -> tensor<2x16xf32>
// CHECK: %[[S:.+]] = train.constant dense<2.000000e+00> : tensor<f32>
// CHECK: %[[SBAX:.+]] = train.mul %[[BAX]], %[[S]]
// CHECK: %[[OUT:.+]] = train.add %[[Y]], %[[SBAX]]
// CHECK: train.relu %[[OUT]]
// Only the matched layer: the head is a plain linear still.
// CHECK: train.linear %{{.+}}, %{{.+}} : (tensor<2x16xf32>, tensor<4x16xf32>) -> tensor<2x4xf32>
// CHECK-NOT: lora

// rsLoRA: s = alpha / sqrt(r) = 4 / 2; the head is frozen too.
// RS: train.param frozen @head.weight
// RS: train.constant dense<2.000000e+00> : tensor<f32>

// Frozen means no gradient: only the adapters and the head have one, and
// the backward has no product for fc1's weight (its gradient would be a
// [16, 8] product of the output's gradient and x).
// GRAD: train.grad_params = [@fc1.lora_A.weight, @fc1.lora_B.weight, @head.weight]
// GRAD-NOT: -> tensor<16x8xf32>
// GRAD: return
module {
  train.param @fc1.weight : tensor<16x8xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<16xf32> init #train.zeros
  train.param @head.weight : tensor<4x16xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}, %y: tensor<2xi32> {train.input = "y"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @fc1.weight : tensor<16x8xf32>
    %b = train.get_param @fc1.bias : tensor<16xf32>
    %h = train.linear %x, %w, %b : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
    %r = train.relu %h : tensor<2x16xf32>
    %hw = train.get_param @head.weight : tensor<4x16xf32>
    %z = train.linear %r, %hw : (tensor<2x16xf32>, tensor<4x16xf32>) -> tensor<2x4xf32>
    %l = train.cross_entropy %z, %y : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
