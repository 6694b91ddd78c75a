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

// -----

// A run-time learning rate: the scalars AdamW derives from it are computed
// in f64 from the operand times the group's lr_scale, then rounded; the
// clipping coefficient scales the gradient first.
// CHECK-LABEL: func.func @adamw_runtime_lr
// CHECK-SAME: (%{{.+}}: tensor<8xf32>, %{{.+}}: tensor<8xf32>, %{{.+}}: tensor<8xf32>, %{{.+}}: tensor<8xf32>, %{{.+}}: tensor<i64>, %[[LR:.+]]: tensor<f64>, %[[C:.+]]: tensor<f64>)
// CHECK: %[[CV:.+]] = tensor.extract %[[C]][] : tensor<f64>
// CHECK: %[[C32:.+]] = arith.truncf %[[CV]] : f64 to f32
// CHECK: %[[LRV:.+]] = tensor.extract %[[LR]][] : tensor<f64>
// CHECK: %[[SCALED:.+]] = arith.mulf %[[LRV]], %{{.+}} : f64
// CHECK: arith.divf %[[SCALED]], %{{.+}} : f64
// CHECK: %[[DEC:.+]] = arith.addf %{{.+}}, %{{.+}} : f64
// CHECK: %[[DEC32:.+]] = arith.truncf %[[DEC]] : f64 to f32
// CHECK: linalg.generic
// CHECK: ^bb0(%[[GV:.+]]: f32, %[[PV:.+]]: f32, %{{.+}}: f32, %{{.+}}: f32):
// CHECK-NEXT: %[[GS:.+]] = arith.mulf %[[GV]], %[[C32]] : f32
// CHECK-NEXT: arith.mulf %[[PV]], %[[DEC32]] : f32
func.func @adamw_runtime_lr(%p: tensor<8xf32>, %g: tensor<8xf32>, %m: tensor<8xf32>, %v: tensor<8xf32>, %t: tensor<i64>, %lr: tensor<f64>, %c: tensor<f64>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0, %1, %2 = train.adamw_update %p, %g, %m, %v with #train.adamw step %t lr %lr grad_scale %c {lr_scale = 0.5 : f64} : tensor<8xf32>
  return %0, %1, %2 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// clip_grad_norm_: each gradient's squares summed in f64 (a large one as
// contiguous chunks of 16 running sums, then those in order), the sums
// added in order, the norm's square root, and min(max / (norm + 1e-6), 1).
// CHECK-LABEL: func.func @clip
// CHECK-SAME: (%[[BIG:.+]]: tensor<512x32xf32>, %[[SMALL:.+]]: tensor<3xf32>)
// CHECK: %[[VIEW:.+]] = tensor.{{.+}} : tensor<16384xf32> into tensor<2x512x16xf32>
// CHECK: %[[LANES:.+]] = linalg.generic {{.+}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[VIEW]] : tensor<2x512x16xf32>) outs(%{{.+}} : tensor<2x16xf64>)
// CHECK: arith.extf %{{.+}} : f32 to f64
// CHECK: linalg.generic {{.+}} iterator_types = ["reduction", "reduction"]} ins(%[[LANES]] : tensor<2x16xf64>) outs(%{{.+}} : tensor<f64>)
// CHECK: %[[E1:.+]] = tensor.extract %{{.+}}[] : tensor<f64>
// CHECK: %[[S1:.+]] = arith.addf %{{.+}}, %[[E1]] : f64
// CHECK: %[[R2:.+]] = linalg.generic {{.+}} iterator_types = ["reduction"]} ins(%[[SMALL]] : tensor<3xf32>) outs(%{{.+}} : tensor<f64>)
// CHECK: %[[E2:.+]] = tensor.extract %[[R2]][] : tensor<f64>
// CHECK: %[[S2:.+]] = arith.addf %[[S1]], %[[E2]] : f64
// CHECK: %[[NORM:.+]] = math.sqrt %[[S2]] : f64
// CHECK: %[[DEN:.+]] = arith.addf %[[NORM]], %{{.+}} : f64
// CHECK: %[[Q:.+]] = arith.divf %{{.+}}, %[[DEN]] : f64
// CHECK: %[[COEF:.+]] = arith.minimumf %[[Q]], %{{.+}} : f64
// CHECK: tensor.from_elements %[[NORM]] : tensor<f64>
// CHECK: tensor.from_elements %[[COEF]] : tensor<f64>
func.func @clip(%a: tensor<512x32xf32>, %b: tensor<3xf32>) -> (tensor<f64>, tensor<f64>) {
  %n, %c = train.clip_grad_norm %a, %b max_norm 1.0 : tensor<512x32xf32>, tensor<3xf32>
  return %n, %c : tensor<f64>, tensor<f64>
}
