// The ops that derivative rules and the optimizer build round-trip too.
// RUN: ftc-opt %s > %t.1.mlir
// RUN: ftc-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir
// RUN: ftc-opt --mlir-print-op-generic %s | ftc-opt | FileCheck %s

// CHECK: train.param @w : tensor<4xf32> init #train.zeros
// CHECK-NEXT: train.slot @w.exp_avg of @w : tensor<4xf32>
// CHECK-NEXT: train.slot @w.exp_avg_sq of @w : tensor<4xf32>
// CHECK-NEXT: train.slot @w.momentum_buffer of @w : tensor<4xf32>
// CHECK-NEXT: train.state @optim.step : tensor<i64> = 0 : i64
// CHECK-NEXT: train.state @grad_scaler.scale : tensor<f32> = 6.553600e+04 : f32
// CHECK-NEXT: train.state @optim.lr : tensor<f64> = 1.000000e-03 : f64 {role = "setting"}
// CHECK-NEXT: train.state @optim.grad_norm : tensor<f64> = 0.000000e+00 : f64 {role = "report"}
train.param @w : tensor<4xf32> init #train.zeros
train.slot @w.exp_avg of @w : tensor<4xf32>
train.slot @w.exp_avg_sq of @w : tensor<4xf32>
train.slot @w.momentum_buffer of @w : tensor<4xf32>
train.state @optim.step : tensor<i64> = 0 : i64
train.state @grad_scaler.scale : tensor<f32> = 65536.0 : f32
train.state @optim.lr : tensor<f64> = 1.0e-3 : f64 {role = "setting"}
train.state @optim.grad_norm : tensor<f64> = 0.0 : f64 {role = "report"}

// CHECK-LABEL: func.func @helpers
func.func @helpers(%g: tensor<8x4xf32>, %x: tensor<4xf32>, %y: tensor<8x4xf32>, %l: tensor<8xi32>, %s: tensor<f32>) {
  // CHECK: train.broadcast %{{.+}} : tensor<4xf32> -> tensor<8x4xf32>
  %0 = train.broadcast %x : tensor<4xf32> -> tensor<8x4xf32>
  // CHECK: train.sum_to %{{.+}} : tensor<8x4xf32> -> tensor<1x4xf32>
  %1 = train.sum_to %g : tensor<8x4xf32> -> tensor<1x4xf32>
  // CHECK: train.relu_grad %{{.+}}, %{{.+}} : tensor<8x4xf32>
  %2 = train.relu_grad %g, %y : tensor<8x4xf32>
  // CHECK: train.equal %{{.+}}, %{{.+}} : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %3 = train.equal %y, %x : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  // CHECK: train.cross_entropy_grad %{{.+}}, %{{.+}}, %{{.+}} : (tensor<f32>, tensor<8x4xf32>, tensor<8xi32>) -> tensor<8x4xf32>
  %4 = train.cross_entropy_grad %s, %y, %l : (tensor<f32>, tensor<8x4xf32>, tensor<8xi32>) -> tensor<8x4xf32>
  return
}

// CHECK-LABEL: func.func @updates
func.func @updates(%g: tensor<4xf32>, %t: tensor<i64>) {
  %p = train.get_param @w : tensor<4xf32>
  %m = train.get_param @w.exp_avg : tensor<4xf32>
  %v = train.get_param @w.exp_avg_sq : tensor<4xf32>
  %b = train.get_param @w.momentum_buffer : tensor<4xf32>
  // CHECK: train.adamw_update %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} with <lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, weight_decay = 0.01> step %{{.+}} : tensor<4xf32>
  %p1, %m1, %v1 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t : tensor<4xf32>
  // CHECK: train.sgd_update %{{.+}}, %{{.+}} momentum(%{{.+}}) with <lr = 0.1, momentum = 0.9, dampening = 0.0, weight_decay = 0.0, nesterov = false> step %{{.+}} : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>)
  %p2, %b2 = train.sgd_update %p1, %g momentum(%b) with #train.sgd<lr = 0.1, momentum = 0.9> step %t : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>)
  // CHECK: train.sgd_update %{{.+}}, %{{.+}} with <lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0, nesterov = false> step %{{.+}} : (tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  %p3 = train.sgd_update %p2, %g with #train.sgd step %t : (tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  // A run-time learning rate, a group's multiplier and clipping.
  %lr = train.get_param @optim.lr : tensor<f64>
  // CHECK: %[[NORM:.+]], %[[COEF:.+]] = train.clip_grad_norm %{{.+}}, %{{.+}} max_norm 1.000000e+00 : tensor<4xf32>, tensor<4xf32>
  %norm, %coef = train.clip_grad_norm %g, %p max_norm 1.0 : tensor<4xf32>, tensor<4xf32>
  // CHECK: train.adamw_update {{.+}} step %{{.+}} lr %{{.+}} grad_scale %[[COEF]] {lr_scale = 5.000000e-01 : f64} : tensor<4xf32>
  %p4, %m4, %v4 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t lr %lr grad_scale %coef {lr_scale = 0.5 : f64} : tensor<4xf32>
  // CHECK: train.sgd_update {{.+}} step %{{.+}} lr %{{.+}} grad_scale %{{.+}} : (tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<f64>, tensor<f64>) -> tensor<4xf32>
  %p5 = train.sgd_update %p4, %g with #train.sgd step %t lr %lr grad_scale %coef : (tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<f64>, tensor<f64>) -> tensor<4xf32>
  // CHECK: train.set_param @optim.grad_norm, %[[NORM]] : tensor<f64>
  train.set_param @optim.grad_norm, %norm : tensor<f64>
  // CHECK: train.set_param @w, %{{.+}} : tensor<4xf32>
  train.set_param @w, %p3 : tensor<4xf32>
  // CHECK: train.set_param @w.exp_avg, %{{.+}} : tensor<4xf32>
  train.set_param @w.exp_avg, %m1 : tensor<4xf32>
  return
}

// The conventions of the functions the passes derive.
// CHECK-LABEL: func.func @derived
// CHECK-SAME: %{{.+}}: tensor<4xf32> {train.input = "x"}) attributes {train.step}
func.func @derived(%x: tensor<4xf32> {train.input = "x"}) attributes {train.step} {
  // CHECK: train.fill 1.000000e+00 {train.loss_seed} : tensor<f32>
  %seed = train.fill 1.0 {train.loss_seed} : tensor<f32>
  return
}

// Dynamic loss scaling: the flag, the conditional updates, the counter and
// the scale.
// CHECK-LABEL: func.func @loss_scaling
func.func @loss_scaling(%g: tensor<4xf32>, %h: tensor<2x3xbf16>) {
  %p = train.get_param @w : tensor<4xf32>
  %m = train.get_param @w.exp_avg : tensor<4xf32>
  %v = train.get_param @w.exp_avg_sq : tensor<4xf32>
  %b = train.get_param @w.momentum_buffer : tensor<4xf32>
  %n = train.get_param @optim.step : tensor<i64>
  %s = train.get_param @grad_scaler.scale : tensor<f32>
  // CHECK: %[[F:.+]] = train.all_finite %{{.+}}, %{{.+}} : tensor<4xf32>, tensor<2x3xbf16>
  %f = train.all_finite %g, %h : tensor<4xf32>, tensor<2x3xbf16>
  // CHECK: %[[T:.+]] = train.advance_step %{{.+}}{{$}}
  %t = train.advance_step %n
  // CHECK: train.adamw_update {{.+}} step %[[T]] if %[[F]] : tensor<4xf32>
  %p1, %m1, %v1 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t if %f : tensor<4xf32>
  // CHECK: train.sgd_update {{.+}} momentum(%{{.+}}) with {{.+}} step %[[T]] if %[[F]] : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<i1>) -> (tensor<4xf32>, tensor<4xf32>)
  %p2, %b2 = train.sgd_update %p1, %g momentum(%b) with #train.sgd<lr = 0.1, momentum = 0.9> step %t if %f : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<i1>) -> (tensor<4xf32>, tensor<4xf32>)
  // CHECK: train.sgd_update {{.+}} step %[[T]] if %[[F]] : (tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<i1>) -> tensor<4xf32>
  %p3 = train.sgd_update %p2, %g with #train.sgd step %t if %f : (tensor<4xf32>, tensor<4xf32>, tensor<i64>, tensor<i1>) -> tensor<4xf32>
  // CHECK: train.advance_step %{{.+}} if %[[F]]
  %n1 = train.advance_step %n if %f
  // CHECK: train.update_loss_scale %{{.+}}, %{{.+}} finite %[[F]] growth 2.000000e+00 backoff 5.000000e-01 interval 2000
  %s1, %k1 = train.update_loss_scale %s, %n finite %f growth 2.0 backoff 0.5 interval 2000
  // CHECK: train.set_param @optim.step, %{{.+}} : tensor<i64>
  train.set_param @optim.step, %n1 : tensor<i64>
  train.set_param @grad_scaler.scale, %s1 : tensor<f32>
  return
}
// CHECK-LABEL: func.func @derived_grad
// CHECK-SAME: attributes {train.grad_params = [@w], train.gradient_of = @derived}
func.func @derived_grad(%x: tensor<4xf32> {train.input = "x"}) attributes {train.gradient_of = @derived, train.grad_params = [@w]} {
  return
}
