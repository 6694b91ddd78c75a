// RUN: ftc-opt %s --pass-pipeline='builtin.module(func.func(ftc-lower-train))' --verify-diagnostics

train.param @w : tensor<4xf32> init #train.zeros
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' has no lowering to linalg; bind parameters with ftc-bind-abi before ftc-lower-train}}
  %w = train.get_param @w : tensor<4xf32>
  return %w : tensor<4xf32>
}

// A dropout without the RNG buffer (ftc-bind-abi passes it) cannot draw a mask.
func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{dropout needs the RNG state: run ftc-bind-abi first}}
  %y = train.dropout %x p 0.5 : tensor<4xf32>
  return %y : tensor<4xf32>
}
