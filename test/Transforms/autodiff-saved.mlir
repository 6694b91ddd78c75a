// RUN: ftc-opt %s --split-input-file --ftc-autodiff -o /dev/null
// RUN: not ftc-opt %s --split-input-file --ftc-autodiff --ftc-autodiff-test-undeclared=train.exp 2>&1 | FileCheck %s --check-prefix=EXP
// RUN: not ftc-opt %s --split-input-file --ftc-autodiff --ftc-autodiff-test-undeclared=train.max 2>&1 | FileCheck %s --check-prefix=MAX
// RUN: not ftc-opt %s --split-input-file --ftc-autodiff --ftc-autodiff-test-undeclared=math.sqrt 2>&1 | FileCheck %s --check-prefix=SQRT

// Every derivative rule reads only the forward values its op declares with
// getSavedForBackward (what must be kept, or recomputed, for the backward);
// ftc-autodiff checks each rule as it builds it. With the declaration of
// one op taken as empty (--ftc-autodiff-test-undeclared), the check fires at that op and
// names the value. The rules of exp, tanh, sqrt (train and math) and max
// read their results; mul, div and log their operands; add, sub and neg
// nothing.
// EXP: autodiff-saved.mlir:[[@LINE+10]]:10: error: the derivative rule of 'train.exp' reads a forward value that its getSavedForBackward does not declare
// EXP: note: result #0 of 'train.exp'
// MAX: error: the derivative rule of 'train.max' reads a forward value that its getSavedForBackward does not declare
// SQRT: error: the derivative rule of 'math.sqrt' reads a forward value that its getSavedForBackward does not declare
// SQRT: note: result #0 of 'math.sqrt'
module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %a = train.mul %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %e = train.exp %a : tensor<4xf32>
    %t = train.tanh %e : tensor<4xf32>
    %s = train.sqrt %e : tensor<4xf32>
    %u = train.add %t, %s : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %m = train.max %u dims [0] : tensor<4xf32> -> tensor<f32>
    return %m : tensor<f32>
  }
}

// -----

module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %a = arith.mulf %w, %x : tensor<4xf32>
    %e = math.exp %a : tensor<4xf32>
    %s = math.sqrt %e : tensor<4xf32>
    %l = train.sum %s dims [0] : tensor<4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
