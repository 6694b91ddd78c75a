// RUN: ftc-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg,ftc-cpu-tile-and-fuse{block-elements=8192}))' | FileCheck %s

// A softmax over 64 rows of 256 is one parallel loop over blocks of 32 rows
// (8192 elements): the row max, the blocked sum of exponentials (per lane,
// then the lanes) and the normalized rows are computed in the block, each
// row read from memory once. The max is computed once per block although
// two ops read it. Every temporary is a result of the loop (written in
// place), none an allocation inside it.
// CHECK-LABEL: func.func @softmax
// CHECK-NOT: linalg.generic
// CHECK: scf.forall (%[[I:.+]]) = (0) to (64) step (32) shared_outs(
// CHECK-NOT: bufferization.alloc_tensor
// CHECK-NOT: tensor.empty
// CHECK: tensor.extract_slice %{{.+}}[%[[I]], 0] [32, 256] [1, 1]
// CHECK: linalg.fill
// CHECK: arith.maximumf
// CHECK-NOT: arith.maximumf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: arith.addf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @softmax(%x: tensor<64x256xf32>) -> tensor<64x256xf32> {
  %0 = train.softmax %x : tensor<64x256xf32>
  return %0 : tensor<64x256xf32>
}

// -----

// A value every block reads whole (a bias computed from a parameter) is
// not fused: it would be recomputed in every block. The product it is added
// to is, and its result (read again after the loop) is a second result of
// the loop rather than computed twice.
// CHECK-LABEL: func.func @broadcast_operand
// CHECK: %[[B2:.+]] = linalg.generic {{.*}} iterator_types = ["parallel"]
// CHECK-NOT: scf.forall
// CHECK: %[[LOOP:.+]]:2 = scf.forall (%[[I:.+]]) = (0) to (256) step (32)
// CHECK: arith.mulf
// CHECK: %[[WHOLE:.+]] = tensor.extract_slice %[[B2]][0] [256] [1]
// CHECK: linalg.generic {{.*}} ins(%{{.+}}, %[[WHOLE]] : tensor<32x256xf32>, tensor<256xf32>)
// CHECK: arith.addf
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-2: tensor.parallel_insert_slice
// CHECK: return %[[LOOP]]#{{[01]}}, %[[LOOP]]#{{[01]}}
func.func @broadcast_operand(%x: tensor<256x256xf32>, %b: tensor<256xf32>) -> (tensor<256x256xf32>, tensor<256x256xf32>) {
  %b2 = train.mul %b, %b : (tensor<256xf32>, tensor<256xf32>) -> tensor<256xf32>
  %x2 = train.mul %x, %x : (tensor<256x256xf32>, tensor<256x256xf32>) -> tensor<256x256xf32>
  %y = train.add %x2, %b2 : (tensor<256x256xf32>, tensor<256xf32>) -> tensor<256x256xf32>
  return %y, %x2 : tensor<256x256xf32>, tensor<256x256xf32>
}

// -----

// Column sums (a bias gradient) split the columns into blocks (512 columns
// of 16 lanes), never the rows summed: each sum runs whole on one thread,
// whatever the thread count.
// CHECK-LABEL: func.func @column_sums
// CHECK: scf.forall (%[[J:.+]]) = (0) to (4096) step (512)
// CHECK-NOT: scf.forall
// CHECK: tensor.extract_slice %{{.+}}[0, %[[J]]] [128, 512] [1, 1]
func.func @column_sums(%g: tensor<128x4096xf32>) -> tensor<4096xf32> {
  %0 = train.sum %g dims [0] : tensor<128x4096xf32> -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}

// -----

// An op of a parallel block writing its part of the loop's result into an
// empty tensor (what elementwise fusion makes of a fused epilogue's
// destination) writes into the loop's result again: bufferization would
// allocate a fresh tensor in every block.
// CHECK-LABEL: func.func @block_in_place
// CHECK: scf.forall (%[[I:.+]]) = (0) to (64) step (16) shared_outs(%[[O:.+]] = %{{.+}})
// CHECK: %[[PART:.+]] = tensor.extract_slice %[[O]][%[[I]], 0] [16, 32] [1, 1]
// CHECK: %[[NEG:.+]] = linalg.generic {{.*}} outs(%[[PART]] : tensor<16x32xf32>)
// CHECK: tensor.parallel_insert_slice %[[NEG]] into %[[O]][%[[I]], 0] [16, 32] [1, 1]
func.func @block_in_place(%x: tensor<64x32xf32>) -> tensor<64x32xf32> {
  %e = tensor.empty() : tensor<64x32xf32>
  %r = scf.forall (%i) = (0) to (64) step (16) shared_outs(%o = %e) -> (tensor<64x32xf32>) {
    %s = tensor.extract_slice %x[%i, 0] [16, 32] [1, 1] : tensor<64x32xf32> to tensor<16x32xf32>
    %t = tensor.empty() : tensor<16x32xf32>
    %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<16x32xf32>) outs(%t : tensor<16x32xf32>) {
    ^bb0(%a: f32, %b: f32):
      %n = arith.negf %a : f32
      linalg.yield %n : f32
    } -> tensor<16x32xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %g into %o[%i, 0] [16, 32] [1, 1] : tensor<16x32xf32> into tensor<64x32xf32>
    }
  }
  return %r : tensor<64x32xf32>
}

// -----

// Column sums of 200 rows: 12 blocks of 16 lanes, then the lanes, then the
// 8 rows left, all in one loop over blocks of 1024 columns. The lanes' sum
// is the destination the rest is added into: computed into the loop's
// result itself, not yielded beside it (bufferization would copy it in
// every block). The lane partials are not computed a second time.
// CHECK-LABEL: func.func @column_sums_rest
// CHECK: %[[LOOP:.+]]:2 = scf.forall (%{{.+}}) = (0) to (4096) step (1024) shared_outs(%[[SUM:.+]] = %{{.+}}, %[[LANES:.+]] = %{{.+}})
// CHECK: %[[P:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %{{.+}} : tensor<192x1024xf32>, tensor<12xf32>) outs(%{{.+}} : tensor<16x1024xf32>)
// CHECK: %[[L:.+]] = linalg.generic {{.*}} ins(%[[P]] : tensor<16x1024xf32>) outs(%{{.+}} : tensor<1024xf32>)
// CHECK: %[[R:.+]] = linalg.generic {{.*}} ins(%{{.+}}, %{{.+}} : tensor<200x1024xf32>, tensor<8xf32>) outs(%[[L]] : tensor<1024xf32>)
// CHECK: tensor.parallel_insert_slice %[[R]] into %[[SUM]]
// CHECK-NOT: tensor.parallel_insert_slice %[[L]]
// CHECK-NOT: scf.forall
// CHECK: return %[[LOOP]]#0
func.func @column_sums_rest(%g: tensor<200x4096xf32>) -> tensor<4096xf32> {
  %0 = train.sum %g dims [0] : tensor<200x4096xf32> -> tensor<4096xf32>
  return %0 : tensor<4096xf32>
}

// -----

// A producer is fused only where the blocks read disjoint parts of it. The
// column sums' partial sums take interleaved rows (row d1 * 16 + d2 into
// partial d2); a block of 8 partials reads a box of 56 of the 64 rows, and
// the boxes of the two blocks overlap. Fused there, the product would be
// computed twice on the overlap (and a row sum continued into a result of
// the loop added twice: DoRA's magnitude gradient on a residual branch was
// wrong, and differed with the thread count). It is computed in its own
// loop over disjoint blocks of rows, before.
// CHECK-LABEL: func.func @overlapping_blocks
// CHECK: scf.forall (%{{.+}}) = (0) to (64) step (32)
// CHECK: arith.mulf
// CHECK: scf.forall (%[[K:.+]]) = (0) to (16) step (8)
// CHECK-NOT: arith.mulf
// CHECK: tensor.extract_slice %{{.+}}[%[[K]], 0] [56, 256] [1, 1]
// CHECK-NOT: arith.mulf
// CHECK: scf.forall.in_parallel
func.func @overlapping_blocks(%x: tensor<64x256xf32>) -> tensor<256xf32> {
  %r = train.sum %x dims [1] : tensor<64x256xf32> -> tensor<64xf32>
  %c = train.reshape %r : tensor<64xf32> -> tensor<64x1xf32>
  %b = train.broadcast %c : tensor<64x1xf32> -> tensor<64x256xf32>
  %p = train.mul %x, %b : (tensor<64x256xf32>, tensor<64x256xf32>) -> tensor<64x256xf32>
  %0 = train.sum %p dims [0] : tensor<64x256xf32> -> tensor<256xf32>
  return %0 : tensor<256xf32>
}

// -----

// A producer that other ops read too is fused only where the blocks compute
// all of it: the loop's result then stands for it everywhere. Rows of 77
// are summed in a first part of 64 columns (lanes) and a tail of 13; fused
// into the first part's loop, the difference and the product would be
// computed in [47, 64] parts only, and the tail and the last product would
// read 13 columns nothing wrote (a softmax's gradient before an MSE on 77
// classes was off by the loss's 1/N). They are computed in their own loop
// over whole rows, before.
// CHECK-LABEL: func.func @partial_rows
// CHECK: %[[D:.+]]:2 = scf.forall (%{{.+}}) = (0) to (141) step (47)
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%{{.+}}, 0] [47, 77] [1, 1]
// CHECK: tensor.parallel_insert_slice %{{.+}} into %{{.+}}[%{{.+}}, 0] [47, 77] [1, 1]
// CHECK: scf.forall (%{{.+}}) = (0) to (141) step (47)
// CHECK-NOT: arith.subf
// CHECK: tensor.extract_slice %[[D]]#0[%{{.+}}, 0] [47, 64] [1, 1]
// CHECK-NOT: tensor<47x64xf32> into tensor<141x77xf32>
// CHECK: return
func.func @partial_rows(%x: tensor<141x77xf32>, %t: tensor<141x77xf32>) -> (tensor<141xf32>, tensor<141x77xf32>) {
  %d = train.sub %x, %t : (tensor<141x77xf32>, tensor<141x77xf32>) -> tensor<141x77xf32>
  %m = train.mul %d, %x : (tensor<141x77xf32>, tensor<141x77xf32>) -> tensor<141x77xf32>
  %s = train.sum %m dims [1] keepdim : tensor<141x77xf32> -> tensor<141x1xf32>
  %e = train.mul %d, %s : (tensor<141x77xf32>, tensor<141x1xf32>) -> tensor<141x77xf32>
  %r = train.reshape %s : tensor<141x1xf32> -> tensor<141xf32>
  return %r, %e : tensor<141xf32>, tensor<141x77xf32>
}
