// RUN: ftc-opt %s --split-input-file --ftc-autodiff --verify-diagnostics | FileCheck %s

// Gradients for trainable parameters only, in declaration order; none for
// the frozen parameter, the integer input or the float input.
// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: -> (tensor<f32>, tensor<3x4xf32>, tensor<3xf32>)
// CHECK-SAME: train.grad_params = [@w, @b]
// CHECK-SAME: train.gradient_of = @loss
// CHECK: %[[ONE:.+]] = train.fill 1.000000e+00 {train.loss_seed} : tensor<f32>
// CHECK: %[[DZ:.+]] = train.cross_entropy_grad %[[ONE]]
// CHECK-DAG: %[[DW:.+]] = train.matmul %[[DZ]], %{{.+}} transpose_lhs
// CHECK-DAG: %[[DB:.+]] = train.sum %[[DZ]] dims [0]
// CHECK-NOT: train.relu_grad
// CHECK: return %{{.+}}, %[[DW]], %[[DB]] : tensor<f32>, tensor<3x4xf32>, tensor<3xf32>
module {
  train.param frozen @emb : tensor<2x4xf32> init #train.normal
  train.param @w : tensor<3x4xf32> init #train.kaiming_uniform
  train.param @b : tensor<3xf32> init #train.zeros
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}, %y: tensor<2xi32> {train.input = "y"}) -> tensor<f32> attributes {train.loss} {
    %e = train.get_param @emb : tensor<2x4xf32>
    %h = train.add %x, %e : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %w = train.get_param @w : tensor<3x4xf32>
    %b = train.get_param @b : tensor<3xf32>
    %z = train.linear %h, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %l = train.cross_entropy %z, %y : (tensor<2x3xf32>, tensor<2xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// A parameter read twice gets the sum of both adjoints; one that does not
// reach the loss gets no gradient at all (and so no update).
// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: -> (tensor<f32>, tensor<4xf32>)
// CHECK-SAME: train.grad_params = [@a]
// CHECK: %[[G:.+]] = train.add
// CHECK: return %{{.+}}, %[[G]]
module {
  train.param @a : tensor<4xf32> init #train.normal
  train.param @unused : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %a1 = train.get_param @a : tensor<4xf32>
    %a2 = train.get_param @a : tensor<4xf32>
    %u = train.get_param @unused : tensor<4xf32>
    %v = train.exp %u : tensor<4xf32>
    %l = train.mse_loss %a1, %a2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Named outputs of the loss function are not part of the gradient function.
// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: -> (tensor<f32>, tensor<4xf32>)
// CHECK-NOT: train.output
module {
  train.param @a : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> (tensor<f32>, tensor<4xf32> {train.output = "pred"}) attributes {train.loss} {
    %a = train.get_param @a : tensor<4xf32>
    %l = train.mse_loss %a, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l, %a : tensor<f32>, tensor<4xf32>
  }
}

// -----

module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    // expected-error @+1 {{'train.equal' has no derivative rule, and it lies between a trainable parameter and the loss}}
    %m = train.equal %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %l = train.mse_loss %m, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// expected-error @+1 {{the model has no loss function}}
module {
  train.param @w : tensor<4xf32> init #train.normal
}

// -----

module {
  train.param @w : tensor<4xf32> init #train.normal
  // expected-error @+1 {{ftc-autodiff needs a loss function with one block; inline calls and lower control flow first}}
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    cf.br ^next
  ^next:
    %l = train.mse_loss %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Upstream elementwise ops on tensors have rules too (external models).
// CHECK-LABEL: func.func @loss_grad
// CHECK: arith.mulf
// CHECK: math.exp
// CHECK: train.mul %{{.+}}, %{{.+}} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %m = arith.mulf %w, %x : tensor<4xf32>
    %e = math.exp %m : tensor<4xf32>
    %l = train.mse_loss %e, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    // expected-error @+1 {{'math.sin' has no derivative rule, and it lies between a trainable parameter and the loss}}
    %s = math.sin %w : tensor<4xf32>
    %l = train.mse_loss %s, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
