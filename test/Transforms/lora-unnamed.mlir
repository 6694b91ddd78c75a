// A linear weight the targets match but not named <module>.weight (the
// module whose adapters PEFT's files name): the error says what the name
// lacks instead of only listing it.
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=proj' 2>&1 | FileCheck %s
// CHECK: error: ftc-lora: targets 'proj' match no linear layer's weight (proj); adapters go on weights named <module>.weight, as PEFT's modules' (rename the parameter)
module {
  train.param @proj : tensor<4x8xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @proj : tensor<4x8xf32>
    %h = train.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %s = train.sum %h dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %s : tensor<f32>
  }
}
