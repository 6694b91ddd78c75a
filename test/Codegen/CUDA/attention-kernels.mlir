// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels --canonicalize --cse | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels=emulate=true --canonicalize --cse | FileCheck %s --check-prefix=EMU
// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels=emulate=true | FileCheck %s --check-prefix=EMUDYN

// The forward kernel, T = 128, D = 16: blocks of 4 warps (128 threads),
// 2 per (batch, head), the heavier (later rows) first; each warp 16
// queries. A warp loads its q fragment once; the block walks key tiles of
// 64 up to its diagonal ((first row + 16 + 63) / 64 of them), carrying
// each warp's two rows' maximum and sum and 2 output tiles (12 values).
// The tiles' k and v rows are staged in shared memory, two buffers each
// (2x64x3: a row of 16-byte vectors, one vector longer than D), a thread
// a vector of each by cp.async: the first tile before the walk; each step
// starts the next tile's copy into the other buffer (if there is one),
// waits for all but that group and synchronizes the block, reads its
// buffer (step % 2), and ends with a barrier. 4 ldmatrix.x4 give the B
// fragments of the 8 products of the scores (8 column tiles of 8, one
// k-step: two tiles per ldmatrix), and 4 ldmatrix.x4.trans those of the 8
// of P v (4 k-steps, 2 column tiles). The causal mask (a comparison and a
// select per score) only on a tile that crosses the diagonal (its last key
// past the warp's first query), the same branch in every lane. The row
// maximum over the quad by xor shuffles 1 and 2. The exponentials are
// powers of 2 (math.exp2: one ex2.approx on the GPU) of the scores times
// scale log2(e) (0.25 1.4427 = 0.3607), less the row's maximum of those.
// After the walk, each row's log-sum-exp in natural units (the maximum
// times ln 2, plus the log of the sum), and the output divided by the sum. Neighbouring elements of a fragment's row in
// memory are one 4-byte load or store.
// CHECK-LABEL: func.func @forward
// CHECK-DAG: %[[LN2:.*]] = arith.constant 0.693147182 : f32
// CHECK-DAG: %[[SCALE2:.*]] = arith.constant 0.360673755 : f32
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: gpu.launch blocks(%[[B:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C4]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) threads(%[[T:[^,]*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C128]], %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) workgroup(%[[KT:.*]] : memref<2x64x3xvector<8xbf16>, #gpu.address_space<workgroup>>, %[[VT:.*]] : memref<2x64x3xvector<8xbf16>, #gpu.address_space<workgroup>>)
// CHECK: %[[RB:.*]] = arith.subi %c1, %{{.*}} : index
// CHECK: %[[WARP:.*]] = arith.divui %[[T]], %c32
// CHECK: %[[LANE:.*]] = arith.remui %[[T]], %c32
// CHECK: %[[BROW0:.*]] = arith.muli %[[RB]], %c64
// CHECK-COUNT-4: vector.load %arg0[{{.*}}] {alignment = 4 : i64} : memref<2x128x16xbf16>, vector<2xbf16>
// CHECK: %[[END:.*]] = arith.addi %[[BROW0]], %c79
// CHECK: %[[TILES:.*]] = arith.divui %[[END]], %c64
// CHECK: memref.extract_aligned_pointer_as_index %[[KT]]
// CHECK: memref.extract_aligned_pointer_as_index %arg1
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache = cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK: memref.extract_aligned_pointer_as_index %[[VT]]
// CHECK: memref.extract_aligned_pointer_as_index %arg2
// CHECK: nvvm.cp.async.shared.global
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK-NEXT: %[[LOOP:.*]]:12 = scf.for %[[STEP:.*]] = %c0 to %[[TILES]] step %c1
// CHECK-NEXT: %[[CUR:.*]] = arith.remui %[[STEP]], %c2
// CHECK-NEXT: %[[NEXT:.*]] = arith.addi %[[STEP]], %c1
// CHECK-NEXT: %[[MORE:.*]] = arith.cmpi ult, %[[NEXT]], %[[TILES]]
// CHECK-NEXT: scf.if %[[MORE]] {
// CHECK-COUNT-2: nvvm.cp.async.shared.global
// CHECK-NEXT: }
// CHECK-NEXT: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 1
// CHECK-NEXT: gpu.barrier
// CHECK-NEXT: %[[FIRST:.*]] = arith.muli %[[STEP]], %c64
// CHECK: nvvm.ldmatrix %{{.*}} {eltType = #nvvm.ld_st_matrix_elt_type<b16>, layout = #nvvm.mma_layout<row>, num = 4 : i32, shape = #nvvm.ld_st_matrix_shape<m = 8, n = 8>} : (!llvm.ptr<3>) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK-COUNT-2: nvvm.mma.sync {{.*}}multiplicandAPtxType = #nvvm.mma_type<bf16>
// CHECK-COUNT-3: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK-COUNT-32: arith.mulf %{{.*}}, %[[SCALE2]] : f32
// CHECK: %[[LASTKEY:.*]] = arith.addi %[[FIRST]], %c63
// CHECK: %[[DIAG:.*]] = arith.cmpi ugt, %[[LASTKEY]], %{{.*}} : index
// CHECK: scf.if %[[DIAG]] -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-COUNT-32: arith.select
// CHECK: } else {
// CHECK-NOT: arith.select
// CHECK: gpu.shuffle xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: gpu.shuffle xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK-NOT: math.exp %
// CHECK-COUNT-34: math.exp2
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NOT: nvvm.ldmatrix
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// CHECK: gpu.shuffle xor %[[LOOP]]#2, %c1_i32
// CHECK: %[[M:.*]] = arith.mulf %[[LOOP]]#0, %[[LN2]]
// CHECK: %[[LOGSUM:.*]] = math.log
// CHECK: arith.addf %[[M]], %[[LOGSUM]]
// CHECK: memref.store %{{.*}}, %arg4
// CHECK-COUNT-4: vector.store %{{.*}}, %arg3[{{.*}}] {alignment = 4 : i64} : memref<2x128x16xbf16>, vector<2xbf16>
// CHECK: gpu.terminator

// Emulated: one launch thread per warp (4), lanes as vector<32xT>, a lane's
// loads one after another, the xor shuffles as vector shuffles and no NVVM,
// no barrier, no shared memory: the tiles are buffers outside the launch
// (rows of D + 8 elements) that each warp fills whole before it reads its
// fragments from them, lane by lane, from the addresses ldmatrix exchanges.
// What the lanes do one by one goes through scratch buffers, also outside
// the launch: a load's lanes (and their indices, as i64), mma.sync's
// fragments (A: 8 registers of 32 lanes, B: 4, C and D: 4 of f32), never a
// vector element at a lane index that is not a constant (EMUDYN).
// EMU-LABEL: func.func @forward
// EMU-NOT: nvvm
// EMU: %[[KT:.*]] = memref.alloc() : memref<2x64x24xbf16>
// EMU: %[[VT:.*]] = memref.alloc() : memref<2x64x24xbf16>
// EMU: %[[LANES:.*]] = memref.alloc() : memref<32xbf16>
// EMU: %[[A:.*]] = memref.alloc() : memref<256xbf16>
// EMU: %[[B:.*]] = memref.alloc() : memref<128xbf16>
// EMU: %[[C:.*]] = memref.alloc() : memref<128xf32>
// EMU: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c4, %{{.*}} = %c1, %{{.*}} = %c1) threads(%{{.*}}) in (%{{.*}} = %c4, %{{.*}} = %c1, %{{.*}} = %c1) {
// EMU: scf.for %[[L:.*]] = %c0 to %c32 step %c1 {
// EMU: %[[Q:.*]] = memref.load %arg0[{{.*}}] : memref<2x128x16xbf16>
// EMU-NEXT: memref.store %[[Q]], %[[LANES]][%[[L]]] : memref<32xbf16>
// EMU: vector.load %[[LANES]][%c0] : memref<32xbf16>, vector<32xbf16>
// EMU: scf.for %{{.*}} = %c0 to %c128 step %c1 {
// EMU: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<2x128x16xbf16>, vector<8xbf16>
// EMU: vector.store %{{.*}}, %[[KT]][%c0, {{.*}}] : memref<2x64x24xbf16>, vector<8xbf16>
// EMU: scf.for
// EMU: scf.if
// EMU: vector.store %{{.*}}, %[[KT]][{{.*}}] : memref<2x64x24xbf16>, vector<8xbf16>
// EMU: memref.load %[[KT]][{{.*}}] : memref<2x64x24xbf16>
// EMU: vector.store %{{.*}}, %[[A]][%c224] : memref<256xbf16>, vector<32xbf16>
// EMU: vector.store %{{.*}}, %[[B]][%c96] : memref<128xbf16>, vector<32xbf16>
// EMU: vector.store %{{.*}}, %[[C]][%c96] : memref<128xf32>, vector<32xf32>
// EMU: call @ftc_emulated_mma_bf16(%[[A]], %[[B]], %[[C]])
// EMU: vector.load %[[C]][%c96] : memref<128xf32>, vector<32xf32>
// EMU: vector.shuffle %[[X:.*]], %[[X]] [1, 0, 3, 2, 5, 4,
// EMU: vector.shuffle %[[Y:.*]], %[[Y]] [2, 3, 0, 1, 6, 7,
// EMU-NOT: nvvm
// EMU-NOT: gpu.barrier
// EMU-NOT: cp.async
// EMU: memref.dealloc %[[KT]]
// mma.sync's arithmetic: one function, called by every product (not
// inlined), each lane's results summed over k into C's buffer.
// EMU-LABEL: func.func private @ftc_emulated_mma_bf16(
// EMU-SAME: %[[FA:.*]]: memref<256xbf16>, %[[FB:.*]]: memref<128xbf16>, %[[FC:.*]]: memref<128xf32>) attributes {passthrough = ["noinline"]}
// EMU: scf.for %{{.*}} = %c0 to %c32 step %c1 {
// EMU: memref.load %[[FC]][%{{.*}}] : memref<128xf32>
// EMU: scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args
// EMU: memref.load %[[FA]][%{{.*}}] : memref<256xbf16>
// EMU: memref.load %[[FB]][%{{.*}}] : memref<128xbf16>
// EMU: arith.mulf
// EMU-NEXT: arith.addf
// EMU: memref.store %{{.*}}, %[[FC]][%{{.*}}] : memref<128xf32>
// EMU-COUNT-3: memref.store %{{.*}}, %[[FC]][%{{.*}}] : memref<128xf32>
// EMU-NOT: memref.store
// EMU: return
// EMUDYN-NOT: vector.extract {{.*}}[%
// EMUDYN-NOT: vector.insert {{.*}}[%
func.func @forward(%q: memref<2x128x16xbf16>, %k: memref<2x128x16xbf16>, %v: memref<2x128x16xbf16>, %o: memref<2x128x16xbf16>, %lse: memref<2x128xf32>) {
  train.fused_attention %q, %k, %v causal outs(%o, %lse) : memref<2x128x16xbf16>, memref<2x128x16xbf16>, memref<2x128x16xbf16>, memref<2x128x16xbf16>, memref<2x128xf32>
  return
}

// -----

// The gradient, T = 64: first dk and dv (each warp 16 keys, the block's
// query tiles of 32 from the one holding its first key: q and the output
// gradient staged, 64 vectors each, the block's first 64 threads one
// each, double-buffered; 16 carried values: 2 tiles each). The block's warps 2 and 3 hold
// keys past the first tile: they skip it (keys after every query of it),
// carrying their values through. 4 + 4 products for the transposed scores
// and dP (2 + 2 ldmatrix), then 4 + 4 for dv and dk (2 + 2
// ldmatrix.trans).
// Then dq (each warp 16 queries, one key tile of 64; 8 + 8 products for
// the scores and dP, 8 for dq). In both, P = exp2(fma(s, scale log2(e),
// -log2(e) lse)), -log2(e) lse made once per query (dq: per row, dk and
// dv: per column), and dS = P (dP - delta) scale.
// CHECK-LABEL: func.func @grad
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[NLOG2E:.*]] = arith.constant -1.44269502 : f32
// CHECK-DAG: %[[SCALE2:.*]] = arith.constant 0.360673755 : f32
// CHECK: gpu.launch {{.*}} workgroup(%[[QT:.*]] : memref<2x32x3xvector<8xbf16>, #gpu.address_space<workgroup>>, %[[GT:.*]] : memref<2x32x3xvector<8xbf16>, #gpu.address_space<workgroup>>)
// CHECK: %[[ROW0:.*]] = arith.muli %{{.*}}, %c16
// CHECK: %[[OWN:.*]] = arith.divui %[[ROW0]], %c32
// CHECK: %[[INSIDE:.*]] = arith.cmpi ult, %{{.*}}, %c64
// CHECK: scf.if %[[INSIDE]] {
// CHECK: memref.extract_aligned_pointer_as_index %[[QT]]
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.if %[[INSIDE]] {
// CHECK: memref.extract_aligned_pointer_as_index %[[GT]]
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for %[[STEP:.*]] = %c0 to %c2 step %c1 iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: nvvm.cp.async.wait.group 1
// CHECK-NEXT: gpu.barrier
// CHECK: %[[ACTIVE:.*]] = arith.cmpi uge, %[[STEP]], %[[OWN]]
// CHECK: scf.if %[[ACTIVE]] -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK: %[[LSE:.*]] = memref.load %arg4
// CHECK-NEXT: %[[LSE2:.*]] = arith.mulf %[[LSE]], %[[NLOG2E]]
// CHECK: %[[ARG:.*]] = math.fma %{{.*}}, %[[SCALE2]], %[[LSE2]] : f32
// CHECK-NEXT: math.exp2 %[[ARG]] : f32
// CHECK-NOT: math.exp %
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK-COUNT-4: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-NOT: nvvm.ldmatrix
// CHECK: } else {
// CHECK-NEXT: scf.yield %{{.*}} : f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32
// CHECK-NOT: gpu.shuffle
// CHECK-COUNT-4: vector.store %{{.*}}, %arg7
// CHECK-COUNT-4: vector.store %{{.*}}, %arg8
// CHECK: gpu.launch {{.*}} workgroup(%{{.*}} : memref<2x64x3xvector<8xbf16>, #gpu.address_space<workgroup>>, %{{.*}} : memref<2x64x3xvector<8xbf16>, #gpu.address_space<workgroup>>)
// CHECK-COUNT-24: nvvm.mma.sync
// CHECK-NOT: nvvm.mma.sync
// CHECK-COUNT-4: vector.store %{{.*}}, %arg6
func.func @grad(%g: memref<2x64x16xbf16>, %q: memref<2x64x16xbf16>, %k: memref<2x64x16xbf16>, %v: memref<2x64x16xbf16>, %lse: memref<2x64xf32>, %delta: memref<2x64xf32>, %dq: memref<2x64x16xbf16>, %dk: memref<2x64x16xbf16>, %dv: memref<2x64x16xbf16>) {
  train.fused_attention_grad %g, %q, %k, %v, %lse, %delta causal outs(%dq, %dk, %dv) : memref<2x64x16xbf16>, memref<2x64x16xbf16>, memref<2x64x16xbf16>, memref<2x64x16xbf16>, memref<2x64xf32>, memref<2x64xf32>, memref<2x64x16xbf16>, memref<2x64x16xbf16>, memref<2x64x16xbf16>
  return
}

// -----

// q and k views whose pairs do not start on 4 bytes (an odd offset): two
// 2-byte loads per pair of q's fragments, and k's rows staged element by
// element (8 loads a vector, stored to shared memory as one), v's still
// by cp.async.
// CHECK-LABEL: func.func @unaligned
// CHECK: gpu.launch
// CHECK-COUNT-8: memref.load %arg0
// CHECK-COUNT-8: memref.load %arg1
// CHECK: vector.from_elements
// CHECK: memref.store
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
func.func @unaligned(%q: memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, %k: memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, %v: memref<3x32x16xbf16>, %o: memref<3x32x16xbf16>, %lse: memref<3x32xf32>) {
  train.fused_attention %q, %k, %v causal outs(%o, %lse) : memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, memref<3x32x16xbf16, strided<[1536, 48, 1], offset: 1>>, memref<3x32x16xbf16>, memref<3x32x16xbf16>, memref<3x32xf32>
  return
}

// -----

// D = 128 with key tiles of 64: two buffers of both tiles would pass the
// 48 KB of static shared memory (69,632 bytes), so one buffer each
// (64x17 vectors, 34,816 bytes in all), copied through registers between
// two barriers each step (one step here: 8 vectors of each per thread).
// CHECK-LABEL: func.func @one_buffer
// CHECK: gpu.launch {{.*}} workgroup(%[[KT:.*]] : memref<1x64x17xvector<8xbf16>, #gpu.address_space<workgroup>>, %{{.*}} : memref<1x64x17xvector<8xbf16>, #gpu.address_space<workgroup>>)
// CHECK-NOT: cp.async
// CHECK: gpu.barrier
// CHECK-NEXT: scf.for %{{.*}} = %c0 to %c8 step %c1 {
// CHECK: vector.load %arg1{{.*}} {alignment = 16 : i64} : memref<1x64x128xbf16>, vector<8xbf16>
// CHECK-NEXT: memref.store %{{.*}}, %[[KT]][%c0,
// CHECK: gpu.barrier
// CHECK-NOT: cp.async
// CHECK: nvvm.ldmatrix
func.func @one_buffer(%q: memref<1x64x128xbf16>, %k: memref<1x64x128xbf16>, %v: memref<1x64x128xbf16>, %o: memref<1x64x128xbf16>, %lse: memref<1x64xf32>) {
  train.fused_attention %q, %k, %v outs(%o, %lse) : memref<1x64x128xbf16>, memref<1x64x128xbf16>, memref<1x64x128xbf16>, memref<1x64x128xbf16>, memref<1x64xf32>
  return
}
