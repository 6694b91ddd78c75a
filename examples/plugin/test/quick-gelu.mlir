// RUN: ftc-opt %s --load-pass-plugin=%plugin --example-quick-gelu | FileCheck %s

// CHECK-LABEL: func.func @loss
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>
// CHECK-NOT: train.gelu
// CHECK: %[[C:.*]] = train.fill -1.702000e+00 : tensor<4x8xf32>
// CHECK: %[[S:.*]] = arith.mulf %[[X]], %[[C]] : tensor<4x8xf32>
// CHECK: %[[E:.*]] = math.exp %[[S]] : tensor<4x8xf32>
// CHECK: %[[ONE:.*]] = train.fill 1.000000e+00 : tensor<4x8xf32>
// CHECK: %[[D:.*]] = arith.addf %[[E]], %[[ONE]] : tensor<4x8xf32>
// CHECK: %[[Y:.*]] = arith.divf %[[X]], %[[D]] : tensor<4x8xf32>
// CHECK: train.sum %[[Y]]
func.func @loss(%x: tensor<4x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %g = train.gelu %x tanh : tensor<4x8xf32>
  %s = train.sum %g dims [0, 1] : tensor<4x8xf32> -> tensor<f32>
  return %s : tensor<f32>
}
