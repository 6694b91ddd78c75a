// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

// CHECK: wrong-element-type.mlir:[[@LINE+2]]:8: error: 'train.add' op requires the same element type for all operands and results
func.func @f(%a: tensor<4xf32>, %b: tensor<4xf16>) -> tensor<4xf32> {
  %0 = train.add %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
