// RUN: ftc-opt %s --split-input-file --ftc-verify-model --verify-diagnostics | FileCheck %s

// A complete model passes through unchanged.
// CHECK-LABEL: func.func @loss
// CHECK: train.mse_loss
module {
  train.param @w : tensor<4xf32> init #train.zeros
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l = train.mse_loss %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// expected-error @+1 {{the model has no loss function: mark the func.func that returns the loss with {train.loss}}}
module {
  train.param @w : tensor<4xf32> init #train.zeros
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

module {
  // expected-note @+1 {{the first loss function is here}}
  func.func @loss(%x: tensor<f32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    return %x : tensor<f32>
  }
  // expected-error @+1 {{the model has more than one loss function}}
  func.func @loss2(%x: tensor<f32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    return %x : tensor<f32>
  }
}
