// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' --verify-diagnostics

// Parameters are bound to buffers by ftc-bind-abi first.
train.param @w : tensor<4xf32> init #train.zeros
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' has no lowering to linalg; bind parameters with ftc-bind-abi before ftc-convert-train-to-linalg}}
  %w = train.get_param @w : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

train.param @w : tensor<4xf32> init #train.zeros
func.func @f(%x: tensor<4xf32>) {
  // expected-error @+1 {{'train.set_param' has no lowering to linalg; bind parameters with ftc-bind-abi before ftc-convert-train-to-linalg}}
  train.set_param @w, %x : tensor<4xf32>
  return
}

// -----

// A dropout without the RNG buffer (ftc-bind-abi passes it) cannot draw a mask.
func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{dropout needs the RNG state: run ftc-bind-abi first}}
  %y = train.dropout %x p 0.5 : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// Composite ops are expanded by ftc-expand-composites first.
func.func @h(%q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>) -> tensor<2x4x5xf32> {
  // expected-error @+1 {{'train.attention' has no lowering to linalg; expand it with ftc-expand-composites before ftc-convert-train-to-linalg}}
  %y = train.attention %q, %k, %v causal : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
  return %y : tensor<2x4x5xf32>
}
