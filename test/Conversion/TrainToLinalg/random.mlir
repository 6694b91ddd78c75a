// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s

// Dropout: the key from (seed, step, stream) through splitmix64's
// finalizer, then one elementwise generic drawing each element's bits from
// key + (row-major index + 1) * golden: kept (scaled by 1 / (1 - p)) when
// the top 32 bits are >= p * 2^32, and the input unchanged when not
// training.
// CHECK-LABEL: func.func @dropout
// CHECK-SAME: (%[[X:.+]]: tensor<2x8xf32>, %[[RNG:.+]]: tensor<3xi64>)
// CHECK: %[[SEED:.+]] = tensor.extract %[[RNG]][%{{.+}}] : tensor<3xi64>
// CHECK: %[[STEP:.+]] = tensor.extract %[[RNG]][%{{.+}}] : tensor<3xi64>
// CHECK: %[[TRAINING:.+]] = tensor.extract %[[RNG]][%{{.+}}] : tensor<3xi64>
// CHECK: arith.constant -4658895280553007687 : i64
// CHECK: arith.xori %{{.+}}, %[[STEP]] : i64
// CHECK: %[[STREAM:.+]] = arith.constant 3 : i64
// CHECK: arith.xori %{{.+}}, %[[STREAM]] : i64
// CHECK: %[[ACTIVE:.+]] = arith.cmpi ne, %[[TRAINING]], %{{.+}} : i64
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<2x8xf32>)
// CHECK: ^bb0(%[[XV:.+]]: f32, %{{.+}}: f32):
// CHECK: linalg.index 0 : index
// CHECK: linalg.index 1 : index
// CHECK: %[[GOLDEN:.+]] = arith.constant -7046029254386353131 : i64
// CHECK: %[[I1:.+]] = arith.addi
// CHECK: %[[STRIDE:.+]] = arith.muli %[[I1]], %[[GOLDEN]] : i64
// CHECK: arith.addi %{{.+}}, %[[STRIDE]] : i64
// CHECK: %[[THRESHOLD:.+]] = arith.constant 2147483648 : i64
// CHECK: %[[KEEP:.+]] = arith.cmpi uge, %{{.+}}, %[[THRESHOLD]] : i64
// CHECK: %[[SCALE:.+]] = arith.constant 2.000000e+00 : f32
// CHECK: %[[SCALED:.+]] = arith.mulf %[[XV]], %[[SCALE]] : f32
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[DROPPED:.+]] = arith.select %[[KEEP]], %[[SCALED]], %[[ZERO]] : f32
// CHECK: %[[Y:.+]] = arith.select %[[ACTIVE]], %[[DROPPED]], %[[XV]] : f32
// CHECK: linalg.yield %[[Y]] : f32
func.func @dropout(%x: tensor<2x8xf32>, %rng: tensor<3xi64>) -> tensor<2x8xf32> {
  %0 = train.dropout %x p 0.5 stream 3 rng %rng : tensor<2x8xf32>, tensor<3xi64>
  return %0 : tensor<2x8xf32>
}

// -----

// p = 0 is the identity, with or without the RNG buffer.
// CHECK-LABEL: func.func @no_dropout
// CHECK-SAME: (%[[X:.+]]: tensor<2x8xf32>, %{{.+}}: tensor<3xi64>)
// CHECK-NEXT: return %[[X]], %[[X]]
func.func @no_dropout(%x: tensor<2x8xf32>, %rng: tensor<3xi64>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %0 = train.dropout %x p 0.0 : tensor<2x8xf32>
  %1 = train.dropout %x p 0.0 rng %rng : tensor<2x8xf32>, tensor<3xi64>
  return %0, %1 : tensor<2x8xf32>, tensor<2x8xf32>
}
