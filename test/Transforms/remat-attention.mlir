// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse --ftc-test-remat-schedule=policy=none -o /dev/null 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse --ftc-test-remat-schedule=policy=blocks -o /dev/null 2>&1 | FileCheck %s --check-prefix=BLOCKS
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse '--ftc-test-remat-schedule=policy=budget memory-budget=30000' -o /dev/null 2>&1 | FileCheck %s --check-prefix=BUDGET
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse '--ftc-test-remat-schedule=policy=none fused-attention=true' -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED-NONE
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse '--ftc-test-remat-schedule=policy=blocks fused-attention=true' -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED-BLOCKS
// RUN: ftc-opt %s --ftc-verify-model --inline --ftc-autodiff --canonicalize --cse '--ftc-test-remat-schedule=policy=budget memory-budget=16000 fused-attention=true' -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED-BUDGET

// ftc-remat's memory model and FLOPs around bf16 attention (two blocks,
// q = k = tanh(h), v = h; T = 32, D = 16: S = 32 x 32 = 1024 scores).
// Expanded (the CPU), the forward keeps the probabilities for the gradient
// (f32 and the bf16 copy the products read: 6 bytes a score), which reads
// them where it takes the forward's q and k; a gradient reading a
// recomputed q computes them again: S (2 D + 5) = 37,888 FLOPs that count
// as recomputed. Fused (--target=cuda), the forward keeps each row's
// log-sum-exp (128 bytes) and its output (1,024) instead; a gradient
// reading a recomputed q runs the forward again: S (4 D + 5) = 70,656.

// Kept: per block q (2,048), q and v in bf16 (1,024 each), the
// probabilities (6,144); the first block's output (2,048); the seed (4).
// NONE: remark: peak 34820 bytes, kept 22532 bytes, recomputes 0 ops, 0.000e+00 FLOPs

// Each block's linear, tanh and casts again (2 x 17,920 FLOPs) and, its
// gradient reading the recomputed q, the probabilities (2 x 37,888).
// BLOCKS: remark: peak 22532 bytes, kept 2052 bytes, recomputes 8 ops, 1.116e+05 FLOPs

// The cheapest fit: one block's tanh and casts (1,536 FLOPs) frees its
// probabilities at 37,888; the lower bound is below what it costs.
// BUDGET: remark: feasible, least peak 22532 bytes, lower bound 1.205e+03 FLOPs, peak 26628 bytes, kept 14340 bytes, recomputes 3 ops, 3.942e+04 FLOPs

// Kept: per block q, q and v in bf16, the log-sum-exp and the output.
// FUSED-NONE: remark: peak 16644 bytes, kept 12548 bytes, recomputes 0 ops, 0.000e+00 FLOPs

// FUSED-BLOCKS: remark: peak 11396 bytes, kept 2052 bytes, recomputes 8 ops, 1.772e+05 FLOPs

// FUSED-BUDGET: remark: feasible, least peak 11396 bytes, lower bound 1.610e+02 FLOPs, peak 13444 bytes, kept 9348 bytes, recomputes 3 ops, 7.219e+04 FLOPs
module {
  train.param @w : tensor<16x16xf32> init #train.normal
  func.func private @block(%x: tensor<32x16xf32>, %w: tensor<16x16xf32>) -> tensor<32x16xf32> {
    %h = train.linear %x, %w : (tensor<32x16xf32>, tensor<16x16xf32>) -> tensor<32x16xf32>
    %q = train.tanh %h : tensor<32x16xf32>
    %q16 = train.cast %q : tensor<32x16xf32> to tensor<32x16xbf16>
    %h16 = train.cast %h : tensor<32x16xf32> to tensor<32x16xbf16>
    %y16 = train.attention %q16, %q16, %h16 causal : (tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>) -> tensor<32x16xbf16>
    %y = train.cast %y16 : tensor<32x16xbf16> to tensor<32x16xf32>
    return %y : tensor<32x16xf32>
  }
  func.func @loss(%x: tensor<32x16xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<16x16xf32>
    %a = func.call @block(%x, %w) : (tensor<32x16xf32>, tensor<16x16xf32>) -> tensor<32x16xf32>
    %b = func.call @block(%a, %w) : (tensor<32x16xf32>, tensor<16x16xf32>) -> tensor<32x16xf32>
    %l = train.sum %b dims [0, 1] : tensor<32x16xf32> -> tensor<f32>
    return %l : tensor<f32>
  }
}
