// RUN: ftc-opt %s --pass-pipeline='builtin.module(func.func(ftc-lower-train))' --verify-diagnostics

train.param @w : tensor<4xf32> init #train.zeros
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' has no lowering to linalg; bind parameters with ftc-bind-abi before ftc-lower-train}}
  %w = train.get_param @w : tensor<4xf32>
  return %w : tensor<4xf32>
}
