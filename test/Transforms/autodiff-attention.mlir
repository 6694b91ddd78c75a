// Autodiff through causal self-attention written with the unfused ops:
// scores q k^T / sqrt(d), causal mask, softmax, then att v.
// RUN: ftc-opt %s --ftc-autodiff | FileCheck %s

// The backward, from the loss back to q, k and v:
// d(att v): dAtt = g v^T, dV = att^T g
// CHECK-LABEL: func.func @loss_grad
// CHECK: %[[ATT:.+]] = train.softmax %[[MASKED:.+]] : tensor<2x4x4xf32>
// CHECK-DAG: %[[DATT:.+]] = train.matmul %[[G:.+]], %[[V:.+]] transpose_rhs : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x4xf32>
// CHECK-DAG: %[[DV:.+]] = train.matmul %[[ATT]], %[[G]] transpose_lhs : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
// softmax: y * (dAtt - sum(dAtt * y))
// CHECK: %[[PROD:.+]] = train.mul %[[DATT]], %[[ATT]]
// CHECK: %[[DOT:.+]] = train.sum %[[PROD]] dims [2] keepdim : tensor<2x4x4xf32> -> tensor<2x4x1xf32>
// CHECK: %[[DIFF:.+]] = train.sub %[[DATT]], %[[DOT]]
// CHECK: %[[DSOFT:.+]] = train.mul %[[ATT]], %[[DIFF]]
// The mask passes the gradient below the diagonal only.
// CHECK: %[[DMASK:.+]] = train.causal_mask %[[DSOFT]] zero : tensor<2x4x4xf32>
// The scale, then d(q k^T): dQ = dS k, dK = dS^T q.
// CHECK: %[[DS:.+]] = train.div %[[DMASK]], %{{.+}} : (tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
// CHECK-DAG: train.matmul %[[DS]], %{{.+}} : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
// CHECK-DAG: train.matmul %[[DS]], %{{.+}} transpose_lhs : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
module {
  train.param @q : tensor<2x4x8xf32> init #train.normal
  train.param @k : tensor<2x4x8xf32> init #train.normal
  train.param @v : tensor<2x4x8xf32> init #train.normal
  func.func @loss(%t: tensor<2x4x8xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %q = train.get_param @q : tensor<2x4x8xf32>
    %k = train.get_param @k : tensor<2x4x8xf32>
    %v = train.get_param @v : tensor<2x4x8xf32>
    %s0 = train.matmul %q, %k transpose_rhs : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x4x4xf32>
    %scale = train.fill 2.8284271247461903 : tensor<f32>
    %s1 = train.div %s0, %scale : (tensor<2x4x4xf32>, tensor<f32>) -> tensor<2x4x4xf32>
    %s2 = train.causal_mask %s1 : tensor<2x4x4xf32>
    %att = train.softmax %s2 : tensor<2x4x4xf32>
    %y = train.matmul %att, %v : (tensor<2x4x4xf32>, tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
    %l = train.mse_loss %y, %t : (tensor<2x4x8xf32>, tensor<2x4x8xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
