// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer --verify-diagnostics | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer="optimizer=sgd lr=0.1 momentum=0.9 nesterov=true" --verify-diagnostics 2>&1 | FileCheck %s --check-prefix=SGD

// AdamW (the default): two slots per parameter with a gradient, one fused
// update each, written back; the updates are numbered t = n + 1 from the
// step counter n, which the step advances.
// CHECK: module attributes {train.optimizer = #train.adamw<lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, weight_decay = 0.01>}
// CHECK: train.param @w
// CHECK-NEXT: train.slot @w.exp_avg of @w : tensor<4xf32>
// CHECK-NEXT: train.slot @w.exp_avg_sq of @w : tensor<4xf32>
// CHECK-NEXT: train.state @optim.step : tensor<i64> = 0 : i64
// CHECK-NOT: train.slot @frozen
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%{{.+}}: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.step}
// CHECK: %[[N:.+]] = train.get_param @optim.step : tensor<i64>
// CHECK-NEXT: %[[T:.+]] = train.advance_step %[[N]]{{$}}
// CHECK: %[[P:.+]], %[[M:.+]], %[[V:.+]] = train.adamw_update {{.+}} step %[[T]] : tensor<4xf32>
// CHECK-NEXT: train.set_param @w, %[[P]]
// CHECK-NEXT: train.set_param @w.exp_avg, %[[M]]
// CHECK-NEXT: train.set_param @w.exp_avg_sq, %[[V]]
// CHECK-NOT: train.adamw_update
// CHECK: train.set_param @optim.step, %[[T]] : tensor<i64>
// CHECK-NEXT: return

// Options override the module's settings; SGD with momentum keeps one buffer.
// SGD: module attributes {train.optimizer = #train.sgd<lr = 0.1, momentum = 0.9, dampening = 0.0, weight_decay = 0.0, nesterov = true>}
// SGD: train.slot @w.momentum_buffer of @w : tensor<4xf32>
// SGD: %[[P:.+]], %[[B:.+]] = train.sgd_update %{{.+}}, %{{.+}} momentum(%{{.+}}) with <lr = 0.1
// SGD-NEXT: train.set_param @w, %[[P]]
// SGD-NEXT: train.set_param @w.momentum_buffer, %[[B]]
module {
  train.param frozen @frozen : tensor<4xf32> init #train.ones
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %f = train.get_param @frozen : tensor<4xf32>
    %w = train.get_param @w : tensor<4xf32>
    %p = train.mul %w, %f : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %l = train.mse_loss %p, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// -----

// Plain SGD (no momentum) keeps no state.
// CHECK: #train.sgd<lr = 0.01, momentum = 0.0
// CHECK-NOT: train.slot
// CHECK: %[[P:.+]] = train.sgd_update %{{.+}}, %{{.+}} with <lr = 0.01
// CHECK-NEXT: train.set_param @w, %[[P]]
// SGD: #train.sgd<lr = 0.1, momentum = 0.9
module attributes {train.optimizer = #train.sgd} {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l = train.mse_loss %w, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
