// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

train.param @fc1.weight : tensor<4x4xf32> init #train.kaiming_uniform
// CHECK: undefined-param.mlir:[[@LINE+2]]:8: error: 'train.get_param' op references undefined parameter @fc2.weight
func.func @f() -> tensor<4x4xf32> {
  %w = train.get_param @fc2.weight : tensor<4x4xf32>
  return %w : tensor<4x4xf32>
}
