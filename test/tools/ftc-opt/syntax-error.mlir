// A syntax error is a diagnostic with a location and exit status 1.
// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

// CHECK: syntax-error.mlir:[[@LINE+2]]:{{[0-9]+}}: error: expected ':'
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = train.relu %x tensor<4xf32>
  return %0 : tensor<4xf32>
}
