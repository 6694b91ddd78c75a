// RUN: ftc-opt %s --pass-pipeline='builtin.module(ftc-autodiff,ftc-optimizer,ftc-bind-abi)' | FileCheck %s

// The layout: parameters, slots and states (the step counter; the
// learning rate, a setting the caller sets; whether apply updates each
// parameter, a sharded optimizer's setting) in declaration order, inputs,
// the loss, outputs, gradients.
// CHECK: ftc.abi = [
// CHECK-SAME: {init = #train.normal<mean = 0.0, std = 1.0>, kind = "param", name = "w", trainable = true, type = tensor<4xf32>}
// CHECK-SAME: {kind = "slot", name = "w.exp_avg", of = @w, type = tensor<4xf32>}
// CHECK-SAME: {kind = "slot", name = "w.exp_avg_sq", of = @w, type = tensor<4xf32>}
// CHECK-SAME: {init = 0 : i64, kind = "state", name = "optim.step", type = tensor<i64>}
// CHECK-SAME: {init = 1.000000e-03 : f64, kind = "setting", name = "optim.lr", type = tensor<f64>}
// CHECK-SAME: {init = 1.000000e+00 : f64, kind = "setting", name = "optim.grad_scale", type = tensor<f64>}
// CHECK-SAME: {init = 1 : i64, kind = "setting", name = "optim.owned.w", type = tensor<i64>}
// CHECK-SAME: {kind = "input", name = "t", type = tensor<4xf32>}
// CHECK-SAME: {kind = "loss", name = "loss", type = tensor<f32>}
// CHECK-SAME: {kind = "output", name = "pred", type = tensor<4xf32>}
// CHECK-SAME: {kind = "grad", name = "w", type = tensor<4xf32>}
// CHECK-NOT: train.param
// CHECK-NOT: train.slot
// CHECK-NOT: train.state

// eval reads the parameter (read-only) and writes the loss and the output.
// CHECK-LABEL: func.func private @ftc_eval_impl
// CHECK-SAME: (%[[T:.+]]: memref<4xf32>, %[[W:.+]]: memref<4xf32>, %[[L:.+]]: memref<f32>, %[[P:.+]]: memref<4xf32>)
// CHECK-SAME: ftc.abi_indices = array<i64: 7, 0, 8, 9>, ftc.entry = "eval"
// CHECK-DAG: bufferization.to_tensor %[[W]] restrict : memref<4xf32>
// CHECK-DAG: bufferization.to_tensor %[[T]] restrict : memref<4xf32>
// CHECK-DAG: bufferization.materialize_in_destination %{{.+}} in restrict writable %[[L]]
// CHECK-DAG: bufferization.materialize_in_destination %{{.+}} in restrict writable %[[P]]

// CHECK-LABEL: func.func private @ftc_grad_impl
// CHECK-SAME: ftc.abi_indices = array<i64: 7, 0, 8, 10>, ftc.entry = "grad"

// step updates the parameter, its slots and the step counter in place:
// writable reads; it reads the learning rate.
// CHECK-LABEL: func.func private @ftc_step_impl
// CHECK-SAME: ftc.abi_indices = array<i64: 7, 0, 3, 4, 1, 2, 8>, ftc.entry = "step"
// CHECK: bufferization.to_tensor %{{.+}} restrict writable
// CHECK: train.adamw_update
// CHECK-COUNT-4: bufferization.materialize_in_destination

// accumulate reads and writes the gradient buffer (10) through one memref,
// the running sum plus this batch's gradient; apply reads it and the
// factor (optim.grad_scale, 5), and updates as step does, if the
// parameter's optim.owned flag (6) says so.
// CHECK-LABEL: func.func private @ftc_accumulate_impl
// CHECK-SAME: (%[[T:.+]]: memref<4xf32>, %[[SUM:.+]]: memref<4xf32>, %{{.+}}: memref<4xf32>, %{{.+}}: memref<f32>)
// CHECK-SAME: ftc.abi_indices = array<i64: 7, 10, 0, 8>, ftc.entry = "accumulate"
// CHECK: bufferization.to_tensor %[[SUM]] restrict writable
// CHECK: train.add
// CHECK: bufferization.materialize_in_destination %{{.+}} in restrict writable %[[SUM]]
// CHECK-LABEL: func.func private @ftc_apply_impl
// CHECK-SAME: ftc.abi_indices = array<i64: 10, 5, 3, 4, 0, 1, 2, 6>, ftc.entry = "apply"
// CHECK: %[[OWNED:.+]] = arith.cmpi ne
// CHECK-NEXT: scf.if %[[OWNED]]
// CHECK-NEXT: train.adamw_update
module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> (tensor<f32>, tensor<4xf32> {train.output = "pred"}) attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l = train.mse_loss %w, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l, %w : tensor<f32>, tensor<4xf32>
  }
}
