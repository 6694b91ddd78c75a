// RUN: ftc-opt %s --split-input-file --ftc-gpu-fuse-attention | FileCheck %s

// 16-bit attention and its gradient: the fused forward keeps each row's
// log-sum-exp, which the fused gradient reads with delta = rowsum(g * out)
// summed in f32; no forward is computed twice.
// CHECK-LABEL: func.func @pair
// CHECK-SAME: (%[[Q:[^:]*]]: {{[^,]*}}, %[[K:[^:]*]]: {{[^,]*}}, %[[V:[^:]*]]: {{[^,]*}}, %[[G:[^:]*]]: {{[^,]*}})
// CHECK: %[[OUT:.*]] = tensor.empty() : tensor<2x4x64x32xbf16>
// CHECK: %[[LSE:.*]] = tensor.empty() : tensor<2x4x64xf32>
// CHECK: %[[Y:.*]]:2 = train.fused_attention %[[Q]], %[[K]], %[[V]] causal outs(%[[OUT]], %[[LSE]])
// CHECK-NOT: train.fused_attention %
// CHECK: %[[GW:.*]] = train.cast %[[G]] : tensor<2x4x64x32xbf16> to tensor<2x4x64x32xf32>
// CHECK: %[[YW:.*]] = train.cast %[[Y]]#0 : tensor<2x4x64x32xbf16> to tensor<2x4x64x32xf32>
// CHECK: %[[P:.*]] = train.mul %[[GW]], %[[YW]]
// CHECK: %[[DELTA:.*]] = train.sum %[[P]] dims [3] : tensor<2x4x64x32xf32> -> tensor<2x4x64xf32>
// CHECK: %[[D:.*]]:3 = train.fused_attention_grad %[[G]], %[[Q]], %[[K]], %[[V]], %[[Y]]#1, %[[DELTA]] causal outs(
// CHECK: return %[[Y]]#0, %[[D]]#0, %[[D]]#1, %[[D]]#2
func.func @pair(%q: tensor<2x4x64x32xbf16>, %k: tensor<2x4x64x32xbf16>, %v: tensor<2x4x64x32xbf16>, %g: tensor<2x4x64x32xbf16>) -> (tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>) {
  %y = train.attention %q, %k, %v causal : (tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>) -> tensor<2x4x64x32xbf16>
  %dq, %dk, %dv = train.attention_grad %g, %q, %k, %v causal : (tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>) -> (tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>)
  return %y, %dq, %dk, %dv : tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>, tensor<2x4x64x32xbf16>
}

// -----

// A gradient with no forward op of the same operands and attributes before
// it (here: another scale) runs the fused forward again for its
// log-sum-exp; f16 as bf16.
// CHECK-LABEL: func.func @alone
// CHECK: train.fused_attention %{{.*}} outs(%{{.*}}) {scale = 5.000000e-01 : f64}
// CHECK: %[[F:.*]]:2 = train.fused_attention %{{.*}} outs(%{{.*}}) {scale = 2.500000e-01 : f64}
// CHECK: train.fused_attention_grad %{{.*}}, %[[F]]#1, %{{.*}} outs(%{{.*}}) {scale = 2.500000e-01 : f64}
func.func @alone(%q: tensor<16x16xf16>, %g: tensor<16x16xf16>) -> (tensor<16x16xf16>, tensor<16x16xf16>) {
  %y = train.attention %q, %q, %q {scale = 0.5 : f64} : (tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>) -> tensor<16x16xf16>
  %dq, %dk, %dv = train.attention_grad %g, %q, %q, %q {scale = 0.25 : f64} : (tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>) -> (tensor<16x16xf16>, tensor<16x16xf16>, tensor<16x16xf16>)
  return %y, %dq : tensor<16x16xf16>, tensor<16x16xf16>
}

// -----

// Left to ftc-expand-composites: f32 (no tensor cores without TF32), rows
// not a multiple of 16, a depth over 128, v of another depth.
// CHECK-LABEL: func.func @unfused
// CHECK-NOT: fused
// CHECK-COUNT-4: train.attention %
// CHECK-NOT: fused
func.func @unfused(%f: tensor<2x64x32xf32>, %r: tensor<2x40x32xbf16>, %d: tensor<2x64x256xbf16>,
                   %q: tensor<2x64x32xbf16>, %v: tensor<2x64x16xbf16>) {
  %0 = train.attention %f, %f, %f causal : (tensor<2x64x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32>) -> tensor<2x64x32xf32>
  %1 = train.attention %r, %r, %r causal : (tensor<2x40x32xbf16>, tensor<2x40x32xbf16>, tensor<2x40x32xbf16>) -> tensor<2x40x32xbf16>
  %2 = train.attention %d, %d, %d causal : (tensor<2x64x256xbf16>, tensor<2x64x256xbf16>, tensor<2x64x256xbf16>) -> tensor<2x64x256xbf16>
  %3 = train.attention %q, %q, %v causal : (tensor<2x64x32xbf16>, tensor<2x64x32xbf16>, tensor<2x64x16xbf16>) -> tensor<2x64x16xbf16>
  return
}
