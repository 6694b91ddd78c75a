// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-expand-composites))' | FileCheck %s

// Attention as the ops GPT-2 writes: q k^T / sqrt(D), the causal mask,
// softmax, then P v.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.+]]: tensor<2x4x3xf32>, %[[K:.+]]: tensor<2x4x3xf32>, %[[V:.+]]: tensor<2x4x5xf32>)
// CHECK: %[[S:.+]] = train.matmul %[[Q]], %[[K]] transpose_rhs : (tensor<2x4x3xf32>, tensor<2x4x3xf32>) -> tensor<2x4x4xf32>
// CHECK: %[[SQRTD:.+]] = train.fill 1.7320508075688772 : tensor<f32>
// CHECK: %[[SC:.+]] = train.div %[[S]], %[[SQRTD]]
// CHECK: %[[M:.+]] = train.causal_mask %[[SC]] : tensor<2x4x4xf32>
// CHECK: %[[P:.+]] = train.softmax %[[M]] : tensor<2x4x4xf32>
// CHECK: %[[Y:.+]] = train.matmul %[[P]], %[[V]] : (tensor<2x4x4xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
// CHECK: return %[[Y]]
// CHECK-NOT: train.attention
func.func @attention(%q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>) -> tensor<2x4x5xf32> {
  %y = train.attention %q, %k, %v causal : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}

// -----

// An explicit scale multiplies the scores; no mask without `causal`.
// CHECK-LABEL: func.func @scaled
// CHECK: %[[S:.+]] = train.matmul %{{.+}}, %{{.+}} transpose_rhs
// CHECK: %[[SCALE:.+]] = train.fill 5.000000e-01 : tensor<f32>
// CHECK: %[[SC:.+]] = train.mul %[[S]], %[[SCALE]]
// CHECK-NOT: train.causal_mask
// CHECK: train.softmax %[[SC]]
func.func @scaled(%q: tensor<2x4x3xf32>, %k: tensor<2x6x3xf32>, %v: tensor<2x6x5xf32>) -> tensor<2x4x5xf32> {
  %z = train.attention %q, %k, %v {scale = 0.5 : f64} : (tensor<2x4x3xf32>, tensor<2x6x3xf32>, tensor<2x6x5xf32>) -> tensor<2x4x5xf32>
  return %z : tensor<2x4x5xf32>
}

// -----

// The gradient recomputes P, then dv = P^T g, dP = g v^T,
// dS = P * (dP - rowsum(dP * P)) / sqrt(D), dq = dS k, dk = dS^T q.
// CHECK-LABEL: func.func @attention_grad
// CHECK-SAME: (%[[G:.+]]: tensor<2x4x5xf32>, %[[Q:.+]]: tensor<2x4x3xf32>, %[[K:.+]]: tensor<2x4x3xf32>, %[[V:.+]]: tensor<2x4x5xf32>)
// CHECK: train.matmul %[[Q]], %[[K]] transpose_rhs
// CHECK: train.causal_mask
// CHECK: %[[P:.+]] = train.softmax
// CHECK: %[[DV:.+]] = train.matmul %[[P]], %[[G]] transpose_lhs
// CHECK: %[[DP:.+]] = train.matmul %[[G]], %[[V]] transpose_rhs
// CHECK: %[[DPP:.+]] = train.mul %[[DP]], %[[P]]
// CHECK: %[[DOT:.+]] = train.sum %[[DPP]] dims [2] keepdim
// CHECK: %[[DIFF:.+]] = train.sub %[[DP]], %[[DOT]]
// CHECK: %[[PD:.+]] = train.mul %[[P]], %[[DIFF]]
// CHECK: %[[DS:.+]] = train.div %[[PD]], %{{.+}}
// CHECK: %[[DQ:.+]] = train.matmul %[[DS]], %[[K]] :
// CHECK: %[[DK:.+]] = train.matmul %[[DS]], %[[Q]] transpose_lhs
// CHECK: return %[[DQ]], %[[DK]], %[[DV]]
// CHECK-NOT: train.attention_grad
func.func @attention_grad(%g: tensor<2x4x5xf32>, %q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) {
  %dq, %dk, %dv = train.attention_grad %g, %q, %k, %v causal : (tensor<2x4x5xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>)
  return %dq, %dk, %dv : tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>
}

// -----

// 16-bit attention (autocast): the scores are kept f32 from the product's
// f32 sums, mask and softmax are f32, and P is rounded to bf16 for P v.
// CHECK-LABEL: func.func @attention_bf16
// CHECK: %[[S:.+]] = train.matmul %{{.+}}, %{{.+}} transpose_rhs : (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x4xf32>
// CHECK: %[[P:.+]] = train.softmax %{{.+}} : tensor<2x4x4xf32>
// CHECK: %[[PB:.+]] = train.cast %[[P]] : tensor<2x4x4xf32> to tensor<2x4x4xbf16>
// CHECK: train.matmul %[[PB]], %{{.+}} : (tensor<2x4x4xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
func.func @attention_bf16(%q: tensor<2x4x8xbf16>, %k: tensor<2x4x8xbf16>, %v: tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16> {
  %y = train.attention %q, %k, %v causal : (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
  return %y : tensor<2x4x8xbf16>
}

// -----

// Its gradient: dP and dS in f32, P and dS rounded to bf16 for the
// products, the gradients bf16.
// CHECK-LABEL: func.func @attention_grad_bf16
// CHECK-SAME: (%[[G:.+]]: tensor<2x4x8xbf16>, %[[Q:.+]]: tensor<2x4x8xbf16>, %[[K:.+]]: tensor<2x4x8xbf16>, %[[V:.+]]: tensor<2x4x8xbf16>)
// CHECK: %[[P:.+]] = train.softmax %{{.+}} : tensor<2x4x4xf32>
// CHECK: %[[PB:.+]] = train.cast %[[P]] : tensor<2x4x4xf32> to tensor<2x4x4xbf16>
// CHECK: %[[DV:.+]] = train.matmul %[[PB]], %[[G]] transpose_lhs : (tensor<2x4x4xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
// CHECK: %[[DP:.+]] = train.matmul %[[G]], %[[V]] transpose_rhs : (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x4xf32>
// CHECK: %[[DS:.+]] = train.div {{.+}} -> tensor<2x4x4xf32>
// CHECK: %[[DSB:.+]] = train.cast %[[DS]] : tensor<2x4x4xf32> to tensor<2x4x4xbf16>
// CHECK: train.matmul %[[DSB]], %[[K]] : (tensor<2x4x4xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
// CHECK: train.matmul %[[DSB]], %[[Q]] transpose_lhs : (tensor<2x4x4xbf16>, tensor<2x4x8xbf16>) -> tensor<2x4x8xbf16>
func.func @attention_grad_bf16(%g: tensor<2x4x8xbf16>, %q: tensor<2x4x8xbf16>, %k: tensor<2x4x8xbf16>, %v: tensor<2x4x8xbf16>) -> (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) {
  %dq, %dk, %dv = train.attention_grad %g, %q, %k, %v causal : (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>) -> (tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>)
  return %dq, %dk, %dv : tensor<2x4x8xbf16>, tensor<2x4x8xbf16>, tensor<2x4x8xbf16>
}
