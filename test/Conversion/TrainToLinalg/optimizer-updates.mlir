// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s

// The AdamW update is one elementwise pass: the gradient in, the parameter
// and both moments updated through the outputs (read once, written once).
// The step-dependent scalars are computed in f64 before it, then rounded.
// CHECK-LABEL: func.func @adamw
// CHECK-SAME: (%[[P:.+]]: tensor<8xf32>, %[[G:.+]]: tensor<8xf32>, %[[M:.+]]: tensor<8xf32>, %[[V:.+]]: tensor<8xf32>, %[[T:.+]]: tensor<i64>)
// CHECK: %[[TI:.+]] = tensor.extract %[[T]][] : tensor<i64>
// CHECK: %[[TF:.+]] = arith.sitofp %[[TI]] : i64 to f64
// CHECK: math.powf %{{.+}}, %[[TF]] : f64
// CHECK: %[[STEP:.+]] = arith.divf %{{.+}}, %{{.+}} : f64
// CHECK: math.powf %{{.+}}, %[[TF]] : f64
// CHECK: %[[BC2:.+]] = math.sqrt %{{.+}} : f64
// CHECK: %[[NEG:.+]] = arith.negf %[[STEP]] : f64
// CHECK: %[[NEG32:.+]] = arith.truncf %[[NEG]] : f64 to f32
// CHECK: %[[BC232:.+]] = arith.truncf %[[BC2]] : f64 to f32
// CHECK: %[[R:.+]]:3 = linalg.generic
// CHECK-SAME: ins(%[[G]] : tensor<8xf32>) outs(%[[P]], %[[M]], %[[V]] : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: ^bb0(%[[GV:.+]]: f32, %[[PV:.+]]: f32, %[[MV:.+]]: f32, %[[VV:.+]]: f32):
// CHECK: %[[P1:.+]] = arith.mulf %[[PV]], %{{.+}} : f32
// CHECK: %[[M1:.+]] = arith.addf
// CHECK: %[[V1:.+]] = arith.addf
// CHECK: %[[SQ:.+]] = math.sqrt %[[V1]] : f32
// CHECK: %[[D:.+]] = arith.divf %[[SQ]], %[[BC232]] : f32
// CHECK: %[[DEN:.+]] = arith.addf %[[D]], %{{.+}} : f32
// CHECK: %[[Q:.+]] = arith.divf %[[M1]], %[[DEN]] : f32
// CHECK: %[[U:.+]] = arith.mulf %[[NEG32]], %[[Q]] : f32
// CHECK: %[[P2:.+]] = arith.addf %[[P1]], %[[U]] : f32
// CHECK: linalg.yield %[[P2]], %[[M1]], %[[V1]] : f32, f32, f32
// CHECK: return %[[R]]#0, %[[R]]#1, %[[R]]#2
// CHECK-NOT: linalg.generic
func.func @adamw(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>, %v: tensor<8xf32>, %t: tensor<i64>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0, %1, %2 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t : tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// SGD with Nesterov momentum: the buffer is the second output, replaced by
// the gradient on the first step (t == 1).
// CHECK-LABEL: func.func @sgd_momentum
// CHECK-SAME: (%[[P:.+]]: tensor<4xf32>, %[[G:.+]]: tensor<4xf32>, %[[B:.+]]: tensor<4xf32>, %[[T:.+]]: tensor<i64>)
// CHECK: %[[TI:.+]] = tensor.extract %[[T]][] : tensor<i64>
// CHECK: %[[ONE:.+]] = arith.constant 1 : i64
// CHECK: %[[FIRST:.+]] = arith.cmpi eq, %[[TI]], %[[ONE]] : i64
// CHECK: %[[MOM:.+]] = arith.constant 0.899999976 : f32
// CHECK: %[[NEGLR:.+]] = arith.constant -1.000000e-01 : f32
// CHECK: %[[R:.+]]:2 = linalg.generic {{.*}} ins(%[[G]] : tensor<4xf32>) outs(%[[P]], %[[B]] : tensor<4xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[GV:.+]]: f32, %[[PV:.+]]: f32, %[[BV:.+]]: f32):
// CHECK: %[[BM:.+]] = arith.mulf %[[BV]], %[[MOM]] : f32
// CHECK: %[[LATER:.+]] = arith.addf %[[BM]], %{{.+}} : f32
// CHECK: %[[BUF:.+]] = arith.select %[[FIRST]], %[[GV]], %[[LATER]] : f32
// CHECK: %[[NB:.+]] = arith.mulf %[[BUF]], %[[MOM]] : f32
// CHECK: %[[D:.+]] = arith.addf %[[GV]], %[[NB]] : f32
// CHECK: %[[U:.+]] = arith.mulf %[[D]], %[[NEGLR]] : f32
// CHECK: %[[P2:.+]] = arith.addf %[[PV]], %[[U]] : f32
// CHECK: linalg.yield %[[P2]], %[[BUF]] : f32, f32
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @sgd_momentum(%p: tensor<4xf32>, %g: tensor<4xf32>, %b: tensor<4xf32>, %t: tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>) {
  %p2, %b2 = train.sgd_update %p, %g momentum(%b) with #train.sgd<lr = 0.1, momentum = 0.9, nesterov = true> step %t : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> (tensor<4xf32>, tensor<4xf32>)
  return %p2, %b2 : tensor<4xf32>, tensor<4xf32>
}

// -----

// Plain SGD with weight decay: no buffer, no step number read.
// CHECK-LABEL: func.func @sgd
// CHECK-SAME: (%[[P:.+]]: tensor<4xf32>, %[[G:.+]]: tensor<4xf32>, %{{.+}}: tensor<i64>)
// CHECK-NOT: tensor.extract
// CHECK: %[[WD:.+]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[NEGLR:.+]] = arith.constant -0.00999999977 : f32
// CHECK: %[[R:.+]] = linalg.generic {{.*}} ins(%[[G]] : tensor<4xf32>) outs(%[[P]] : tensor<4xf32>)
// CHECK: ^bb0(%[[GV:.+]]: f32, %[[PV:.+]]: f32):
// CHECK: %[[PW:.+]] = arith.mulf %[[PV]], %[[WD]] : f32
// CHECK: %[[D:.+]] = arith.addf %[[GV]], %[[PW]] : f32
// CHECK: %[[U:.+]] = arith.mulf %[[D]], %[[NEGLR]] : f32
// CHECK: %[[P2:.+]] = arith.addf %[[PV]], %[[U]] : f32
// CHECK: linalg.yield %[[P2]] : f32
// CHECK: return %[[R]]
func.func @sgd(%p: tensor<4xf32>, %g: tensor<4xf32>, %t: tensor<i64>) -> tensor<4xf32> {
  %p2 = train.sgd_update %p, %g with #train.sgd<lr = 0.01, weight_decay = 0.5> step %t : (tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return %p2 : tensor<4xf32>
}
