// The transformer ops round-trip.
// RUN: ftc-opt %s > %t.1.mlir
// RUN: ftc-opt %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir
// RUN: ftc-opt --mlir-print-op-generic %s | ftc-opt | FileCheck %s

// CHECK-LABEL: func.func @transformer
func.func @transformer(%wte: tensor<16x8xf32>, %tok: tensor<2x4xi32>, %w: tensor<8xf32>, %b: tensor<8xf32>,
                       %qkv: tensor<2x4x24xf32>, %att: tensor<2x4x4xf32>, %g: tensor<2x4x8xf32>) {
  // CHECK: train.embedding %{{.+}}, %{{.+}} : (tensor<16x8xf32>, tensor<2x4xi32>) -> tensor<2x4x8xf32>
  %x = train.embedding %wte, %tok : (tensor<16x8xf32>, tensor<2x4xi32>) -> tensor<2x4x8xf32>
  // CHECK: train.embedding_grad %{{.+}}, %{{.+}} : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<16x8xf32>
  %dt = train.embedding_grad %g, %tok : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<16x8xf32>
  // CHECK: train.layer_norm %{{.+}}, %{{.+}}, %{{.+}} : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %n = train.layer_norm %x, %w, %b : (tensor<2x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK: train.layer_norm_grad %{{.+}}, %{{.+}}, %{{.+}} {eps = 9.9999999999999995E-7 : f64}
  %dn = train.layer_norm_grad %g, %x, %w {eps = 1.0e-6 : f64} : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  // CHECK: train.gelu %{{.+}} tanh : tensor<2x4x8xf32>
  %ge = train.gelu %n tanh : tensor<2x4x8xf32>
  // CHECK: train.gelu %{{.+}} : tensor<2x4x8xf32>
  %gx = train.gelu %n : tensor<2x4x8xf32>
  // CHECK: train.gelu_grad %{{.+}}, %{{.+}} tanh : tensor<2x4x8xf32>
  %gg = train.gelu_grad %g, %n tanh : tensor<2x4x8xf32>
  // CHECK: train.softmax %{{.+}} : tensor<2x4x4xf32>
  %p = train.softmax %att : tensor<2x4x4xf32>
  // CHECK: train.log_softmax %{{.+}} : tensor<2x4x4xf32>
  %lp = train.log_softmax %att : tensor<2x4x4xf32>
  // CHECK: train.causal_mask %{{.+}} : tensor<2x4x4xf32>
  %m = train.causal_mask %att : tensor<2x4x4xf32>
  // CHECK: train.causal_mask %{{.+}} zero : tensor<2x4x4xf32>
  %mz = train.causal_mask %att zero : tensor<2x4x4xf32>
  // CHECK: train.slice %{{.+}} dim 2 start 8 : tensor<2x4x24xf32> -> tensor<2x4x8xf32>
  %k = train.slice %qkv dim 2 start 8 : tensor<2x4x24xf32> -> tensor<2x4x8xf32>
  // CHECK: train.pad %{{.+}} dim 2 start 8 : tensor<2x4x8xf32> -> tensor<2x4x24xf32>
  %dk = train.pad %k dim 2 start 8 : tensor<2x4x8xf32> -> tensor<2x4x24xf32>
  return
}

// CHECK-LABEL: func.func @attention
// CHECK: train.attention %{{.+}}, %{{.+}}, %{{.+}} causal : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
// CHECK: train.attention %{{.+}}, %{{.+}}, %{{.+}} {scale = 5.000000e-01 : f64} : (tensor<2x4x3xf32>, tensor<2x6x3xf32>, tensor<2x6x5xf32>) -> tensor<2x4x5xf32>
// CHECK: train.attention_grad %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} causal : (tensor<2x4x5xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>)
func.func @attention(%q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>,
                     %k6: tensor<2x6x3xf32>, %v6: tensor<2x6x5xf32>, %g: tensor<2x4x5xf32>) {
  %y = train.attention %q, %k, %v causal : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
  %z = train.attention %q, %k6, %v6 {scale = 0.5 : f64} : (tensor<2x4x3xf32>, tensor<2x6x3xf32>, tensor<2x6x5xf32>) -> tensor<2x4x5xf32>
  %dq, %dk, %dv = train.attention_grad %g, %q, %k, %v causal : (tensor<2x4x5xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>)
  return
}

// CHECK-LABEL: func.func @dropout
// CHECK: train.dropout %{{.+}} p 1.000000e-01 : tensor<2x4x8xf32>
// CHECK: train.dropout %{{.+}} p 5.000000e-01 stream 3 rng %{{.+}} : tensor<2x4x8xf32>, tensor<3xi64>
func.func @dropout(%x: tensor<2x4x8xf32>, %rng: tensor<3xi64>) {
  %0 = train.dropout %x p 0.1 : tensor<2x4x8xf32>
  %1 = train.dropout %x p 0.5 stream 3 rng %rng : tensor<2x4x8xf32>, tensor<3xi64>
  return
}

// CHECK-LABEL: func.func @split
// CHECK: train.split %{{.+}} dim 1 : tensor<2x8xf32> -> (tensor<2x3xf32>, tensor<2x5xf32>)
func.func @split(%a: tensor<2x8xf32>) -> tensor<2x3xf32> {
  %0:2 = train.split %a dim 1 : tensor<2x8xf32> -> (tensor<2x3xf32>, tensor<2x5xf32>)
  return %0#0 : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @concat
// CHECK: train.concat %{{.+}}, %{{.+}} dim 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
func.func @concat(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>) -> tensor<2x8xf32> {
  %0 = train.concat %a, %b dim 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}
