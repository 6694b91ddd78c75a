// Train ops are pure: identical reads and constants fold into one, and
// unused ones disappear.
// RUN: ftc-opt %s --canonicalize --cse | FileCheck %s

train.param @w : tensor<4xf32> init #train.zeros

// CHECK-LABEL: func.func @dedup
func.func @dedup(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: %[[C:.+]] = train.constant dense<2.000000e+00> : tensor<4xf32>
  // CHECK-NEXT: %[[W:.+]] = train.get_param @w : tensor<4xf32>
  // CHECK-NEXT: %[[SUM:.+]] = train.add %[[W]], %[[W]]
  // CHECK-NEXT: %[[PROD:.+]] = train.mul %[[C]], %[[C]]
  // CHECK-NEXT: %[[DIFF:.+]] = train.sub %[[SUM]], %[[PROD]]
  // CHECK-NEXT: return %[[DIFF]]
  %a = train.get_param @w : tensor<4xf32>
  %b = train.get_param @w : tensor<4xf32>
  %c1 = train.constant dense<2.0> : tensor<4xf32>
  %c2 = train.constant dense<2.0> : tensor<4xf32>
  %unused = train.relu %x : tensor<4xf32>
  %0 = train.add %a, %b : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = train.mul %c1, %c2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %2 = train.sub %0, %1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %2 : tensor<4xf32>
}
