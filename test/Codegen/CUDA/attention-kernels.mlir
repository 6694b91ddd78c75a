// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels --canonicalize --cse | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels=emulate=true --canonicalize --cse | FileCheck %s --check-prefix=EMU

// The forward kernel, T = 32, D = 16: one block per (batch, head) row
// block of 2 warps (64 threads), each warp 16 queries. A warp loads its
// q fragment once, then walks key tiles of 32 up to the diagonal
// ((row0 + 16 + 31) / 32 of them), carrying two rows' maximum and sum and
// 2 output tiles (12 values): 4 products for the scores (4 column tiles of
// 8, one k-step) and 4 for P v (2 k-steps, 2 column tiles), the row
// maximum over the quad by xor shuffles 1 and 2. After it, each row's
// log-sum-exp, and the output divided by the sum. Neighbouring elements
// of a fragment's row are one 4-byte load or store.
// CHECK-LABEL: func.func @forward
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : index
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C3]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[T:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C64]],
// CHECK: %[[WARP:.*]] = arith.divui %[[T]], %c32
// CHECK: %[[LANE:.*]] = arith.remui %[[T]], %c32
// CHECK: %[[ROW0:.*]] = arith.muli %[[WARP]], %c16
// CHECK-COUNT-4: vector.load %arg0[{{.*}}] {alignment = 4 : i64} : memref<3x32x16xbf16>, vector<2xbf16>
// CHECK: %[[END:.*]] = arith.addi %[[ROW0]], %c47
// CHECK: %[[TILES:.*]] = arith.divui %[[END]], %c32
// CHECK: %[[LOOP:.*]]:12 = scf.for %{{.*}} = %c0 to %[[TILES]] step %c1
// CHECK-COUNT-4: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: math.exp
// CHECK-COUNT-4: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK: scf.yield
// CHECK: gpu.shuffle xor %[[LOOP]]#2, %c1_i32
// CHECK: math.log
// CHECK: memref.store %{{.*}}, %arg4
// CHECK-COUNT-4: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 4 : i64} : memref<3x32x16xbf16>, vector<2xbf16>
// CHECK: gpu.terminator

// Emulated: one launch thread per warp (2), lanes as vector<32xT>, a lane's
// loads one after another, the xor shuffles as vector shuffles and no NVVM.
// EMU-LABEL: func.func @forward
// EMU-NOT: nvvm
// EMU: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c3, %{{.*}} = %c1, %{{.*}} = %c1) threads(%{{.*}}) in (%{{.*}} = %c2,
// EMU: scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args(%{{.*}} = %{{.*}}) -> (vector<32xbf16>)
// EMU: vector.shuffle %[[X:.*]], %[[X]] [1, 0, 3, 2, 5, 4,
// EMU: vector.shuffle %[[Y:.*]], %[[Y]] [2, 3, 0, 1, 6, 7,
// EMU-NOT: nvvm
func.func @forward(%q: memref<3x32x16xbf16>, %k: memref<3x32x16xbf16>, %v: memref<3x32x16xbf16>, %o: memref<3x32x16xbf16>, %lse: memref<3x32xf32>) {
  train.fused_attention %q, %k, %v causal outs(%o, %lse) : memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32xf32>
  return
}

// -----

// The gradient: first dk and dv (each warp 16 keys, query tiles of 32
// from the one holding its first key, 16 carried values: 2 tiles each;
// 4 + 4 products for the transposed scores and dP, 4 + 4 for dv and dk),
// then dq (each warp 16 queries, key tiles up to the diagonal, 2 tiles;
// 4 + 4 products for the scores and dP, 4 for dq).
// CHECK-LABEL: func.func @grad
// CHECK: gpu.launch
// CHECK: %[[ROW0:.*]] = arith.muli %{{.*}}, %c16
// CHECK: %[[FIRST:.*]] = arith.divui %[[ROW0]], %c32
// CHECK: scf.for %{{.*}} = %[[FIRST]] to %c1 step %c1 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-COUNT-16: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK-NOT: gpu.shuffle
// CHECK-COUNT-4: vector.store %{{.*}}, %arg7
// CHECK-COUNT-4: vector.store %{{.*}}, %arg8
// CHECK: gpu.launch
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-COUNT-12: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK-COUNT-4: vector.store %{{.*}}, %arg6
func.func @grad(%g: memref<3x32x16xbf16>, %q: memref<3x32x16xbf16>, %k: memref<3x32x16xbf16>, %v: memref<3x32x16xbf16>, %lse: memref<3x32xf32>, %delta: memref<3x32xf32>, %dq: memref<3x32x16xbf16>, %dk: memref<3x32x16xbf16>, %dv: memref<3x32x16xbf16>) {
  train.fused_attention_grad %g, %q, %k, %v, %lse, %delta causal outs(%dq, %dk, %dv) : memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32xf32>, memref<3x32xf32>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>
  return
}


// -----

// q a view whose pairs do not start on 4 bytes (an odd offset): two
// 2-byte loads per pair, k's rows still one load per pair.
// CHECK-LABEL: func.func @unaligned
// CHECK: gpu.launch
// CHECK-COUNT-8: memref.load %arg0
// CHECK: scf.for
// CHECK: vector.load %arg1
func.func @unaligned(%q: memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, %k: memref<3x32x16xbf16>, %v: memref<3x32x16xbf16>, %o: memref<3x32x16xbf16>, %lse: memref<3x32xf32>) {
  train.fused_attention %q, %k, %v causal outs(%o, %lse) : memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32xf32>
  return
}
