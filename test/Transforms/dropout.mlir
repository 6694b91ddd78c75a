// Dropout through a block called twice: after inlining, ftc-autodiff gives
// each copy its own stream, and the backward pass applies the same op (same
// stream: the same mask) to the gradient. ftc-bind-abi then hands every
// dropout the RNG buffer ([seed, step, training]), one per entry point.
// RUN: ftc-opt %s --pass-pipeline='builtin.module(inline,ftc-autodiff)' | FileCheck %s
// RUN: ftc-opt %s --pass-pipeline='builtin.module(inline,ftc-autodiff,ftc-bind-abi)' | FileCheck %s --check-prefix=ABI
// RUN: ftc-opt %s --pass-pipeline='builtin.module(inline,ftc-autodiff,ftc-bind-abi,func.func(ftc-convert-train-to-linalg))' | FileCheck %s --check-prefix=LOWER

// CHECK-LABEL: func.func @loss(
// CHECK: train.dropout %{{.+}} p 5.000000e-01 stream 0 :
// CHECK: train.dropout %{{.+}} p 5.000000e-01 stream 1 :
// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[Y0:.+]] = train.dropout %{{.+}} p 5.000000e-01 stream 0 :
// CHECK: %[[Y1:.+]] = train.dropout %[[Y0]] p 5.000000e-01 stream 1 :
// CHECK: %[[G1:.+]] = train.dropout %{{.+}} p 5.000000e-01 stream 1 :
// CHECK: %[[G0:.+]] = train.dropout %[[G1]] p 5.000000e-01 stream 0 :
// CHECK: return %{{.+}}, %[[G0]]

// ABI: {kind = "rng", name = "rng", type = tensor<3xi64>}
// ABI-LABEL: func.func private @ftc_eval_impl
// ABI: %[[RNG:.+]] = bufferization.to_tensor %{{.+}} restrict : memref<3xi64>
// ABI: train.dropout %{{.+}} stream 0 rng %[[RNG]] : tensor<4x8xf32>, tensor<3xi64>
// ABI: train.dropout %{{.+}} stream 1 rng %[[RNG]] : tensor<4x8xf32>, tensor<3xi64>

// The mask: seed, step and training read from the buffer, a counter-based
// hash per element (splitmix64's multipliers), a select.
// LOWER-LABEL: func.func private @ftc_eval_impl
// LOWER: tensor.extract %{{.+}}[%{{.+}}] : tensor<3xi64>
// LOWER: arith.constant -4658895280553007687 : i64
// LOWER: linalg.generic
// LOWER: linalg.index 0
// LOWER: arith.cmpi uge
// LOWER: arith.select
module {
  train.param @x : tensor<4x8xf32> init #train.normal
  func.func private @block(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %y = train.dropout %x p 0.5 : tensor<4x8xf32>
    return %y : tensor<4x8xf32>
  }
  func.func @loss(%t: tensor<4x8xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %x = train.get_param @x : tensor<4x8xf32>
    %y0 = func.call @block(%x) : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %y1 = func.call @block(%y0) : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %l = train.mse_loss %y1, %t : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
