// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))' | FileCheck %s

// A binary op is one generic over the result: both operands read at the
// loop indices, the arith op in the body, the result into an empty tensor.
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @binary
// CHECK-SAME: (%[[A:.+]]: tensor<4x5xf32>, %[[B:.+]]: tensor<4x5xf32>)
// CHECK: %[[E:.+]] = tensor.empty() : tensor<4x5xf32>
// CHECK: %[[R:.+]] = linalg.generic {indexing_maps = [#[[$ID]], #[[$ID]], #[[$ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%[[A]], %[[B]] : tensor<4x5xf32>, tensor<4x5xf32>) outs(%[[E]] : tensor<4x5xf32>)
// CHECK: ^bb0(%[[X:.+]]: f32, %[[Y:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[D:.+]] = arith.subf %[[X]], %[[Y]] : f32
// CHECK: linalg.yield %[[D]] : f32
// CHECK: return %[[R]]
func.func @binary(%a: tensor<4x5xf32>, %b: tensor<4x5xf32>) -> tensor<4x5xf32> {
  %0 = train.sub %a, %b : (tensor<4x5xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// Broadcasting reads a size-1 or missing dimension at index 0 / not at all.
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[$COL:.+]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @broadcast
// CHECK: linalg.generic {indexing_maps = [#[[$COL]], #[[$ROW]], #{{.+}}]
// CHECK: arith.mulf
func.func @broadcast(%a: tensor<4x1xf32>, %b: tensor<5xf32>) -> tensor<4x5xf32> {
  %0 = train.mul %a, %b : (tensor<4x1xf32>, tensor<5xf32>) -> tensor<4x5xf32>
  return %0 : tensor<4x5xf32>
}

// -----

// Unary ops, one generic each (fusion merges them later): exp, relu as
// max(x, 0), sigmoid as 1 / (1 + exp(-x)).
// CHECK-LABEL: func.func @unary
// CHECK: %[[EXP:.+]] = linalg.generic
// CHECK: math.exp
// CHECK: %[[RELU:.+]] = linalg.generic {{.*}} ins(%[[EXP]] : tensor<8xf32>)
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: arith.maximumf %{{.+}}, %[[ZERO]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[RELU]] : tensor<8xf32>)
// CHECK: ^bb0(%[[X:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[ONE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[NEG:.+]] = arith.negf %[[X]] : f32
// CHECK: %[[E:.+]] = math.exp %[[NEG]] : f32
// CHECK: %[[DEN:.+]] = arith.addf %[[ONE]], %[[E]] : f32
// CHECK: arith.divf %[[ONE]], %[[DEN]] : f32
func.func @unary(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = train.exp %x : tensor<8xf32>
  %1 = train.relu %0 : tensor<8xf32>
  %2 = train.sigmoid %1 : tensor<8xf32>
  return %2 : tensor<8xf32>
}

// -----

// Casts follow Tensor.to: integers to floats with sitofp, narrower floats
// with truncf; f16 and bf16, of one width, through f32 (exact for both),
// then truncf.
// CHECK-LABEL: func.func @cast
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<16xf32>)
// CHECK: arith.sitofp %{{.+}} : i32 to f32
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<16xbf16>)
// CHECK: arith.truncf %{{.+}} : f32 to bf16
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<16xbf16>)
// CHECK: %[[W1:.+]] = arith.extf %{{.+}} : f16 to f32
// CHECK-NEXT: arith.truncf %[[W1]] : f32 to bf16
// CHECK: linalg.generic {{.*}} outs(%{{.+}} : tensor<16xf16>)
// CHECK: %[[W2:.+]] = arith.extf %{{.+}} : bf16 to f32
// CHECK-NEXT: arith.truncf %[[W2]] : f32 to f16
func.func @cast(%l: tensor<16xi32>, %x: tensor<16xf32>, %h: tensor<16xf16>, %g: tensor<16xbf16>)
    -> (tensor<16xf32>, tensor<16xbf16>, tensor<16xbf16>, tensor<16xf16>) {
  %0 = train.cast %l : tensor<16xi32> to tensor<16xf32>
  %1 = train.cast %x : tensor<16xf32> to tensor<16xbf16>
  %2 = train.cast %h : tensor<16xf16> to tensor<16xbf16>
  %3 = train.cast %g : tensor<16xbf16> to tensor<16xf16>
  return %0, %1, %2, %3 : tensor<16xf32>, tensor<16xbf16>, tensor<16xbf16>, tensor<16xf16>
}

// -----

// Constants and rank-0 fills become arith.constant, other fills linalg.fill.
// CHECK-LABEL: func.func @constants
// CHECK-DAG: %[[C:.+]] = arith.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
// CHECK-DAG: %[[S:.+]] = arith.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[E:.+]] = tensor.empty() : tensor<2x3xf32>
// CHECK-DAG: %[[V:.+]] = arith.constant 2.500000e-01 : f32
// CHECK: %[[F:.+]] = linalg.fill ins(%[[V]] : f32) outs(%[[E]] : tensor<2x3xf32>)
// CHECK: return %[[C]], %[[S]], %[[F]]
func.func @constants() -> (tensor<2xf32>, tensor<f32>, tensor<2x3xf32>) {
  %0 = train.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %1 = train.fill 0.5 : tensor<f32>
  %2 = train.fill 0.25 : tensor<2x3xf32>
  return %0, %1, %2 : tensor<2xf32>, tensor<f32>, tensor<2x3xf32>
}

// -----

// The backward helpers: broadcast copies along the new dimension,
// relu_grad passes g where y > 0, equal is 1.0 or 0.0.
// CHECK-DAG: #[[$ROW:.+]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[$ID:.+]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @backward
// CHECK-SAME: (%[[X:.+]]: tensor<4xf32>, %[[G:.+]]: tensor<8x4xf32>, %[[Y:.+]]: tensor<8x4xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[$ROW]], #[[$ID]]], {{.*}} ins(%[[X]] : tensor<4xf32>)
// CHECK-NEXT: ^bb0(%[[IN:.+]]: f32, %{{.+}}: f32):
// CHECK-NEXT: linalg.yield %[[IN]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[G]], %[[Y]] : tensor<8x4xf32>, tensor<8x4xf32>)
// CHECK: ^bb0(%[[GV:.+]]: f32, %[[YV:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[Z:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[POS:.+]] = arith.cmpf ogt, %[[YV]], %[[Z]] : f32
// CHECK: arith.select %[[POS]], %[[GV]], %[[Z]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[Y]], %[[X]] : tensor<8x4xf32>, tensor<4xf32>)
// CHECK: arith.cmpf oeq
// CHECK: arith.select
func.func @backward(%x: tensor<4xf32>, %g: tensor<8x4xf32>, %y: tensor<8x4xf32>) -> (tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>) {
  %0 = train.broadcast %x : tensor<4xf32> -> tensor<8x4xf32>
  %1 = train.relu_grad %g, %y : tensor<8x4xf32>
  %2 = train.equal %y, %x : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  return %0, %1, %2 : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>
}

// -----

// gelu: exact with erf(x / sqrt 2), or with tanh; gelu_grad multiplies the
// incoming gradient by the derivative.
// CHECK-LABEL: func.func @gelu
// CHECK: linalg.generic
// CHECK: arith.constant 0.707106769 : f32
// CHECK: math.erf
// CHECK: linalg.generic
// CHECK: arith.constant 0.797884583 : f32
// CHECK: arith.constant 4.471500e-02 : f32
// CHECK: math.tanh
// CHECK: linalg.generic
// CHECK: ^bb0(%[[G:.+]]: f32, %{{.+}}: f32, %{{.+}}: f32):
// CHECK: math.tanh
// CHECK: arith.constant 1.341450e-01 : f32
// CHECK: %[[R:.+]] = arith.mulf %[[G]], %{{.+}} : f32
// CHECK-NEXT: linalg.yield %[[R]]
func.func @gelu(%x: tensor<2x8xf32>, %g: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %0 = train.gelu %x : tensor<2x8xf32>
  %1 = train.gelu %x tanh : tensor<2x8xf32>
  %2 = train.gelu_grad %g, %x tanh : tensor<2x8xf32>
  return %0, %1, %2 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

// The causal mask compares the last two loop indices: -inf above the
// diagonal (0 with `zero`), the input elsewhere.
// CHECK-LABEL: func.func @causal_mask
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.+]]: f32, %{{.+}}: f32):
// CHECK: %[[I:.+]] = linalg.index 1 : index
// CHECK: %[[J:.+]] = linalg.index 2 : index
// CHECK: %[[ABOVE:.+]] = arith.cmpi ugt, %[[J]], %[[I]] : index
// CHECK: %[[INF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: arith.select %[[ABOVE]], %[[INF]], %[[X]] : f32
// CHECK: linalg.generic
// CHECK: arith.cmpi ugt
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: arith.select %{{.+}}, %[[ZERO]], %{{.+}} : f32
func.func @causal_mask(%x: tensor<2x4x4xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>) {
  %0 = train.causal_mask %x : tensor<2x4x4xf32>
  %1 = train.causal_mask %x zero : tensor<2x4x4xf32>
  return %0, %1 : tensor<2x4x4xf32>, tensor<2x4x4xf32>
}
