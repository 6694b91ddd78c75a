// Unknown ops, in the custom and in the generic form.
// RUN: %expect-exit 1 ftc-opt --split-input-file %s 2>&1 | FileCheck %s

// CHECK: unknown-op.mlir:[[@LINE+2]]:8: error: custom op 'train.softplus' is unknown
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = train.softplus %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// CHECK: unknown-op.mlir:[[@LINE+2]]:20: error: operation being parsed with an unregistered dialect
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "torch.relu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
