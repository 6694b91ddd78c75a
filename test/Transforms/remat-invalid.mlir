// RUN: ftc-opt %s --split-input-file --verify-diagnostics --ftc-remat=policy=blocks

// A gradient function that returns gradients needs autodiff's seed: where
// the backward starts.
module {
  train.param @w : tensor<4xf32> init #train.zeros
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %l = train.sum %x dims [0] : tensor<4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
  // expected-error @+1 {{ftc-remat: 'loss_grad' returns gradients but has no backward seed (train.loss_seed)}}
  func.func @loss_grad(%x: tensor<4xf32> {train.input = "x"}) -> (tensor<f32>, tensor<4xf32>) attributes {train.gradient_of = @loss, train.grad_params = [@w]} {
    %l = train.sum %x dims [0] : tensor<4xf32> -> tensor<f32>
    return %l, %x : tensor<f32>, tensor<4xf32>
  }
}

// -----

// ftc-remat's marks: train.recomputed is a unit attribute on an op,
// train.remat a dictionary on the module.
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'train.recomputed' is a unit attribute marking an op ftc-remat recomputes in the backward pass}}
  %y = train.tanh %x {train.recomputed = 1 : i64} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @+1 {{'train.remat' belongs on the module and is a dictionary (ftc-remat's policy and verdict), got "blocks"}}
func.func @g() attributes {train.remat = "blocks"} {
  return
}
