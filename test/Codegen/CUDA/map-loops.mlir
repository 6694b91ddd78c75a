// RUN: ftc-opt %s --ftc-gpu-map-loops --canonicalize --split-input-file | FileCheck %s

// A reduction over rows: interchanged so that the parallel dimension is the
// grid's and each thread sums its column in order, in a register (loaded
// before the loop, stored after it). 16 columns: one block of 32 threads (a
// warp), the last 16 guarded off. The copy is a kernel too.
// CHECK-LABEL: func.func @sum_rows
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C1]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]]) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C32]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]])
// CHECK:   %[[IN:.*]] = arith.cmpi ult, %[[TX]], %[[C16]]
// CHECK:   scf.if %[[IN]]
// CHECK:     %[[INIT:.*]] = memref.load %arg1[%[[TX]]]
// CHECK:     %[[SUM:.*]] = scf.for %[[K:.*]] = %{{.*}} to %[[C8]] step %{{.*}} iter_args(%[[ACC:.*]] = %[[INIT]])
// CHECK-NOT:   memref.store
// CHECK:       %[[A:.*]] = memref.load %arg0[%[[K]], %[[TX]]]
// CHECK:       %[[S:.*]] = arith.addf %[[ACC]], %[[A]]
// CHECK:       scf.yield %[[S]]
// CHECK:     memref.store %[[SUM]], %arg1[%[[TX]]]
// CHECK:   gpu.terminator
// CHECK: gpu.launch
// CHECK:   memref.load %arg1
// CHECK:   memref.store %{{.*}}, %arg2
// CHECK-NOT: memref.copy
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @sum_rows(%x: memref<8x16xf32>, %out: memref<16xf32>, %copy: memref<16xf32>) {
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x16xf32>) outs(%out : memref<16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.copy %out, %copy : memref<16xf32> to memref<16xf32>
  return
}

// -----

// Two dimensions flattened, the inner one fastest: 30 x 100 iterations
// from (2, 0) step (3, 1) in 12 blocks of 256 threads.
// CHECK-LABEL: func.func @two_dims
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[C100:.*]] = arith.constant 100 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG: %[[C3000:.*]] = arith.constant 3000 : index
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C12]], {{.*}} threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:   %[[BASE:.*]] = arith.muli %[[BX]], %[[C256]]
// CHECK:   %[[LIN:.*]] = arith.addi %[[BASE]], %[[TX]]
// CHECK:   arith.cmpi ult, %[[LIN]], %[[C3000]]
// CHECK:   %[[J:.*]] = arith.remui %[[LIN]], %[[C100]]
// CHECK:   %[[Q:.*]] = arith.divui %[[LIN]], %[[C100]]
// CHECK:   %[[S:.*]] = arith.muli %[[Q]], %[[C3]]
// CHECK:   %[[I:.*]] = arith.addi %[[S]], %[[C2]]
// CHECK:   memref.store %{{.*}}, %arg0[%[[I]], %[[J]]]
func.func @two_dims(%x: memref<92x100xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c92 = arith.constant 92 : index
  %c100 = arith.constant 100 : index
  %cst = arith.constant 1.0 : f32
  scf.parallel (%i, %j) = (%c2, %c0) to (%c92, %c100) step (%c3, %c1) {
    memref.store %cst, %x[%i, %j] : memref<92x100xf32>
    scf.reduce
  }
  return
}

// -----

// Scalar code (the step counter) in a single-thread kernel; the scalar a
// later kernel reads goes through a one-element buffer, freed at the end.
// CHECK-LABEL: func.func @scalars
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[SPILL:.*]] = memref.alloc() : memref<f32>
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %[[C1]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]]) threads({{.*}}) in (%{{.*}} = %[[C1]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]])
// CHECK:   %[[T:.*]] = memref.load %arg0[]
// CHECK:   %[[T1:.*]] = arith.addi %[[T]]
// CHECK:   memref.store %[[T1]], %arg0[]
// CHECK:   %[[F:.*]] = arith.sitofp %[[T1]]
// CHECK:   memref.store %[[F]], %[[SPILL]][]
// CHECK: gpu.launch
// CHECK:   scf.if
// CHECK:     %[[G:.*]] = memref.load %[[SPILL]][]
// CHECK:     arith.mulf %{{.*}}, %[[G]]
// CHECK: memref.dealloc %[[SPILL]]
// CHECK-NEXT: return
func.func @scalars(%step: memref<i64>, %x: memref<1000xf32>) {
  %c1 = arith.constant 1 : i64
  %t = memref.load %step[] : memref<i64>
  %t1 = arith.addi %t, %c1 : i64
  memref.store %t1, %step[] : memref<i64>
  %f = arith.sitofp %t1 : i64 to f32
  %c0 = arith.constant 0 : index
  %c1000 = arith.constant 1000 : index
  %ci = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%c1000) step (%ci) {
    %v = memref.load %x[%i] : memref<1000xf32>
    %w = arith.mulf %v, %f : f32
    memref.store %w, %x[%i] : memref<1000xf32>
    scf.reduce
  }
  return
}

// -----

// A launch an earlier pass built (ftc-gpu-row-kernels: a LoRA dropout's
// mask recomputed in a layer norm's backward) stays where it is: the scalar
// code before it runs in a kernel launched before it, and the scalar it
// uses (the dropout's key, from the RNG buffer) it loads from the spill.
// The scalar code after it is a kernel after it.
// CHECK-LABEL: func.func @launch_reads_spill
// CHECK: %[[SPILL:.*]] = memref.alloc() : memref<i64>
// CHECK: gpu.launch
// CHECK:   %[[SEED:.*]] = memref.load %arg0[
// CHECK:   %[[KEY:.*]] = arith.muli %[[SEED]]
// CHECK:   memref.store %[[KEY]], %[[SPILL]][]
// CHECK: gpu.launch
// CHECK:   %[[K:.*]] = memref.load %[[SPILL]][]
// CHECK:   arith.addi %[[K]], %{{.*}} : i64
// CHECK:   memref.store %{{.*}}, %arg1[
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %arg2[]
// CHECK-NOT: gpu.launch
// CHECK: memref.dealloc %[[SPILL]]
// CHECK-NEXT: return
func.func @launch_reads_spill(%rng: memref<3xi64>, %out: memref<64xi64>, %after: memref<i64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %golden = arith.constant 7 : i64
  %seed = memref.load %rng[%c0] : memref<3xi64>
  %key = arith.muli %seed, %golden : i64
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %i = arith.index_cast %tx : index to i64
    %v = arith.addi %key, %i : i64
    memref.store %v, %out[%tx] : memref<64xi64>
    gpu.terminator
  }
  %step = memref.load %rng[%c1] : memref<3xi64>
  memref.store %step, %after[] : memref<i64>
  return
}

// -----

// A serial loop around a parallel one stays on the host and launches a
// kernel per iteration; the view is made inside the kernel, which takes the
// whole buffer.
// CHECK-LABEL: func.func @host_loop
// CHECK: scf.for %[[K:.*]] =
// CHECK-NEXT: gpu.launch
// CHECK: memref.subview %arg0[%[[K]], 0] [1, 64] [1, 1]
// CHECK: gpu.terminator
// CHECK-NOT: memref.subview
// CHECK: return
func.func @host_loop(%x: memref<4x64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c64 = arith.constant 64 : index
  %cst = arith.constant 2.0 : f32
  scf.for %k = %c0 to %c4 step %c1 {
    %row = memref.subview %x[%k, 0] [1, 64] [1, 1] : memref<4x64xf32> to memref<64xf32, strided<[1], offset: ?>>
    scf.parallel (%j) = (%c0) to (%c64) step (%c1) {
      %v = memref.load %row[%j] : memref<64xf32, strided<[1], offset: ?>>
      %w = arith.mulf %v, %cst : f32
      memref.store %w, %row[%j] : memref<64xf32, strided<[1], offset: ?>>
      scf.reduce
    }
  }
  return
}

// -----

// A scatter-add (an embedding's gradient): a thread per column and run of
// the table's rows adds, in order, the positions whose row is in its run,
// so every sum is the serial loop's. Which positions those are, a first
// kernel writes as masks (a thread per run and 32 positions: bit b for
// position 32 w + b); the second walks its run's masks, lowest bit first.
// 4 rows of 6 columns: runs of one row, 4 masks, then 24 threads.
// CHECK-LABEL: func.func @scatter_add
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C24:.*]] = arith.constant 24 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i32
// CHECK: %[[MASKS:.*]] = memref.alloc() : memref<4x1xi32>
// CHECK: gpu.launch blocks({{.*}}) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C32]],
// CHECK:   arith.cmpi ult, %[[T]], %[[C4]]
// CHECK:   %[[END:.*]] = arith.addi %[[T]], %[[C1]]
// CHECK:   %[[MASK:.*]] = scf.for %[[B:.*]] = %[[C0]] to %[[C32]] step %[[C1]] iter_args(%[[ACC:.*]] = %[[ZERO]]) -> (i32)
// CHECK:     %[[INSIDE:.*]] = arith.cmpi ult, %[[B]], %[[C8]]
// CHECK:     %[[HAS:.*]] = scf.if %[[INSIDE]] -> (i32)
// CHECK:       %[[I:.*]] = memref.load %arg0[%[[B]]]
// CHECK:       %[[ROW:.*]] = arith.index_cast %[[I]]
// CHECK:       %[[GE:.*]] = arith.cmpi sge, %[[ROW]], %[[T]]
// CHECK:       %[[LT:.*]] = arith.cmpi slt, %[[ROW]], %[[END]]
// CHECK:       %[[IN:.*]] = arith.andi %[[GE]], %[[LT]]
// CHECK:       %[[SHIFT:.*]] = arith.index_castui %[[B]] : index to i32
// CHECK:       %[[FLAG:.*]] = arith.shli %[[ONE]], %[[SHIFT]]
// CHECK:       %[[SEL:.*]] = arith.select %[[IN]], %[[FLAG]], %[[ZERO]]
// CHECK:       scf.yield %[[SEL]]
// CHECK:     } else {
// CHECK:       scf.yield %[[ZERO]]
// CHECK:     %[[OR:.*]] = arith.ori %[[ACC]], %[[HAS]]
// CHECK:     scf.yield %[[OR]]
// CHECK:   memref.store %[[MASK]], %[[MASKS]][%[[T]], %[[C0]]]
// CHECK: gpu.launch blocks({{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C32]],
// CHECK:   arith.cmpi ult, %[[TX]], %[[C24]]
// CHECK:   %[[COL:.*]] = arith.remui %[[TX]], %[[C6]]
// CHECK:   %[[RNO:.*]] = arith.divui %[[TX]], %[[C6]]
// CHECK:   %[[BITS:.*]] = memref.load %[[MASKS]][%[[RNO]], %[[C0]]]
// CHECK:   scf.while (%[[LEFT:.*]] = %[[BITS]])
// CHECK:     %[[MORE:.*]] = arith.cmpi ne, %[[LEFT]], %[[ZERO]]
// CHECK:     scf.condition(%[[MORE]]) %[[LEFT]]
// CHECK:   } do {
// CHECK:   ^bb0(%[[L:.*]]: i32):
// CHECK:     %[[BIT:.*]] = math.cttz %[[L]]
// CHECK:     %[[LESS:.*]] = arith.subi %[[L]], %[[ONE]]
// CHECK:     %[[REST:.*]] = arith.andi %[[L]], %[[LESS]]
// CHECK:     %[[P:.*]] = arith.index_castui %[[BIT]] : i32 to index
// CHECK:     %[[J:.*]] = memref.load %arg0[%[[P]]]
// CHECK:     %[[R:.*]] = arith.index_cast %[[J]]
// CHECK:     memref.load %arg2[%[[R]], %[[COL]]]
// CHECK:     memref.load %arg1[%[[P]], %[[COL]]]
// CHECK:     memref.store %{{.*}}, %arg2[%[[R]], %[[COL]]]
// CHECK:     scf.yield %[[REST]]
// CHECK: memref.dealloc %[[MASKS]]
func.func @scatter_add(%idx: memref<8xi32>, %g: memref<8x6xf32>, %out: memref<4x6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c8 = arith.constant 8 : index
  scf.for %p = %c0 to %c8 step %c1 {
    %i = memref.load %idx[%p] : memref<8xi32>
    %row = arith.index_cast %i : i32 to index
    scf.for %c = %c0 to %c6 step %c1 {
      %a = memref.load %out[%row, %c] : memref<4x6xf32>
      %b = memref.load %g[%p, %c] : memref<8x6xf32>
      %s = arith.addf %a, %b : f32
      memref.store %s, %out[%row, %c] : memref<4x6xf32>
    }
  }
  return
}

// -----

// A table of 1000 rows of 768 columns: runs of 12 rows, 84 of them, for
// 64,512 threads (about 65,536) in blocks of 256. 40 positions: two masks
// a run (168 threads), the second's bits past position 39 left clear, and
// each thread of the second kernel walks both in order.
// CHECK-LABEL: func.func @scatter_add_runs
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[C40:.*]] = arith.constant 40 : index
// CHECK-DAG: %[[C168:.*]] = arith.constant 168 : index
// CHECK-DAG: %[[C252:.*]] = arith.constant 252 : index
// CHECK-DAG: %[[C768:.*]] = arith.constant 768 : index
// CHECK-DAG: %[[C64512:.*]] = arith.constant 64512 : index
// CHECK: %[[MASKS:.*]] = memref.alloc() : memref<84x2xi32>
// CHECK: gpu.launch
// CHECK:   arith.cmpi ult, %[[T:.*]], %[[C168]]
// CHECK:   %[[RNO:.*]] = arith.divui %[[T]], %[[C2]]
// CHECK:   %[[WORD:.*]] = arith.remui %[[T]], %[[C2]]
// CHECK:   %[[FIRST:.*]] = arith.muli %[[RNO]], %[[C12]]
// CHECK:   arith.addi %[[FIRST]], %[[C12]]
// CHECK:   %[[BASE:.*]] = arith.muli %[[WORD]], %[[C32]]
// CHECK:   scf.for %[[B:.*]] = %[[C0]] to %[[C32]]
// CHECK:     %[[P:.*]] = arith.addi %[[BASE]], %[[B]]
// CHECK:     arith.cmpi ult, %[[P]], %[[C40]]
// CHECK:       memref.load %arg0[%[[P]]]
// CHECK:   memref.store %{{.*}}, %[[MASKS]][%[[RNO]], %[[WORD]]]
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %[[C252]],
// CHECK:   arith.cmpi ult, %{{.*}}, %[[C64512]]
// CHECK:   %[[CHUNK:.*]] = arith.divui %{{.*}}, %[[C768]]
// CHECK:   scf.for %[[W:.*]] = %[[C0]] to %[[C2]] step %[[C1]]
// CHECK:     memref.load %[[MASKS]][%[[CHUNK]], %[[W]]]
// CHECK:     scf.while
// CHECK:       math.cttz
// CHECK:       arith.muli %[[W]], %[[C32]]
// CHECK: memref.dealloc %[[MASKS]]
func.func @scatter_add_runs(%idx: memref<40xi32>, %g: memref<40x768xf32>, %out: memref<1000x768xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c768 = arith.constant 768 : index
  %c40 = arith.constant 40 : index
  scf.for %p = %c0 to %c40 step %c1 {
    %i = memref.load %idx[%p] : memref<40xi32>
    %row = arith.index_cast %i : i32 to index
    scf.for %c = %c0 to %c768 step %c1 {
      %a = memref.load %out[%row, %c] : memref<1000x768xf32>
      %b = memref.load %g[%p, %c] : memref<40x768xf32>
      %s = arith.addf %a, %b : f32
      memref.store %s, %out[%row, %c] : memref<1000x768xf32>
    }
  }
  return
}

// -----

// Rows not known before the inner loop (each column's row loaded inside
// it): a thread per column only.
// CHECK-LABEL: func.func @scatter_rows_inside
// CHECK-DAG: %[[C6:.*]] = arith.constant 6 : index
// CHECK: gpu.launch
// CHECK:   arith.cmpi ult, %{{.*}}, %[[C6]]
// CHECK-NOT: arith.divui
// CHECK:   gpu.terminator
func.func @scatter_rows_inside(%idx: memref<8x6xi32>, %g: memref<8x6xf32>, %out: memref<4x6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c8 = arith.constant 8 : index
  scf.for %p = %c0 to %c8 step %c1 {
    scf.for %c = %c0 to %c6 step %c1 {
      %i = memref.load %idx[%p, %c] : memref<8x6xi32>
      %row = arith.index_cast %i : i32 to index
      %a = memref.load %out[%row, %c] : memref<4x6xf32>
      %b = memref.load %g[%p, %c] : memref<8x6xf32>
      %s = arith.addf %a, %b : f32
      memref.store %s, %out[%row, %c] : memref<4x6xf32>
    }
  }
  return
}

// The accumulator stays in memory where the loop reads another view of its
// buffer (here the element it accumulates into is one of those it reads);
// from a buffer of its own, it is carried in a register.
// Both loops are one single-thread kernel.
// CHECK-LABEL: func.func @accumulator_aliased
// CHECK: gpu.launch
// CHECK:   scf.for
// CHECK:     memref.load
// CHECK:     memref.load
// CHECK:     memref.store
// CHECK:   memref.load %arg1
// CHECK:   scf.for {{.*}} iter_args
// CHECK:     memref.load %arg0
// CHECK-NOT: memref.store
// CHECK:     scf.yield
// CHECK:   memref.store {{.*}} %arg1
func.func @accumulator_aliased(%x: memref<8xf32>, %y: memref<1xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %acc = memref.subview %x[7] [1] [1] : memref<8xf32> to memref<1xf32, strided<[1], offset: 7>>
  scf.for %k = %c0 to %c8 step %c1 {
    %a = memref.load %x[%k] : memref<8xf32>
    %b = memref.load %acc[%c0] : memref<1xf32, strided<[1], offset: 7>>
    %s = arith.addf %b, %a : f32
    memref.store %s, %acc[%c0] : memref<1xf32, strided<[1], offset: 7>>
  }
  scf.for %k = %c0 to %c8 step %c1 {
    %a = memref.load %x[%k] : memref<8xf32>
    %b = memref.load %y[%c0] : memref<1xf32>
    %s = arith.addf %b, %a : f32
    memref.store %s, %y[%c0] : memref<1xf32>
  }
  return
}

// -----

// Not a column loop: the inner loop writes across columns (a prefix sum
// along them), so the nest stays one serial kernel.
// CHECK-LABEL: func.func @prefix
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %[[ONE:[a-z0-9_]+]], {{.*}} threads({{.*}}) in (%{{.*}} = %[[ONE]],
// CHECK:   scf.for
// CHECK:     scf.for
func.func @prefix(%x: memref<4x6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c6 = arith.constant 6 : index
  scf.for %r = %c0 to %c4 step %c1 {
    scf.for %c = %c1 to %c6 step %c1 {
      %prev = arith.subi %c, %c1 : index
      %a = memref.load %x[%r, %prev] : memref<4x6xf32>
      %b = memref.load %x[%r, %c] : memref<4x6xf32>
      %s = arith.addf %a, %b : f32
      memref.store %s, %x[%r, %c] : memref<4x6xf32>
    }
  }
  return
}

// -----

// A buffer the serial code frees between two of its ops is freed after the
// kernel, which runs where the last op was.
// CHECK-LABEL: func.func @freed_inside
// CHECK: %[[T:.*]] = memref.alloc() : memref<i1>
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %[[T]][]
// CHECK:   memref.load %[[T]][]
// CHECK:   memref.store %{{.*}}, %arg1[]
// CHECK:   gpu.terminator
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc %[[T]]
func.func @freed_inside(%x: memref<f32>, %y: memref<f32>) {
  %t = memref.alloc() : memref<i1>
  %v = memref.load %x[] : memref<f32>
  %zero = arith.constant 0.0 : f32
  %positive = arith.cmpf ogt, %v, %zero : f32
  memref.store %positive, %t[] : memref<i1>
  %p = memref.load %t[] : memref<i1>
  memref.dealloc %t : memref<i1>
  %r = arith.select %p, %v, %zero : f32
  memref.store %r, %y[] : memref<f32>
  return
}

// -----

// A serial kernel of one op moves no dealloc: the buffers freed after it
// (here %t, allocated after it, and %s, which later kernels use) stay
// freed where they were. (The walk between a group's first and last op
// once ran on to the end of the block for a group of one: every later
// dealloc came right after its launch, before uses and allocs.)
// CHECK-LABEL: func.func @one_op_group
// CHECK: %[[S:.*]] = memref.alloc() : memref<f32>
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %[[S]][]
// CHECK: }
// CHECK-NOT: memref.dealloc
// CHECK: %[[T:.*]] = memref.alloc() : memref<2xf32>
// CHECK: gpu.launch
// CHECK:   memref.store %{{.*}}, %[[T]][
// CHECK: gpu.launch
// CHECK:   memref.load %[[T]][
// CHECK:   memref.store %{{.*}}, %arg2[]
// CHECK: }
// CHECK-NEXT: memref.dealloc %[[T]]
// CHECK-NEXT: memref.dealloc %[[S]]
// CHECK-NEXT: return
func.func @one_op_group(%a: memref<16xf32>, %x: memref<2x8xf32>, %out: memref<f32>) {
  %c0 = arith.constant 0 : index
  %s = memref.alloc() : memref<f32>
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%a : memref<16xf32>) outs(%s : memref<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %sum = arith.addf %acc, %in : f32
    linalg.yield %sum : f32
  }
  %t = memref.alloc() : memref<2xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<2x8xf32>) outs(%t : memref<2xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %sum = arith.addf %acc, %in : f32
    linalg.yield %sum : f32
  }
  %t0 = memref.load %t[%c0] : memref<2xf32>
  %s0 = memref.load %s[] : memref<f32>
  %r = arith.addf %s0, %t0 : f32
  memref.store %r, %out[] : memref<f32>
  memref.dealloc %t : memref<2xf32>
  memref.dealloc %s : memref<f32>
  return
}

// -----

// A product run by the runtime (ftc-gpu-library-contractions' call) stays
// on the host, in order: the serial work before it is one kernel launched
// before the call, the work after it another.
// CHECK-LABEL: func.func @around_library_call
// CHECK: gpu.launch
// CHECK:   memref.store
// CHECK:   gpu.terminator
// CHECK: call @ftcrt_gemm
// CHECK: gpu.launch
// CHECK:   memref.store
// CHECK:   gpu.terminator
// CHECK: return
func.func private @ftcrt_gemm(index, index, index, index)
func.func @around_library_call(%flag: memref<1xf32>, %p: index) {
  %c0 = arith.constant 0 : index
  %one = arith.constant 1.0 : f32
  memref.store %one, %flag[%c0] : memref<1xf32>
  call @ftcrt_gemm(%p, %p, %p, %p) : (index, index, index, index) -> ()
  memref.store %one, %flag[%c0] : memref<1xf32>
  return
}

// -----

// A reduction right after the zero fill of its result: one kernel, each
// thread starting its sum from the fill's value at the first reduced index
// (a select), not a fill kernel whose values the sum reads back. A fill
// the product's call reads in between, or one of part of the result, stays
// a kernel of its own.
// CHECK-LABEL: func.func @fill_folded
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: gpu.launch
// CHECK:   scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %{{.*}})
// CHECK:     %[[FIRST:.*]] = arith.cmpi eq, %[[K]], %{{.*}}
// CHECK:     %[[FROM:.*]] = arith.select %[[FIRST]], %[[ZERO]], %[[ACC]]
// CHECK:     arith.addf %[[FROM]]
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @fill_folded(%x: memref<8x16xf32>, %out: memref<16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<16xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x16xf32>) outs(%out : memref<16xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// CHECK-LABEL: func.func @fill_kept
// CHECK-COUNT-4: gpu.launch
// CHECK-NOT: gpu.launch
// CHECK: return
func.func private @ftcrt_gemm(index, index, index, index)
func.func @fill_kept(%x: memref<8x16xf32>, %out: memref<16xf32>, %d: index, %p: memref<4xf32>,
                     %big: memref<2x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<16xf32>)
  %a = memref.extract_aligned_pointer_as_index %out : memref<16xf32> -> index
  func.call @ftcrt_gemm(%d, %a, %a, %a) : (index, index, index, index) -> ()
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x16xf32>) outs(%out : memref<16xf32>) {
  ^bb0(%a0: f32, %acc: f32):
    %s = arith.addf %acc, %a0 : f32
    linalg.yield %s : f32
  }
  // The result is one row of what was filled.
  linalg.fill ins(%zero : f32) outs(%big : memref<2x16xf32>)
  %row = memref.subview %big[0, 0] [1, 16] [1, 1] : memref<2x16xf32> to memref<16xf32, strided<[1]>>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x16xf32>) outs(%row : memref<16xf32, strided<[1]>>) {
  ^bb0(%a1: f32, %acc: f32):
    %s = arith.addf %acc, %a1 : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// An elementwise kernel over buffers that start on 64 bytes: a thread per
// 4 elements of the innermost dimension, read and written as vectors (16
// bytes of f32 aligned to 16, 8 of bf16 aligned to 8): 2 x 64 elements, 32
// threads. The input of the entry point (ftc.abi's kind "input") may lie
// anywhere: read element by element, as rows 6 elements apart (not 16
// bytes) are; where every vector is bf16 (the second kernel's store), 8
// elements a thread, 16 bytes. Rows of 22 in rows 24 apart (views of
// allocations): 6 vectors of 4 a row, the last one partial, its 2
// elements one at a time (each inside the row).
// CHECK-LABEL: func.func @vectors
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1{{.*}}) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c32
// CHECK: %[[COL:.*]] = arith.muli %{{.*}}, %c4
// CHECK: %[[X:.*]] = vector.load %[[A:.*]][%{{.*}}, %[[COL]]] {alignment = 16 : i64} : memref<2x64xf32>, vector<4xf32>
// CHECK-COUNT-4: vector.extract %[[X]]
// CHECK-COUNT-4: arith.truncf
// CHECK: vector.from_elements
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}, %[[COL]]] {alignment = 8 : i64} : memref<2x64xbf16>, vector<4xbf16>
// CHECK: gpu.launch
// CHECK-COUNT-8: memref.load %arg0
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<2x64xbf16>, vector<8xbf16>
// CHECK: gpu.launch
// CHECK-NOT: vector.
// CHECK: memref.load %alloc
// CHECK-NOT: vector.
// CHECK: gpu.launch blocks(%{{.*}}) in (%{{.*}} = %c1{{.*}}) threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c32
// CHECK: %[[V:.*]] = arith.remui %{{.*}}, %c6
// CHECK: %[[FIRST:.*]] = arith.muli %[[V]], %c4
// CHECK: %[[END:.*]] = arith.addi %[[FIRST]], %c4
// CHECK: %[[WHOLE:.*]] = arith.cmpi ule, %[[END]], %c22
// CHECK: scf.if %[[WHOLE]] {
// CHECK:   vector.load {{.*}} {alignment = 16 : i64} : memref<2x22xf32, strided<[24, 1]>>, vector<4xf32>
// CHECK:   vector.store {{.*}} {alignment = 16 : i64} : memref<2x22xf32, strided<[24, 1]>>, vector<4xf32>
// CHECK: } else {
// CHECK:   %[[IN0:.*]] = arith.cmpi ult, %[[FIRST]], %c22
// CHECK:   scf.if %[[IN0]] {
// CHECK:     memref.load
// CHECK:     arith.negf
// CHECK:     memref.store
// CHECK-COUNT-3: arith.cmpi ult, %{{.*}}, %c22
// CHECK: return
module attributes {ftc.abi = [{kind = "input", name = "x", type = tensor<2x64xf32>}]} {
func.func @vectors(%in: memref<2x64xf32>, %odd: memref<2x6xf32>) attributes {ftc.abi_indices = array<i64: 0, -1>} {
  %a = memref.alloc() {alignment = 64 : i64} : memref<2x64xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<2x64xbf16>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<2x64xf32>) outs(%b : memref<2x64xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  }
  %c = memref.alloc() {alignment = 64 : i64} : memref<2x64xbf16>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%in : memref<2x64xf32>) outs(%c : memref<2x64xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  }
  %d = memref.alloc() {alignment = 64 : i64} : memref<2x6xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%d : memref<2x6xf32>) outs(%odd : memref<2x6xf32>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  }
  %ea = memref.alloc() {alignment = 64 : i64} : memref<2x24xf32>
  %fa = memref.alloc() {alignment = 64 : i64} : memref<2x24xf32>
  %e = memref.subview %ea[0, 0] [2, 22] [1, 1] : memref<2x24xf32> to memref<2x22xf32, strided<[24, 1]>>
  %f = memref.subview %fa[0, 0] [2, 22] [1, 1] : memref<2x24xf32> to memref<2x22xf32, strided<[24, 1]>>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%e : memref<2x22xf32, strided<[24, 1]>>) outs(%f : memref<2x22xf32, strided<[24, 1]>>) {
  ^bb0(%x: f32, %o: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  }
  memref.dealloc %a : memref<2x64xf32>
  memref.dealloc %b : memref<2x64xbf16>
  memref.dealloc %c : memref<2x64xbf16>
  memref.dealloc %d : memref<2x6xf32>
  memref.dealloc %ea : memref<2x24xf32>
  memref.dealloc %fa : memref<2x24xf32>
  return
}
}
