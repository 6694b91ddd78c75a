// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-optimizer --ftc-check-numerics | FileCheck %s
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-optimizer="optimizer=sgd lr=0.1" --ftc-check-numerics | FileCheck %s --check-prefix=SGD
// RUN: not ftc-opt %s --ftc-check-numerics 2>&1 | FileCheck %s --check-prefix=NOGRAD

// ftc-check-numerics: each float result of the forward and the backward is
// followed by a numbered check, chained from 0; the chain's end is written
// to @numerics.first, and in the step the updates and the counter apply
// only where nothing was noted. ftc.numerics says what each check watches.
// CHECK: module attributes {ftc.numerics = ["train.sqrt in the forward at {{.*}}check-numerics.mlir:[[#@LINE+22]]:10", "train.mse_loss in the forward at {{.*}}", "train.mul in the backward (of the op at {{.*}})"
// CHECK: train.state @numerics.first : tensor<i64> = 0 : i64
// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[ZERO:.*]] = arith.constant dense<0> : tensor<i64>
// CHECK: %[[S:.*]] = train.sqrt
// CHECK-NEXT: %[[C1:.*]] = train.note_nonfinite %[[ZERO]], %[[S]] id 1 : tensor<4xf32>
// CHECK: %[[DIV:.*]] = train.div
// CHECK-NEXT: %[[LAST:.*]] = train.note_nonfinite %{{.*}}, %[[DIV]] id 7
// CHECK-NEXT: train.set_param @numerics.first, %[[LAST]]
// CHECK-LABEL: func.func @step
// CHECK: train.note_nonfinite {{.*}} id 14
// CHECK: train.set_param @numerics.first, %[[END:.*]] : tensor<i64>
// CHECK-NEXT: %[[OK:.*]] = train.nothing_noted %[[END]]
// CHECK-NEXT: train.advance_step %{{.*}} if %[[OK]]
// CHECK: train.adamw_update {{.*}} if %[[OK]]
// SGD: %[[OK:.*]] = train.nothing_noted
// SGD: train.sgd_update {{.*}} if %[[OK]]
// NOGRAD: error: ftc-check-numerics needs the gradient function; run ftc-autodiff first
module {
  train.param @w : tensor<4xf32> init #train.zeros
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %s = train.sqrt %w : tensor<4xf32>
    %l = train.mse_loss %s, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
