// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

// CHECK: wrong-shape.mlir:[[@LINE+2]]:8: error: 'train.linear' op input feature size 784 does not match weight [10, 512]: expected in = 512
func.func @f(%x: tensor<8x784xf32>, %w: tensor<10x512xf32>) -> tensor<8x10xf32> {
  %0 = train.linear %x, %w : (tensor<8x784xf32>, tensor<10x512xf32>) -> tensor<8x10xf32>
  return %0 : tensor<8x10xf32>
}
