// RUN: ftc-opt %s --ftc-optimizer --verify-diagnostics
// RUN: not ftc-opt %s --ftc-optimizer="optimizer=rmsprop" 2>&1 | FileCheck %s --check-prefix=KIND
// RUN: not ftc-opt %s --ftc-autodiff --ftc-optimizer="momentum=0.9" 2>&1 | FileCheck %s --check-prefix=MIXED
// RUN: not ftc-opt %s --ftc-autodiff --ftc-optimizer="beta1=1.5" 2>&1 | FileCheck %s --check-prefix=RANGE

// expected-error @+1 {{ftc-optimizer needs the gradient function; run ftc-autodiff first}}
module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l = train.mse_loss %w, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
// Values are checked when the options are parsed: without ftc-autodiff, the
// pass would stop at the missing gradient function if it ran.
// KIND: error: --optimizer: expected adamw or sgd, got 'rmsprop'
// KIND-NOT: error: ftc-optimizer needs the gradient function
// MIXED: error: momentum, dampening and nesterov are SGD settings; the optimizer is adamw
// RANGE: error: #train.adamw: beta1 must be in [0, 1), got 1.5
// RUN: not ftc-opt %s --ftc-autodiff --ftc-optimizer="optimizer=sgd eps=0.1" 2>&1 | FileCheck %s --check-prefix=ADAMONLY
// RUN: not ftc-opt %s --ftc-autodiff --ftc-optimizer="optimizer=sgd nesterov=yes" 2>&1 | FileCheck %s --check-prefix=BOOL
// RUN: not ftc-opt %s --ftc-autodiff --ftc-optimizer="optimizer=sgd momentum=0.9 dampening=-0.5" 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// ADAMONLY: error: beta1, beta2 and eps are AdamW settings; the optimizer is sgd
// BOOL: error: --nesterov: expected true or false, got 'yes'
// NEGATIVE: error: --dampening: expected a non-negative number, got -0.5
// RUN: not ftc-opt %s --ftc-optimizer="clip-grad-norm=0" 2>&1 | FileCheck %s --check-prefix=CLIP
// RUN: not ftc-opt %s --ftc-optimizer="decay-params=(bias" 2>&1 | FileCheck %s --check-prefix=DECAY
// RUN: not ftc-opt %s --ftc-optimizer="lr-scale=wte" 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not ftc-opt %s --ftc-optimizer="lr-scale=wte=-1" 2>&1 | FileCheck %s --check-prefix=SCALE
// RUN: not ftc-opt %s --ftc-optimizer="lr-scale=[=2" 2>&1 | FileCheck %s --check-prefix=SCALEREGEX
// CLIP: error: --clip-grad-norm: expected a positive bound, got 0{{$}}
// DECAY: error: --decay-params: expected all, matrices, none or a regex; '(bias' is not a regex: parentheses not balanced
// SCALE: error: --lr-scale: expected REGEX=FACTOR with a non-negative factor, got 'wte{{(=-1)?}}'
// SCALEREGEX: error: --lr-scale: '[' is not a regex: brackets ([ ]) not balanced
