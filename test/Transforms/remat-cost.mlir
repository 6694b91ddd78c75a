// RUN: ftc-opt %s --split-input-file --ftc-verify-model --inline --ftc-autodiff --ftc-test-remat-cost -o /dev/null 2>&1 | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-verify-model --inline --ftc-autodiff --ftc-test-remat-schedule=policy=sqrt -o /dev/null 2>&1 | FileCheck %s --check-prefix=SQRT

// ftc-remat's cost model: bytes and FLOPs of each forward op of the
// gradient function, whether the backward reads a result (saved: what the
// readers' rules declare in getSavedForBackward), products, free values.
// A model without functions is cut into segments at its articulation
// values: after the linear, the first tanh, the add (the gelu, the second
// tanh and the add share one: the first tanh is live across them), the exp.
module {
  train.param @w : tensor<4x4xf32> init #train.normal
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4x4xf32>
    %h = train.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %t = train.tanh %h : tensor<2x4xf32>
    %g = train.gelu %t tanh : tensor<2x4xf32>
    %u = train.tanh %g : tensor<2x4xf32>
    %a = train.add %u, %t : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %e = train.exp %a : tensor<2x4xf32>
    %l = train.sum %e dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
// CHECK: remat-cost.mlir:[[@LINE-12]]:3: remark: 5 segments (articulation values)
// CHECK: [[@LINE-12]]:10: remark: 64 bytes, 0.000e+00 FLOPs, segment -1, free
// 2 x 4 outputs, 4 multiply-adds each, and the bias-free linear adds nothing.
// CHECK: [[@LINE-13]]:10: remark: 32 bytes, 6.400e+01 FLOPs, segment 0, product
// CHECK: [[@LINE-13]]:10: remark: 32 bytes, 8.000e+00 FLOPs, segment 1, saved
// CHECK: [[@LINE-13]]:10: remark: 32 bytes, 8.000e+01 FLOPs, segment 2
// CHECK-NOT: saved
// CHECK: [[@LINE-14]]:10: remark: 32 bytes, 8.000e+00 FLOPs, segment 2, saved
// CHECK: [[@LINE-14]]:10: remark: 32 bytes, 8.000e+00 FLOPs, segment 2
// CHECK: [[@LINE-14]]:10: remark: 32 bytes, 8.000e+00 FLOPs, segment 3, saved
// CHECK: [[@LINE-14]]:10: remark: 4 bytes, 4.000e+01 FLOPs, segment 4

// sqrt: 5 segments in groups of 3; the add's result crosses groups (kept),
// every saved value is recomputed (the linear and the gelu on the way).
// SQRT: remark: peak 164 bytes, kept 36 bytes, recomputes 5 ops, 1.680e+02 FLOPs
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT-NOT: remark: kept
// SQRT: remark: peak

// -----

// Call sites: one segment per call of @block; views (the reshape) hold no
// bytes of their own; the dropout is not saved (its rule draws the mask
// again).
module {
  train.param @w : tensor<4x4xf32> init #train.normal
  func.func private @block(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
    %h = train.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %d = train.dropout %h p 0.5 : tensor<2x4xf32>
    %r = train.reshape %d : tensor<2x4xf32> -> tensor<8xf32>
    %e = train.exp %r : tensor<8xf32>
    %s = train.reshape %e : tensor<8xf32> -> tensor<2x4xf32>
    return %s : tensor<2x4xf32>
  }
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4x4xf32>
    %y1 = func.call @block(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %y2 = func.call @block(%y1, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %l = train.sum %y2 dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
// CHECK: remark: 2 segments (calls)
// CHECK: remark: 64 bytes, 0.000e+00 FLOPs, segment -1, saved, free
// CHECK: [[@LINE-17]]:10: remark: 32 bytes, 6.400e+01 FLOPs, segment 0, product
// CHECK: [[@LINE-17]]:10: remark: 32 bytes, 4.000e+01 FLOPs, segment 0{{$}}
// CHECK: [[@LINE-17]]:10: remark: 0 bytes, 0.000e+00 FLOPs, segment 0{{$}}
// CHECK: [[@LINE-17]]:10: remark: 32 bytes, 8.000e+00 FLOPs, segment 0, saved
// CHECK: [[@LINE-17]]:10: remark: 0 bytes, 0.000e+00 FLOPs, segment 0, saved
// CHECK: [[@LINE-22]]:10: remark: 32 bytes, 6.400e+01 FLOPs, segment 1, product
