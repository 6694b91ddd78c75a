// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-remat=policy=blocks | FileCheck %s
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-remat=policy=blocks --canonicalize --cse | FileCheck %s --check-prefix=CSE
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-remat=policy=none | FileCheck %s --check-prefix=NONE
// RUN: not ftc-opt %s --ftc-remat=policy=all 2>&1 | FileCheck %s --check-prefix=POLICY
// RUN: not ftc-opt %s --ftc-remat='policy=budget' 2>&1 | FileCheck %s --check-prefix=NOBUDGET
// RUN: not ftc-opt %s --ftc-remat='memory-budget=12XB' 2>&1 | FileCheck %s --check-prefix=BYTES
// RUN: not ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-remat='memory-budget=100' 2>&1 | FileCheck %s --check-prefix=INFEASIBLE

// ftc-remat's rewrite: two blocks (two calls of @block, told apart by the
// inliner's call sites); with policy=blocks each keeps its input and
// recomputes its tanh (read by the tanh's rule) from it, the linear too
// (the tanh's input), just before the backward reads the tanh. The clones
// read the kept values through train.remat_barrier and carry
// train.recomputed; the originals' results no longer reach the backward.
module {
  train.param @w1 : tensor<4x4xf32> init #train.normal
  train.param @w2 : tensor<4x4xf32> init #train.normal
  func.func private @block(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
    %h = train.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %t = train.tanh %h : tensor<2x4xf32>
    %y = train.add %x, %t : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}, %t: tensor<2x4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w1 = train.get_param @w1 : tensor<4x4xf32>
    %w2 = train.get_param @w2 : tensor<4x4xf32>
    %y1 = func.call @block(%x, %w1) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %y2 = func.call @block(%y1, %w2) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %l = train.mse_loss %y2, %t : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}

// CHECK: module attributes {{{.*}}train.remat = {kept = {{[0-9]+}} : i64, peak = {{[0-9]+}} : i64, policy = "blocks", recompute_flops = 1.440000e+02 : f64, recomputed_ops = 4 : i64
// CHECK-LABEL: func.func @loss_grad(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<2x4xf32>
// CHECK: %[[W1:.+]] = train.get_param @w1
// CHECK: %[[W2:.+]] = train.get_param @w2
// CHECK: %[[H1:.+]] = train.linear %[[X]], %[[W1]]
// CHECK: %[[T1:.+]] = train.tanh %[[H1]] :
// CHECK: %[[Y1:.+]] = train.add %[[X]], %[[T1]]
// CHECK: train.fill 1.000000e+00 {train.loss_seed}
// The second block's backward first: its tanh again, from its input y1.
// CHECK: %[[B1:.+]] = train.remat_barrier %[[Y1]]
// CHECK: %[[B2:.+]] = train.remat_barrier %[[W2]]
// CHECK: %[[H2R:.+]] = train.linear %[[B1]], %[[B2]] {train.recomputed}
// CHECK: %[[T2R:.+]] = train.tanh %[[H2R]] {train.recomputed}
// CHECK: train.mul %[[T2R]], %[[T2R]]
// Then the first block's, from the input x.
// CHECK: %[[B3:.+]] = train.remat_barrier %[[X]]
// CHECK: %[[B4:.+]] = train.remat_barrier %[[W1]]
// CHECK: %[[H1R:.+]] = train.linear %[[B3]], %[[B4]] {train.recomputed}
// CHECK: %[[T1R:.+]] = train.tanh %[[H1R]] {train.recomputed}
// CHECK: train.mul %[[T1R]], %[[T1R]]
// CHECK: return

// Canonicalization and CSE leave the clones: they read the barriers, not
// what the originals read.
// CSE-LABEL: func.func @loss_grad(
// CSE-COUNT-2: train.linear %{{.+}}, %{{.+}} :
// CSE: train.loss_seed
// CSE-COUNT-2: train.tanh {{.*}}{train.recomputed}

// NONE: train.remat = {{{.*}}policy = "none", recompute_flops = 0.000000e+00 : f64, recomputed_ops = 0
// NONE-NOT: train.recomputed
// NONE-NOT: train.remat_barrier

// POLICY: ftc-remat: policy: expected none, blocks, sqrt or budget, got 'all'
// NOBUDGET: ftc-remat: policy=budget needs memory-budget
// BYTES: ftc-remat: memory-budget: expected bytes (as 3000000, 512KiB, 300MiB or 1.5GiB), got '12XB'
// INFEASIBLE: error: ftc-remat: memory-budget=100 bytes is below the least peak of tensors this step can reach, {{[0-9]+}} bytes (every block recomputed
