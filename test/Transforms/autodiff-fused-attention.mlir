// The rule of the fused attention op: one attention_grad gives dq, dk and dv
// from q, k, v and the output's gradient; nothing of size T x T is kept.
// RUN: ftc-opt %s --ftc-autodiff | FileCheck %s
// Lowering expands both ops into the unfused maths; the backward recomputes
// the probabilities (a second q k^T and softmax) instead of keeping them.
// RUN: ftc-opt %s --pass-pipeline='builtin.module(ftc-autodiff,ftc-bind-abi,func.func(ftc-expand-composites,ftc-convert-train-to-linalg))' | FileCheck %s --check-prefix=LOWER

// CHECK-LABEL: func.func @loss_grad
// CHECK-SAME: train.grad_params = [@q, @k, @v]
// CHECK-DAG: %[[Q:.+]] = train.get_param @q
// CHECK-DAG: %[[K:.+]] = train.get_param @k
// CHECK-DAG: %[[V:.+]] = train.get_param @v
// CHECK: %[[Y:.+]] = train.attention %[[Q]], %[[K]], %[[V]] causal
// CHECK: %[[L:.+]] = train.mse_loss %[[Y]]
// CHECK: %[[G:.+]] = train.mul %{{.+}}, %{{.+}} : (tensor<f32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
// CHECK-NOT: train.softmax
// CHECK: %[[DQ:.+]], %[[DK:.+]], %[[DV:.+]] = train.attention_grad %[[G]], %[[Q]], %[[K]], %[[V]] causal : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>)
// CHECK: return %[[L]], %[[DQ]], %[[DK]], %[[DV]]

// LOWER-LABEL: func.func private @ftc_grad_impl
// LOWER-NOT: train.
// Forward: one softmax (its max, its exp-sum).
// LOWER-COUNT-2: math.exp
// Backward: the probabilities again.
// LOWER-COUNT-2: math.exp
// LOWER-NOT: math.exp
// LOWER: return
module {
  train.param @q : tensor<2x4x8xf32> init #train.normal
  train.param @k : tensor<2x4x8xf32> init #train.normal
  train.param @v : tensor<2x4x8xf32> init #train.normal
  func.func @loss(%t: tensor<2x4x8xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %q = train.get_param @q : tensor<2x4x8xf32>
    %k = train.get_param @k : tensor<2x4x8xf32>
    %v = train.get_param @v : tensor<2x4x8xf32>
    %y = train.attention %q, %k, %v causal : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %l = train.mse_loss %y, %t : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
