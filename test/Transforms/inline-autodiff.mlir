// A block written once and called per layer is inlined, then differentiated:
// each layer's parameters get their own gradient, and a parameter passed to
// both calls (shared) gets the sum.
// RUN: ftc-opt %s --pass-pipeline='builtin.module(inline,ftc-autodiff)' | FileCheck %s

// CHECK-NOT: func.func private @block
// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: -> (tensor<f32>, tensor<4x4xf32>, tensor<4x4xf32>, tensor<4xf32>)
// CHECK-SAME: train.grad_params = [@h.0.w, @h.1.w, @shared.b]
// CHECK-NOT: func.call
// CHECK-COUNT-2: train.tanh
// CHECK: return
module {
  train.param @h.0.w : tensor<4x4xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @h.1.w : tensor<4x4xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @shared.b : tensor<4xf32> init #train.zeros
  func.func private @block(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>, %b: tensor<4xf32>) -> tensor<2x4xf32> {
    %h = train.linear %x, %w, %b : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %y = train.tanh %h : tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}, %t: tensor<2x4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w0 = train.get_param @h.0.w : tensor<4x4xf32>
    %w1 = train.get_param @h.1.w : tensor<4x4xf32>
    %b = train.get_param @shared.b : tensor<4xf32>
    %x1 = func.call @block(%x, %w0, %b) : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %x2 = func.call @block(%x1, %w1, %b) : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
    %l = train.mse_loss %x2, %t : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
