// RUN: ftc-opt %s --ftc-lora | FileCheck %s
// RUN: ftc-opt %s --ftc-lora='rank=4 alpha=2' | FileCheck %s --check-prefix=OVERRIDE
// RUN: ftc-opt %s --ftc-lora='dropout=0' | FileCheck %s --check-prefix=NODROP

// The module's train.lora asks for the adapters; options given override its
// fields one by one. Without alpha the scale is 1 (alpha = rank).
// CHECK: module attributes {train.lora = #train.lora<rank = 2, alpha = 2.0, targets = "fc", dropout = 0.1, rslora = false, variant = "lora", base = "fp32", trainable = "">}
// CHECK: train.param frozen @fc.weight : tensor<16x8xf32>
// CHECK-NEXT: train.param @fc.lora_A.weight : tensor<2x8xf32>
// CHECK-NEXT: train.param @fc.lora_B.weight : tensor<16x2xf32>

// PEFT's lora_dropout: on the adapter path's input only; the frozen
// product reads x itself.
// CHECK: %[[Y:.+]] = train.linear %[[X:[^,]+]], %{{.+}} : (tensor<2x8xf32>, tensor<16x8xf32>)
// CHECK: %[[D:.+]] = train.dropout %[[X]] p 1.000000e-01 : tensor<2x8xf32>
// CHECK: %[[A:.+]] = train.get_param @fc.lora_A.weight
// CHECK: train.linear %[[D]], %[[A]]
// CHECK: train.constant dense<1.000000e+00> : tensor<f32>

// OVERRIDE: train.lora = #train.lora<rank = 4, alpha = 2.0, targets = "fc", dropout = 0.1,
// OVERRIDE: train.param @fc.lora_A.weight : tensor<4x8xf32>
// OVERRIDE: train.constant dense<5.000000e-01> : tensor<f32>

// NODROP-NOT: train.dropout
module attributes {train.lora = #train.lora<rank = 2, targets = "fc", dropout = 0.1>} {
  train.param @fc.weight : tensor<16x8xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @fc.weight : tensor<16x8xf32>
    %h = train.linear %x, %w : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
    %s = train.sum %h dims [0, 1] : tensor<2x16xf32> -> tensor<f32>
    return %s : tensor<f32>
  }
}
