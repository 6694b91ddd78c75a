// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc9' 2>&1 | FileCheck %s --check-prefix=NOMATCH
// RUN: not ftc-opt %s --ftc-lora='rank=0 targets=fc1' 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc(' 2>&1 | FileCheck %s --check-prefix=REGEX
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc1 rslora=yes' 2>&1 | FileCheck %s --check-prefix=RSLORA
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc1 dropout=1' 2>&1 | FileCheck %s --check-prefix=DROPOUT
// RUN: not ftc-opt %s --ftc-lora='rank=2 targets=fc1 variant=qlora' 2>&1 | FileCheck %s --check-prefix=VARIANT
// RUN: not ftc-opt %s --ftc-lora='rank=2' 2>&1 | FileCheck %s --check-prefix=NOTARGETS

// NOMATCH: error: ftc-lora: targets 'fc9' match no linear layer's weight (fc1.weight)
// Bad values are found when the options are parsed, before the IR is read.
// RANK: error: --lora-rank: expected a positive integer, got 0
// REGEX: error: --lora-targets: invalid regular expression 'fc('
// RSLORA: error: --lora-rslora: expected true or false, got 'yes'
// DROPOUT: error: --lora-dropout: expected a probability in [0, 1), got 1
// VARIANT: error: --lora-variant: expected lora or dora, got 'qlora'
// NOTARGETS: error: ftc-lora: which linear weights get adapters? Give --lora-targets=REGEX
module {
  train.param @fc1.weight : tensor<4x8xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @fc1.weight : tensor<4x8xf32>
    %h = train.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
    %s = train.sum %h dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %s : tensor<f32>
  }
}
