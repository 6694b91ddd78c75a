// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer --verify-diagnostics | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer="optimizer=sgd lr=0.1 momentum=0.9 nesterov=true" --verify-diagnostics 2>&1 | FileCheck %s --check-prefix=SGD
// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer="clip-grad-norm=1.5 decay-params=matrices lr-scale=^b=0.5,w=2" --verify-diagnostics 2>&1 | FileCheck %s --check-prefix=GROUPS

// AdamW (the default): two slots per parameter with a gradient, one fused
// update each, written back; the updates are numbered t = n + 1 from the
// step counter n, which the step advances. The learning rate is a setting
// (f64) that every update reads.
// CHECK: module attributes {train.optimizer = #train.adamw<lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, weight_decay = 0.01>}
// CHECK: train.param @w
// CHECK-NEXT: train.slot @w.exp_avg of @w : tensor<4xf32>
// CHECK-NEXT: train.slot @w.exp_avg_sq of @w : tensor<4xf32>
// CHECK-NEXT: train.state @optim.step : tensor<i64> = 0 : i64
// CHECK-NEXT: train.state @optim.lr : tensor<f64> = 1.000000e-03 : f64 {role = "setting"}
// CHECK-NOT: train.slot @frozen
// CHECK-NOT: @optim.grad_norm
// CHECK-LABEL: func.func @step
// CHECK-SAME: (%{{.+}}: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.step}
// CHECK: %[[N:.+]] = train.get_param @optim.step : tensor<i64>
// CHECK-NEXT: %[[T:.+]] = train.advance_step %[[N]]{{$}}
// CHECK-NEXT: %[[LR:.+]] = train.get_param @optim.lr : tensor<f64>
// CHECK-NOT: train.clip_grad_norm
// CHECK: %[[P:.+]], %[[M:.+]], %[[V:.+]] = train.adamw_update {{.+}} step %[[T]] lr %[[LR]] : tensor<4xf32>
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

// Clipping: one norm over every gradient before the updates, reported
// (optim.grad_norm) and its coefficient scaling each update's gradient.
// GROUPS: train.state @optim.lr : tensor<f64> = 1.000000e-03 : f64 {role = "setting"}
// GROUPS-NEXT: train.state @optim.grad_norm : tensor<f64> = 0.000000e+00 : f64 {role = "report"}
// GROUPS: %[[NORM:.+]], %[[COEF:.+]] = train.clip_grad_norm %{{.+}} max_norm 1.500000e+00 : tensor<4xf32>
// GROUPS-NEXT: train.set_param @optim.grad_norm, %[[NORM]] : tensor<f64>
// GROUPS: train.adamw_update {{.+}} weight_decay = 0.0> step %{{.+}} lr %{{.+}} grad_scale %[[COEF]] {lr_scale = 2.000000e+00 : f64} : tensor<4xf32>
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

// -----

// Parameter groups: weight decay on the matrices only, learning-rate
// multipliers by the first regex a name contains (^b before w: @bw takes
// 0.5, @w 2, @m none).
// GROUPS: train.param @m
// GROUPS: %[[NORM:.+]], %[[COEF:.+]] = train.clip_grad_norm %{{.+}}, %{{.+}}, %{{.+}} max_norm 1.500000e+00 : tensor<4x4xf32>, tensor<4xf32>, tensor<4xf32>
// GROUPS: train.adamw_update {{.+}} weight_decay = 0.01> step %{{.+}} lr %{{.+}} grad_scale %[[COEF]] : tensor<4x4xf32>
// GROUPS-NEXT: train.set_param @m,
// GROUPS: train.adamw_update {{.+}} weight_decay = 0.0> step %{{.+}} lr %{{.+}} grad_scale %[[COEF]] {lr_scale = 5.000000e-01 : f64} : tensor<4xf32>
// GROUPS-NEXT: train.set_param @bw,
// GROUPS: train.adamw_update {{.+}} weight_decay = 0.0> step %{{.+}} lr %{{.+}} grad_scale %[[COEF]] {lr_scale = 2.000000e+00 : f64} : tensor<4xf32>
// GROUPS-NEXT: train.set_param @w,
module {
  train.param @m : tensor<4x4xf32> init #train.normal
  train.param @bw : tensor<4xf32> init #train.normal
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%x: tensor<4x4xf32> {train.input = "x"}, %t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %m = train.get_param @m : tensor<4x4xf32>
    %bw = train.get_param @bw : tensor<4xf32>
    %w = train.get_param @w : tensor<4xf32>
    %y = train.matmul %x, %m : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    %s = train.sum %y dims [0] : tensor<4x4xf32> -> tensor<4xf32>
    %a = train.mul %s, %bw : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %b = train.mul %a, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %l = train.mse_loss %b, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
