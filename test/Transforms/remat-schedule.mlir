// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-test-remat-schedule=policy=none -o /dev/null 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-test-remat-schedule=policy=blocks -o /dev/null 2>&1 | FileCheck %s --check-prefix=BLOCKS
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --ftc-test-remat-schedule=policy=sqrt -o /dev/null 2>&1 | FileCheck %s --check-prefix=SQRT
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff '--ftc-test-remat-schedule=policy=budget memory-budget=400' -o /dev/null 2>&1 | FileCheck %s --check-prefix=ROOMY
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff '--ftc-test-remat-schedule=policy=budget memory-budget=330' -o /dev/null 2>&1 | FileCheck %s --check-prefix=TIGHT
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff '--ftc-test-remat-schedule=policy=budget memory-budget=100' -o /dev/null 2>&1 | FileCheck %s --check-prefix=INFEASIBLE

// ftc-remat's schedules on four calls of one block (four segments); the
// backward reads each block's tanh (its rule), exp (its rule) and input
// (the linear's rule: a reshape of the previous block's exp, a view), not
// the dropout (its rule draws the mask again) nor the linear's result.
// Peaks are the memory model's: f32 2x4 tensors of 32 bytes, the weight
// and the input free, a linear's packed operands (32 + 64 bytes) while it
// runs.
module {
  train.param @w : tensor<4x4xf32> init #train.normal
  func.func private @block(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) -> tensor<2x4xf32> {
    %h = train.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %t = train.tanh %h : tensor<2x4xf32>
    %d = train.dropout %t p 0.5 : tensor<2x4xf32>
    %r = train.reshape %d : tensor<2x4xf32> -> tensor<8xf32>
    %e = train.exp %r : tensor<8xf32>
    %s = train.reshape %e : tensor<8xf32> -> tensor<2x4xf32>
    return %s : tensor<2x4xf32>
  }
  func.func @loss(%x: tensor<2x4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4x4xf32>
    %y1 = func.call @block(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %y2 = func.call @block(%y1, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %y3 = func.call @block(%y2, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %y4 = func.call @block(%y3, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %l = train.sum %y4 dims [0, 1] : tensor<2x4xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}

// Everything kept: 4 tanh, 4 exp (the last one's too: the sum's rule
// reads nothing, but exp's reads it), 256 bytes, and the weight read (free).
// NONE: remark: peak 388 bytes, kept 260 bytes, recomputes 0 ops, 0.000e+00 FLOPs
// NONE-COUNT-12: remark: kept
// NONE-NOT: recomputed

// Each block keeps what the next reads (its output, the exp); recomputes
// linear, tanh, dropout, reshape (5 ops with the exp's reshape), 4 times.
// BLOCKS: remark: peak 324 bytes, kept 100 bytes, recomputes 20 ops, 4.800e+02 FLOPs
// BLOCKS: remark: kept
// BLOCKS: remark: recomputed
// BLOCKS: remark: recomputed
// BLOCKS: remark: kept
// BLOCKS: remark: recomputed
// BLOCKS: remark: recomputed
// BLOCKS: remark: kept

// sqrt(4) = 2 groups of 2 blocks: only the second block's output is kept
// (and the last one's exp, read by its own rule after the seed... which
// the group recomputes too).
// SQRT: remark: peak 324 bytes, kept 36 bytes, recomputes 22 ops, 4.800e+02 FLOPs
// SQRT: remark: kept
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT: remark: recomputed
// SQRT: remark: kept

// A budget above none's peak recomputes nothing; a tighter one recomputes
// the first two blocks (what they keep is held longest: their backward
// runs last; the DP's cheapest fit); one below the least peak is infeasible.
// ROOMY: remark: feasible, least peak 324 bytes, lower bound 0.000e+00 FLOPs, peak 388 bytes, kept 260 bytes, recomputes 0 ops
// TIGHT: remark: feasible, least peak 324 bytes, lower bound {{.*}} FLOPs, peak 324 bytes, kept 196 bytes, recomputes 10 ops, 2.400e+02 FLOPs
// TIGHT: remark: kept
// TIGHT: remark: recomputed
// TIGHT: remark: recomputed
// TIGHT: remark: kept
// TIGHT: remark: recomputed
// TIGHT: remark: recomputed
// TIGHT: remark: kept
// TIGHT-NOT: remark: recomputed
// INFEASIBLE: remark: infeasible, least peak 324 bytes, lower bound INF FLOPs
