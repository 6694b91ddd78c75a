// Every train attribute prints, re-parses and prints the same.
// RUN: ftc-opt %s > %t.1.mlir
// RUN: ftc-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir
// RUN: ftc-opt --mlir-print-op-generic %s | ftc-opt | FileCheck %s

// Omitted fields take PyTorch's defaults; printing spells every field out
// with the shortest decimal that reads back exactly.
// #train.lora without alpha has alpha = rank (PEFT's default scale 1).
// CHECK: module attributes {train.lora = #train.lora<rank = 16, alpha = 16.0, targets = "attn\\.c_attn|mlp", dropout = 0.05, rslora = true, variant = "dora", base = "nf4", trainable = "^lm_head">, train.optimizer = #train.adamw<lr = 0.0003, beta1 = 0.9, beta2 = 0.95, eps = 1.0e-08, weight_decay = 0.1>}
module attributes {train.optimizer = #train.adamw<weight_decay = 0.1, beta2 = 0.95, lr = 3.0e-4>,
                   train.lora = #train.lora<targets = "attn\\.c_attn|mlp", rank = 16, rslora = true, dropout = 0.05, variant = "dora", base = "nf4", trainable = "^lm_head">} {
  // CHECK: train.param @zeros : tensor<4xf32> init #train.zeros
  train.param @zeros : tensor<4xf32> init #train.zeros
  // CHECK: train.param @ones : tensor<4xbf16> init #train.ones
  train.param @ones : tensor<4xbf16> init #train.ones
  // CHECK: train.param @constant : tensor<4xf16> init #train.constant<-0.5>
  train.param @constant : tensor<4xf16> init #train.constant<-5.0e-1>
  // CHECK: train.param @normal : tensor<4x4xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @normal : tensor<4x4xf32> init #train.normal<std = 0.02>
  // CHECK: train.param @standard_normal : tensor<4xf64> init #train.normal<mean = 0.0, std = 1.0>
  train.param @standard_normal : tensor<4xf64> init #train.normal
  // CHECK: train.param @uniform : tensor<4xf32> init #train.uniform<low = -0.1, high = 0.1>
  train.param @uniform : tensor<4xf32> init #train.uniform<low = -0.1, high = 0.1>
  // CHECK: train.param @kaiming : tensor<16x3x5x5xf32> init #train.kaiming_uniform
  train.param @kaiming : tensor<16x3x5x5xf32> init #train.kaiming_uniform
  // CHECK: train.param @bias : tensor<16xf32> init #train.linear_bias<fan_in = 75>
  train.param @bias : tensor<16xf32> init #train.linear_bias<fan_in = 75>
}

