// Upstream math ops a model applies to f32 tensors compile, with the
// polynomial approximations (no libm call for exp): they become linalg ops
// on elements before the approximations run.
// RUN: ftc-opt %s --ftc-cpu | FileCheck %s
// CHECK-LABEL: llvm.func @ftc_entry_step
// CHECK-NOT: llvm.call @expf
// CHECK-NOT: llvm.call @tanhf
train.param @w : tensor<4x8xf32> init #train.normal
func.func @loss(%x: tensor<4x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %w = train.get_param @w : tensor<4x8xf32>
  %m = arith.mulf %x, %w : tensor<4x8xf32>
  %e = math.exp %m : tensor<4x8xf32>
  %t = math.tanh %e : tensor<4x8xf32>
  %s = train.sum %t dims [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %s : tensor<f32>
}
