// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s

// A short f32 sum (3 terms) accumulates in f32 from a zero fill over a
// reduction iterator.
// CHECK-DAG: #[[$IN:.+]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-DAG: #[[$OUT:.+]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @sum
// CHECK-SAME: (%[[X:.+]]: tensor<2x3x4xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<2x4xf32>
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E]] : tensor<2x4xf32>)
// CHECK: %[[ACC:.+]] = linalg.generic {indexing_maps = [#[[$IN]], #[[$OUT]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[X]] : tensor<2x3x4xf32>) outs(%[[INIT]] : tensor<2x4xf32>)
// CHECK: ^bb0(%[[V:.+]]: f32, %[[A:.+]]: f32):
// CHECK-NOT: arith.extf
// CHECK: %[[S:.+]] = arith.addf %[[A]], %[[V]] : f32
// CHECK: linalg.yield %[[S]] : f32
// CHECK: return %[[ACC]]
func.func @sum(%x: tensor<2x3x4xf32>) -> tensor<2x4xf32> {
  %0 = train.sum %x dims [1] : tensor<2x3x4xf32> -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// A long sum is blocked: 200 rows = 12 blocks of 16 lanes + 8. Lane j sums
// rows j, 16 + j, ... (the input read at 16 * block + lane; an unused
// tensor<12xf32> gives the block loop its range), then the lanes are summed,
// then rows 192..199 are added to that (read at 192 + row). The input is
// never reshaped or sliced, so its producer can be fused into these loops.
// CHECK-DAG: #[[$BLOCKS:.+]] = affine_map<(d0, d1, d2) -> (d0 * 16 + d1, d2)>
// CHECK-DAG: #[[$BLOCK:.+]] = affine_map<(d0, d1, d2) -> (d0)>
// CHECK-DAG: #[[$LANES:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[$REST:.+]] = affine_map<(d0, d1) -> (d0 + 192, d1)>
// CHECK-LABEL: func.func @sum_blocked
// CHECK-SAME: (%[[X:.+]]: tensor<200x3xf32>)
// CHECK-NOT: tensor.extract_slice
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[Q:.+]] = tensor.empty() : tensor<12xf32>
// CHECK: %[[P:.+]] = linalg.generic {indexing_maps = [#[[$BLOCKS]], #[[$BLOCK]], #[[$LANES]]], iterator_types = ["reduction", "parallel", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[Q]] : tensor<200x3xf32>, tensor<12xf32>) outs(%{{.+}} : tensor<16x3xf32>)
// CHECK: %[[L:.+]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK-SAME: ins(%[[P]] : tensor<16x3xf32>) outs(%{{.+}} : tensor<3xf32>)
// CHECK: %[[R8:.+]] = tensor.empty() : tensor<8xf32>
// CHECK: %[[R:.+]] = linalg.generic {indexing_maps = [#[[$REST]], #{{.+}}, #{{.+}}], iterator_types = ["reduction", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[R8]] : tensor<200x3xf32>, tensor<8xf32>) outs(%[[L]] : tensor<3xf32>)
// CHECK: return %[[R]]
func.func @sum_blocked(%x: tensor<200x3xf32>) -> tensor<3xf32> {
  %0 = train.sum %x dims [0] : tensor<200x3xf32> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// An f64 sum stays in f64; keepdim is a reshape of the reduced tensor.
// CHECK-LABEL: func.func @sum_keepdim_f64
// CHECK: %[[ACC:.+]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK-NOT: arith.extf
// CHECK: arith.addf %{{.+}}, %{{.+}} : f64
// CHECK: %[[R:.+]] = tensor.expand_shape %[[ACC]] {{\[\[}}0, 1]] output_shape [2, 1] : tensor<2xf64> into tensor<2x1xf64>
// CHECK: return %[[R]]
func.func @sum_keepdim_f64(%x: tensor<2x3xf64>) -> tensor<2x1xf64> {
  %0 = train.sum %x dims [1] keepdim : tensor<2x3xf64> -> tensor<2x1xf64>
  return %0 : tensor<2x1xf64>
}

// -----

// sum_to reduces the dimensions broadcasting stretched.
// CHECK-LABEL: func.func @sum_to
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]
// CHECK-SAME: ins(%{{.+}} : tensor<8x4xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [1, 4] : tensor<4xf32> into tensor<1x4xf32>
func.func @sum_to(%g: tensor<8x4xf32>) -> tensor<1x4xf32> {
  %0 = train.sum_to %g : tensor<8x4xf32> -> tensor<1x4xf32>
  return %0 : tensor<1x4xf32>
}

// -----

// mean: the sum divided by the number of elements reduced (2 * 4); max:
// maximumf from -inf.
// CHECK-LABEL: func.func @mean_max
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "reduction"]
// CHECK: %[[N:.+]] = arith.constant 8.000000e+00 : f64
// CHECK: linalg.generic
// CHECK: arith.divf %{{.+}}, %[[N]] : f64
// CHECK: %[[NEGINF:.+]] = arith.constant 0xFFF0000000000000 : f64
// CHECK: %[[INIT:.+]] = linalg.fill ins(%[[NEGINF]] : f64)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: outs(%[[INIT]] : tensor<2x3xf64>)
// CHECK: arith.maximumf
func.func @mean_max(%x: tensor<2x3x4xf64>) -> (tensor<1x3x1xf64>, tensor<2x3x1xf64>) {
  %0 = train.mean %x dims [0, 2] keepdim : tensor<2x3x4xf64> -> tensor<1x3x1xf64>
  %1 = train.max %x dims [2] keepdim : tensor<2x3x4xf64> -> tensor<2x3x1xf64>
  return %0, %1 : tensor<1x3x1xf64>, tensor<2x3x1xf64>
}

// -----

// softmax over rows [R, C]: the row max m, s = sum exp(x - m), then
// exp(x - m) / s with m and s read per row (no reshape between them and
// their reader, so that they can be fused); log_softmax ends with
// (x - m) - log(s) instead.
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @softmax
// CHECK: %[[X:.+]] = tensor.expand_shape %{{.+}} {{\[\[}}0, 1]] output_shape [8, 4] : tensor<32xf32> into tensor<8x4xf32>
// CHECK: %[[M:.+]] = linalg.generic {{.*}} ins(%[[X]] : tensor<8x4xf32>)
// CHECK: arith.maximumf
// CHECK: %[[S:.+]] = linalg.generic {{.*}} ins(%[[X]], %[[M]] : tensor<8x4xf32>, tensor<8xf32>) outs(%{{.+}} : tensor<8xf32>)
// CHECK: arith.subf
// CHECK: math.exp
// CHECK-NOT: tensor.expand_shape
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$ROW]], #[[$ROW]], #{{.+}}]{{.*}} ins(%[[X]], %[[M]], %[[S]] :
// CHECK: ^bb0(%[[XV:.+]]: f32, %[[MV:.+]]: f32, %[[SV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[SH:.+]] = arith.subf %[[XV]], %[[MV]] : f32
// CHECK: %[[EX:.+]] = math.exp %[[SH]] : f32
// CHECK: arith.divf %[[EX]], %[[SV]] : f32
// CHECK: tensor.expand_shape %{{.+}} output_shape [2, 4, 4]
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[$ROW]], #[[$ROW]], #{{.+}}]
// CHECK: ^bb0(%[[XV:.+]]: f32, %[[MV:.+]]: f32, %[[SV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[SH:.+]] = arith.subf %[[XV]], %[[MV]] : f32
// CHECK: %[[LOG:.+]] = math.log %[[SV]] : f32
// CHECK: arith.subf %[[SH]], %[[LOG]] : f32
func.func @softmax(%x: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %0 = train.softmax %x : tensor<2x4x4xf32>
  %1 = train.log_softmax %x : tensor<2x4x4xf32>
  return %0, %1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>
}

// -----

// layer_norm per row by the corrected two-pass algorithm (all in f32): a
// first mean M1, the sums of the deviations D = x - M1 and of their squares
// Q, then mean = M1 + D / n, var = Q / n - (D / n)^2, rstd = 1 / sqrt(var +
// eps), and (x - mean) * rstd * w + b.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.+]]: tensor<4x8xf32>, %[[W:.+]]: tensor<8xf32>, %[[B:.+]]: tensor<8xf32>)
// CHECK: %[[N:.+]] = arith.constant 8.000000e+00 : f32
// CHECK: linalg.generic {{.*}} ins(%[[X]] : tensor<4x8xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[M1:.+]] = linalg.generic
// CHECK: arith.divf %{{.+}}, %[[N]] : f32
// CHECK: %[[DEV:.+]] = linalg.generic {{.*}} ins(%[[X]], %[[M1]] : tensor<4x8xf32>, tensor<4xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[DV:.+]] = arith.subf
// CHECK-NEXT: arith.addf %{{.+}}, %[[DV]] : f32
// CHECK: %[[SQ:.+]] = linalg.generic {{.*}} ins(%[[X]], %[[M1]] : tensor<4x8xf32>, tensor<4xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: %[[MEAN:.+]] = linalg.generic {{.*}} ins(%[[M1]], %[[DEV]] : tensor<4xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[M1V:.+]]: f32, %[[DEVV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[SHIFT:.+]] = arith.divf %[[DEVV]], %[[N]] : f32
// CHECK: arith.addf %[[M1V]], %[[SHIFT]] : f32
// CHECK: %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
// CHECK: %[[RSTD:.+]] = linalg.generic {{.*}} ins(%[[SQ]], %[[DEV]] : tensor<4xf32>, tensor<4xf32>)
// CHECK: ^bb0(%[[SQV:.+]]: f32, %[[DEVV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[SHIFT:.+]] = arith.divf %[[DEVV]], %[[N]] : f32
// CHECK: %[[MSQ:.+]] = arith.divf %[[SQV]], %[[N]] : f32
// CHECK: %[[SHIFT2:.+]] = arith.mulf %[[SHIFT]], %[[SHIFT]] : f32
// CHECK: %[[VAR:.+]] = arith.subf %[[MSQ]], %[[SHIFT2]] : f32
// CHECK: %[[VE:.+]] = arith.addf %[[VAR]], %[[EPS]] : f32
// CHECK: %[[SD:.+]] = math.sqrt %[[VE]] : f32
// CHECK: arith.divf %{{.+}}, %[[SD]] : f32
// CHECK-NOT: tensor.expand_shape
// CHECK: %[[Y:.+]] = linalg.generic {{.*}} ins(%[[X]], %[[W]], %[[B]], %[[MEAN]], %[[RSTD]] :
// CHECK: ^bb0(%[[XV:.+]]: f32, %[[WV:.+]]: f32, %[[BV:.+]]: f32, %[[MV:.+]]: f32, %[[RV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[D:.+]] = arith.subf %[[XV]], %[[MV]] : f32
// CHECK: %[[XH:.+]] = arith.mulf %[[D]], %[[RV]] : f32
// CHECK: %[[XW:.+]] = arith.mulf %[[XH]], %[[WV]] : f32
// CHECK: arith.addf %[[XW]], %[[BV]] : f32
// CHECK: return %[[Y]]
func.func @layer_norm(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = train.layer_norm %x, %w, %b : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// layer_norm_grad recomputes the row statistics, then
// dx = rstd * (gw - sum(gw) / n - x^ * sum(gw * x^) / n), gw = g * w.
// CHECK-LABEL: func.func @layer_norm_grad
// CHECK-SAME: (%[[G:.+]]: tensor<4x8xf32>, %[[X:.+]]: tensor<4x8xf32>, %[[W:.+]]: tensor<8xf32>)
// CHECK: %[[EPS:.+]] = arith.constant 9.99999997E-7 : f32
// CHECK: %[[XH:.+]] = linalg.generic {{.*}} ins(%[[X]], %{{.+}}, %{{.+}} : tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: %[[GW:.+]] = linalg.generic {{.*}} ins(%[[G]], %[[W]] : tensor<4x8xf32>, tensor<8xf32>)
// CHECK: %[[GWX:.+]] = linalg.generic {{.*}} ins(%[[GW]], %[[XH]] : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[GW]] : tensor<4x8xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[GWX]] : tensor<4x8xf32>) outs(%{{.+}} : tensor<4xf32>)
// CHECK: %[[DX:.+]] = linalg.generic {{.*}} ins(%[[GW]], %[[XH]], %{{.+}}, %{{.+}}, %{{.+}} :
// CHECK: ^bb0(%[[A:.+]]: f32, %[[H:.+]]: f32, %[[SA:.+]]: f32, %[[SC:.+]]: f32, %[[R:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[MA:.+]] = arith.divf %[[SA]], %{{.+}} : f32
// CHECK: %[[MC:.+]] = arith.divf %[[SC]], %{{.+}} : f32
// CHECK: %[[T0:.+]] = arith.subf %[[A]], %[[MA]] : f32
// CHECK: %[[T1:.+]] = arith.mulf %[[H]], %[[MC]] : f32
// CHECK: %[[T:.+]] = arith.subf %[[T0]], %[[T1]] : f32
// CHECK: arith.mulf %[[R]], %[[T]] : f32
// CHECK: return %[[DX]]
func.func @layer_norm_grad(%g: tensor<4x8xf32>, %x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %0 = train.layer_norm_grad %g, %x, %w {eps = 1.0e-6 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Cross-entropy as log-softmax: row max, sum of exp(z - max), then the
// label's term read with tensor.extract; mean over the rows.
// CHECK-LABEL: func.func @cross_entropy
// CHECK-SAME: (%[[Z:.+]]: tensor<4x3xf32>, %[[Y:.+]]: tensor<4xi32>)
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %{{.+}}, %[[Y]] : tensor<4xf32>, tensor<4xf32>, tensor<4xi32>)
// CHECK: ^bb0(%[[M:.+]]: f32, %[[S:.+]]: f32, %[[L:.+]]: i32, %{{.+}}: f32):
// CHECK: %[[N:.+]] = linalg.index 0 : index
// CHECK: %[[C:.+]] = arith.index_cast %[[L]] : i32 to index
// CHECK: %[[ZY:.+]] = tensor.extract %[[Z]][%[[N]], %[[C]]] : tensor<4x3xf32>
// CHECK: %[[SH:.+]] = arith.subf %[[ZY]], %[[M]] : f32
// CHECK: %[[LOG:.+]] = math.log %[[S]] : f32
// CHECK: %[[LP:.+]] = arith.subf %[[SH]], %[[LOG]] : f32
// CHECK: arith.negf %[[LP]] : f32
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction"]
// CHECK: %[[ROWS:.+]] = arith.constant 4.000000e+00 : f32
// CHECK: arith.divf %{{.+}}, %[[ROWS]] : f32
func.func @cross_entropy(%z: tensor<4x3xf32>, %y: tensor<4xi32>) -> tensor<f32> {
  %0 = train.cross_entropy %z, %y : (tensor<4x3xf32>, tensor<4xi32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Its gradient: (exp(log_softmax(z)) - one_hot(y)) * (g / N), one generic
// reading the row statistics and labels per row.
// CHECK-LABEL: func.func @cross_entropy_grad
// CHECK-SAME: (%[[G:.+]]: tensor<f32>, %[[Z:.+]]: tensor<8x4xf32>, %[[Y:.+]]: tensor<8xi32>)
// CHECK: %[[ROWS:.+]] = arith.constant 8.000000e+00 : f32
// CHECK: %[[R:.+]] = linalg.generic {{.*}} ins(%[[Z]], %[[G]], %{{.+}}, %{{.+}}, %[[Y]] :
// CHECK: ^bb0(%{{.+}}: f32, %[[GV:.+]]: f32, %{{.+}}: f32, %{{.+}}: f32, %[[L:.+]]: i32, %{{.+}}: f32):
// CHECK: %[[P:.+]] = math.exp
// CHECK: %[[CI:.+]] = linalg.index 1 : index
// CHECK: %[[LI:.+]] = arith.index_cast %[[L]] : i32 to index
// CHECK: %[[HIT:.+]] = arith.cmpi eq, %[[CI]], %[[LI]] : index
// CHECK: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[PM1:.+]] = arith.subf %[[P]], %[[ONE]] : f32
// CHECK: %[[DIFF:.+]] = arith.select %[[HIT]], %[[PM1]], %[[P]] : f32
// CHECK: %[[SCALE:.+]] = arith.divf %[[GV]], %[[ROWS]] : f32
// CHECK: arith.mulf %[[DIFF]], %[[SCALE]] : f32
// CHECK: return %[[R]]
func.func @cross_entropy_grad(%g: tensor<f32>, %z: tensor<8x4xf32>, %y: tensor<8xi32>) -> tensor<8x4xf32> {
  %0 = train.cross_entropy_grad %g, %z, %y : (tensor<f32>, tensor<8x4xf32>, tensor<8xi32>) -> tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

// mse_loss: (x - t)^2, summed over everything in f64, divided by numel.
// CHECK-LABEL: func.func @mse_loss
// CHECK: ^bb0(%[[X:.+]]: f32, %[[T:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[D:.+]] = arith.subf %[[X]], %[[T]] : f32
// CHECK: arith.mulf %[[D]], %[[D]] : f32
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction"]
// CHECK: %[[NUMEL:.+]] = arith.constant 8.000000e+01 : f32
// CHECK: arith.divf %{{.+}}, %[[NUMEL]] : f32
func.func @mse_loss(%x: tensor<8x10xf32>, %t: tensor<8x10xf32>) -> tensor<f32> {
  %0 = train.mse_loss %x, %t : (tensor<8x10xf32>, tensor<8x10xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}
