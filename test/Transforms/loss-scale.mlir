// RUN: ftc-opt %s --split-input-file --ftc-autocast=precision=fp16 --ftc-autodiff --ftc-optimizer --ftc-loss-scale | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-autocast=precision=fp16 --ftc-autodiff --ftc-optimizer --ftc-loss-scale=loss-scale=none | FileCheck %s --check-prefix=NONE
// RUN: ftc-opt %s --split-input-file --ftc-autocast=precision=bf16 --ftc-autodiff --ftc-optimizer --ftc-loss-scale | FileCheck %s --check-prefix=NONE
// RUN: ftc-opt %s --split-input-file --ftc-autodiff --ftc-optimizer --ftc-loss-scale='loss-scale=dynamic loss-scale-init=1024 loss-scale-growth-interval=3' | FileCheck %s --check-prefix=FP32
// RUN: ftc-opt %s --split-input-file --ftc-autocast=precision=fp16 --ftc-autodiff --ftc-optimizer=clip-grad-norm=1.0 --ftc-loss-scale | FileCheck %s --check-prefix=CLIP
// RUN: not ftc-opt %s --ftc-loss-scale=loss-scale=static 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not ftc-opt %s --ftc-loss-scale=loss-scale-backoff-factor=1 2>&1 | FileCheck %s --check-prefix=BACKOFF
// RUN: not ftc-opt %s --ftc-loss-scale=loss-scale-growth-interval=0 2>&1 | FileCheck %s --check-prefix=INTERVAL
// RUN: not ftc-opt %s --split-input-file --ftc-autodiff --ftc-loss-scale=loss-scale=dynamic 2>&1 | FileCheck %s --check-prefix=ORDER

// fp16: the scale and its growth tracker are state; the gradient function
// seeds its backward with the scale and returns unscaled gradients; the
// step unscales each gradient once, checks all of them with one
// train.all_finite, applies the updates and advances the step counter only
// when they are finite, and moves the scale.
// CHECK: module attributes {train.loss_scale = {backoff_factor = 5.000000e-01 : f64, growth_factor = 2.000000e+00 : f64, growth_interval = 2000 : i64, init_scale = 6.553600e+04 : f64}
// CHECK: train.state @optim.step : tensor<i64> = 0 : i64
// CHECK-NEXT: train.state @grad_scaler.scale : tensor<f32> = 6.553600e+04 : f32
// CHECK-NEXT: train.state @grad_scaler.growth_tracker : tensor<i64> = 0 : i64

// CHECK-LABEL: func.func @loss_grad
// CHECK-NOT: train.fill 1.000000e+00 {train.loss_seed}
// CHECK: %[[S:.+]] = train.get_param @grad_scaler.scale {train.loss_seed} : tensor<f32>
// CHECK-NEXT: %[[ONE:.+]] = train.fill 1.000000e+00 : tensor<f32>
// CHECK-NEXT: %[[INV:.+]] = train.div %[[ONE]], %[[S]]
// CHECK-NEXT: train.cross_entropy_grad %[[S]]
// CHECK: %[[GW:.+]] = train.mul %{{.+}}, %[[INV]] : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[GB:.+]] = train.mul %{{.+}}, %[[INV]] : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: return %{{.+}}, %[[GW]], %[[GB]]

// CHECK-LABEL: func.func @step
// CHECK: %[[S:.+]] = train.get_param @grad_scaler.scale {train.loss_seed} : tensor<f32>
// CHECK-NEXT: %[[K:.+]] = train.get_param @grad_scaler.growth_tracker : tensor<i64>
// CHECK: %[[N:.+]] = train.get_param @optim.step
// CHECK-NEXT: %[[T:.+]] = train.advance_step %[[N]]{{$}}
// CHECK: %[[UW:.+]] = train.mul %{{.+}}, %[[INV:.+]] : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xf32>
// CHECK-NEXT: %[[UB:.+]] = train.mul %{{.+}}, %[[INV]] : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT: %[[F:.+]] = train.all_finite %[[UW]], %[[UB]] : tensor<4x16xf32>, tensor<4xf32>
// CHECK-NOT: train.all_finite
// CHECK: train.adamw_update %{{.+}}, %[[UW]], {{.+}} step %[[T]] lr %{{.+}} if %[[F]] : tensor<4x16xf32>
// CHECK: train.adamw_update %{{.+}}, %[[UB]], {{.+}} step %[[T]] lr %{{.+}} if %[[F]] : tensor<4xf32>
// CHECK: %[[NEXT:.+]] = train.advance_step %[[N]] if %[[F]]
// CHECK-NEXT: train.set_param @optim.step, %[[NEXT]]
// CHECK-NEXT: %[[NS:.+]], %[[NK:.+]] = train.update_loss_scale %[[S]], %[[K]] finite %[[F]] growth 2.000000e+00 backoff 5.000000e-01 interval 2000
// CHECK-NEXT: train.set_param @grad_scaler.scale, %[[NS]]
// CHECK-NEXT: train.set_param @grad_scaler.growth_tracker, %[[NK]]
// CHECK-NEXT: return

// Accumulation: each batch's backward seeded with the scale, its gradients
// unscaled into the running sums; apply checks the sums (unscaled already:
// a factor of 1), updates only if finite and moves the scale.
// CHECK-LABEL: func.func @accumulate
// CHECK: %[[AS:.+]] = train.get_param @grad_scaler.scale {train.loss_seed} : tensor<f32>
// CHECK: %[[AINV:.+]] = train.div %{{.+}}, %[[AS]]
// CHECK: %[[AU:.+]] = train.mul %{{.+}}, %[[AINV]] : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xf32>
// CHECK-NEXT: train.add %{{.+}}, %[[AU]] : (tensor<4x16xf32>, tensor<4x16xf32>) -> tensor<4x16xf32>
// CHECK-LABEL: func.func @apply
// CHECK: %[[PS:.+]] = train.get_param @grad_scaler.scale : tensor<f32>
// CHECK: %[[ONE:.+]] = train.fill 1.000000e+00 : tensor<f32>
// CHECK: %[[PF:.+]] = train.all_finite
// CHECK: train.adamw_update {{.+}} if %[[PF]] : tensor<4x16xf32>
// CHECK: train.update_loss_scale %[[PS]], %{{.+}} finite %[[PF]]

// With clipping, the norm is of the unscaled gradients (as after
// GradScaler.unscale_), measured after they are unscaled.
// CLIP-LABEL: func.func @step
// CLIP: %[[UW:.+]] = train.mul %{{.+}}, %[[INV:.+]] : (tensor<4x16xf32>, tensor<f32>) -> tensor<4x16xf32>
// CLIP-NEXT: %[[UB:.+]] = train.mul %{{.+}}, %[[INV]] : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CLIP-NEXT: %[[F:.+]] = train.all_finite %[[UW]], %[[UB]]
// CLIP-NEXT: %[[NORM:.+]], %[[COEF:.+]] = train.clip_grad_norm %[[UW]], %[[UB]] max_norm 1.000000e+00
// CLIP: train.adamw_update %{{.+}}, %[[UW]], {{.+}} grad_scale %[[COEF]] if %[[F]] : tensor<4x16xf32>

// Without loss scaling (bf16, or loss-scale=none): a seed of 1, updates
// without a condition.
// NONE-NOT: train.loss_scale
// NONE-NOT: grad_scaler
// NONE: train.fill 1.000000e+00 {train.loss_seed}
// NONE-NOT: train.all_finite
// NONE-NOT: train.adamw_update {{.+}} if %

// Asked for in fp32, with other settings: they are recorded and used.
// FP32: train.loss_scale = {backoff_factor = 5.000000e-01 : f64, growth_factor = 2.000000e+00 : f64, growth_interval = 3 : i64, init_scale = 1.024000e+03 : f64}
// FP32: train.state @grad_scaler.scale : tensor<f32> = 1.024000e+03 : f32
// FP32: train.update_loss_scale {{.+}} interval 3

// BAD: --loss-scale: expected dynamic or none, got 'static'
// BACKOFF: --loss-scale-backoff-factor: expected a number between 0 and 1, got 1
// INTERVAL: --loss-scale-growth-interval: expected a positive integer, got 0
// ORDER: ftc-loss-scale needs the gradient function and the step; run ftc-autodiff and ftc-optimizer first
module {
  train.param @w : tensor<4x16xf32> init #train.normal
  train.param @b : tensor<4xf32> init #train.zeros
  func.func @loss(%x: tensor<8x16xf32> {train.input = "x"}, %y: tensor<8xi32> {train.input = "y"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4x16xf32>
    %b = train.get_param @b : tensor<4xf32>
    %z = train.linear %x, %w, %b : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4xf32>) -> tensor<8x4xf32>
    %l = train.cross_entropy %z, %y : (tensor<8x4xf32>, tensor<8xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
