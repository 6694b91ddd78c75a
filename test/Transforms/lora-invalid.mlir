// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc9' 2>&1 | FileCheck %s --check-prefix=NOMATCH
// RUN: not ftc-opt %s --ftc-lora='rank=0 targets=fc1' 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc(' 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc1 variant=dora' 2>&1 | FileCheck %s --check-prefix=DORA
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc1 dropout=0.1' 2>&1 | FileCheck %s --check-prefix=DROPOUT

// NOMATCH: error: ftc-lora: targets 'fc9' match no linear layer's weight (fc1.weight)
// RANK: error: ftc-lora: rank must be at least 1, got 0
// REGEX: error: ftc-lora: targets: invalid regular expression 'fc('
// DORA: error: ftc-lora: variant 'dora' is not supported yet (expected lora)
// DROPOUT: error: ftc-lora: dropout on the adapters is not supported yet
module {
  train.param @fc1.weight : tensor<4x8xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @fc1.weight : tensor<4x8xf32>
    %h = train.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %s = train.sum %h dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %s : tensor<f32>
  }
}
