// RUN: ftc-opt %s --split-input-file --ftc-gpu-row-kernels --canonicalize | FileCheck %s
// RUN: ftc-opt %s --split-input-file --ftc-gpu-row-kernels=emulate=true --canonicalize | FileCheck %s --check-prefix=EMU

// A layer norm's forward as the lowering writes it: a residual add, the
// blocked sum of each row (32 lanes' partial sums over 8 blocks, then the
// lanes'), the normalization. One kernel, a warp per row (128 rows, 4 per
// block: 32 blocks of 128 threads), the ops in turn with a warp barrier
// between them: lane l takes elements l, l + 32, ... of each op along the
// row (the partials: its lane of the row, walking the 8 blocks in order),
// lane 0 the one element per row (the fill, the row's sum, in order from
// its start: the CPU's order). The partial sums' fill, on an allocation,
// is written 4 floats (16 bytes) at a time, lanes 0 to 7 a vector each;
// the ops on the function's arguments (inputs of unknown alignment) one
// element at a time. The bias broadcast after it shares nothing with it
// and stays a linalg op (a vectorized kernel of its own).
// CHECK-LABEL: func.func @layer_norm
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[SUM:.*]] = memref.alloc() : memref<128x256xf32>
// CHECK: %[[PART:.*]] = memref.alloc() : memref<128x32xf32>
// CHECK: %[[MEAN:.*]] = memref.alloc() : memref<128xf32>
// CHECK: gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C32]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]]) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C128]], %{{.*}} = %[[C1]], %{{.*}} = %[[C1]])
// CHECK:   %[[WARP:.*]] = arith.divui %[[T]], %[[C32]]
// CHECK:   %[[LANE:.*]] = arith.remui %[[T]], %[[C32]]
// CHECK:   %[[ROW:.*]] = arith.addi %{{.*}}, %[[WARP]]
// CHECK:   scf.for %[[J:.*]] = %[[LANE]] to %[[C256]] step %[[C32]]
// CHECK:     arith.addf
// CHECK:     memref.store %{{.*}}, %[[SUM]][%[[ROW]], %[[J]]]
// CHECK:   nvvm.bar.warp.sync
// CHECK:   %[[LANE4:.*]] = arith.muli %[[LANE]], %[[C4]]
// CHECK:   scf.for %{{.*}} = %[[LANE4]] to %[[C32]] step %[[C128]]
// CHECK:     vector.store %{{.*}}, %[[PART]][%[[ROW]], %{{.*}}] {alignment = 16 : i64} : memref<128x32xf32>, vector<4xf32>
// CHECK:   nvvm.bar.warp.sync
// CHECK:   scf.for %[[L:.*]] = %[[LANE]] to %[[C32]] step %[[C32]]
// CHECK:     %[[P0:.*]] = memref.load %[[PART]][%[[ROW]], %[[L]]]
// CHECK:     %[[P:.*]] = scf.for %[[K:.*]] = %[[C0]] to %[[C8]] step %[[C1]] iter_args(%[[ACC:.*]] = %[[P0]])
// CHECK:       %[[AT:.*]] = affine.apply #{{.*}}(%[[K]], %[[L]])
// CHECK:       %[[X:.*]] = memref.load %[[SUM]][%[[ROW]], %[[AT]]]
// CHECK:       arith.addf %[[ACC]], %[[X]]
// CHECK:     memref.store %[[P]], %[[PART]][%[[ROW]], %[[L]]]
// CHECK:   nvvm.bar.warp.sync
// CHECK:   %[[FIRST:.*]] = arith.cmpi eq, %[[LANE]], %[[C0]]
// CHECK:   scf.if %[[FIRST]]
// CHECK:     memref.store %{{.*}}, %[[MEAN]][%[[ROW]]]
// CHECK:   nvvm.bar.warp.sync
// CHECK:   scf.if
// CHECK:     %[[M0:.*]] = memref.load %[[MEAN]][%[[ROW]]]
// CHECK:     %[[M:.*]] = scf.for %[[I:.*]] = %[[C0]] to %[[C32]] step %[[C1]] iter_args(%[[MACC:.*]] = %[[M0]])
// CHECK:       %[[Q:.*]] = memref.load %[[PART]][%[[ROW]], %[[I]]]
// CHECK:       arith.addf %[[MACC]], %[[Q]]
// CHECK:     memref.store %[[M]], %[[MEAN]][%[[ROW]]]
// CHECK:   nvvm.bar.warp.sync
// CHECK:   scf.for %[[J2:.*]] = %[[LANE]] to %[[C256]] step %[[C32]]
// CHECK:     memref.load %[[MEAN]][%[[ROW]]]
// CHECK:     arith.truncf
// CHECK:     memref.store %{{.*}}, %arg3[%[[ROW]], %[[J2]]]
// CHECK:   gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: memref.dealloc %[[PART]]
// CHECK: memref.dealloc %[[MEAN]]
// CHECK: memref.dealloc %[[SUM]]
// CHECK: linalg.generic {{.*}} ins(%arg5 : memref<64xf32>) outs(%arg4 : memref<128x64xbf16>)
// EMU-LABEL: func.func @layer_norm
// EMU: gpu.launch {{.*}} threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c4,
// EMU-NOT: nvvm.bar.warp.sync
// EMU: scf.for %[[LANE:.*]] = %c0 to %c32 step %c1
// EMU:   scf.for %{{.*}} = %[[LANE]] to %c256 step %c32
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
#bx = affine_map<(d0, d1, d2) -> (d0, d1 * 32 + d2)>
#bb = affine_map<(d0, d1, d2) -> (d1)>
#bp = affine_map<(d0, d1, d2) -> (d0, d2)>
func.func @layer_norm(%x: memref<128x256xf32>, %y: memref<128x256xf32>, %w: memref<256xf32>,
                      %out: memref<128x256xbf16>, %bias: memref<128x64xbf16>, %b64: memref<64xf32>) {
  %zero = arith.constant 0.0 : f32
  %n = arith.constant 256.0 : f32
  %sum = memref.alloc() : memref<128x256xf32>
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : memref<128x256xf32>, memref<128x256xf32>) outs(%sum : memref<128x256xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  %partial = memref.alloc() : memref<128x32xf32>
  linalg.fill ins(%zero : f32) outs(%partial : memref<128x32xf32>)
  %blocks = memref.alloc() : memref<8xf32>
  linalg.generic {indexing_maps = [#bx, #bb, #bp], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%sum, %blocks : memref<128x256xf32>, memref<8xf32>) outs(%partial : memref<128x32xf32>) {
  ^bb0(%a: f32, %unused: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.dealloc %blocks : memref<8xf32>
  %mean = memref.alloc() : memref<128xf32>
  linalg.fill ins(%zero : f32) outs(%mean : memref<128xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%partial : memref<128x32xf32>) outs(%mean : memref<128xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.dealloc %partial : memref<128x32xf32>
  linalg.generic {indexing_maps = [#id, #row, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%sum, %mean, %w : memref<128x256xf32>, memref<128xf32>, memref<256xf32>) outs(%out : memref<128x256xbf16>) {
  ^bb0(%a: f32, %m: f32, %g: f32, %o: bf16):
    %mu = arith.divf %m, %n : f32
    %c = arith.subf %a, %mu : f32
    %s = arith.mulf %c, %g : f32
    %t = arith.truncf %s : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %mean : memref<128xf32>
  memref.dealloc %sum : memref<128x256xf32>
  linalg.generic {indexing_maps = [#col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b64 : memref<64xf32>) outs(%bias : memref<128x64xbf16>) {
  ^bb0(%a: f32, %o: bf16):
    %t = arith.truncf %a : f32 to bf16
    linalg.yield %t : bf16
  }
  return
}

// -----

// A row's maximum (exact in any order): lane l takes elements l, l + 32,
// ... from maximumf's identity, then a butterfly of shuffles (lanes 16, 8,
// 4, 2, 1 apart) and lane 0 combines the total into the output. 100 rows:
// 25 blocks. Emulated, a launch thread is a warp (4 a block): its lanes'
// partial results in a vector, the butterfly as vector shuffles.
// CHECK-LABEL: func.func @row_max
// CHECK-DAG: %[[NINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NOT: linalg
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c25,
// CHECK:   %[[LANE:.*]] = arith.remui
// CHECK:   %[[PART:.*]] = scf.for %{{.*}} = %[[LANE]] to %c512 step %c32 iter_args(%[[ACC:.*]] = %[[NINF]])
// CHECK:     arith.maximumf %[[ACC]]
// CHECK:   %[[S16:.*]], %{{.*}} = gpu.shuffle  xor %[[PART]], %c16_i32, %c32_i32 : f32
// CHECK:   %[[M16:.*]] = arith.maximumf %[[PART]], %[[S16]]
// CHECK:   gpu.shuffle  xor %[[M16]], %c8_i32, %c32_i32
// CHECK:   gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32
// CHECK:   gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32
// CHECK:   %[[S1:.*]], %{{.*}} = gpu.shuffle  xor %[[M2:.*]], %c1_i32, %c32_i32
// CHECK:   %[[TOTAL:.*]] = arith.maximumf %[[M2]], %[[S1]]
// CHECK:   scf.if
// CHECK:     %[[INIT:.*]] = memref.load %arg1
// CHECK:     %[[OUT:.*]] = arith.maximumf %[[INIT]], %[[TOTAL]]
// CHECK:     memref.store %[[OUT]], %arg1
// EMU-LABEL: func.func @row_max
// EMU-NOT: gpu.shuffle
// EMU: gpu.launch {{.*}} in (%{{.*}} = %c25, {{.*}} threads({{.*}}) in (%{{.*}} = %c4,
// EMU: %[[ALL:.*]] = scf.for %[[LANE:.*]] = %c0 to %c32 step %c1 iter_args(%[[V:.*]] = %{{.*}}) -> (vector<32xf32>)
// EMU:   %[[P:.*]] = scf.for %{{.*}} = %[[LANE]] to %c512 step %c32
// EMU:   vector.insert %[[P]], %[[V]] [%[[LANE]]]
// EMU: vector.shuffle %[[ALL]], %[[ALL]] [16, 17,
// EMU: vector.shuffle {{.*}} [1, 0, 3, 2,
// EMU: vector.extract %{{.*}}[0]
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @row_max(%x: memref<100x512xbf16>, %m: memref<100xf32>) {
  %ninf = arith.constant 0xFF800000 : f32
  linalg.fill ins(%ninf : f32) outs(%m : memref<100xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<100x512xbf16>) outs(%m : memref<100xf32>) {
  ^bb0(%a: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %s = arith.maximumf %acc, %e : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// An op a few places on that reads what the group wrote and is
// independent of the ops between moves up into the kernel (the row's
// centring, past a column sum). One that reads other rows' sums (%s at
// the column's index) stays out, after it.
// CHECK-LABEL: func.func @pulled
// CHECK: gpu.launch
// CHECK:   scf.if
// CHECK:     memref.store
// CHECK:   nvvm.bar.warp.sync
// CHECK:   scf.if
// CHECK:   nvvm.bar.warp.sync
// CHECK:   scf.for
// CHECK:     arith.subf
// CHECK:     memref.store %{{.*}}, %arg2
// CHECK:   gpu.terminator
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]} ins(%arg0 : memref<128x256xf32>) outs(%arg1 : memref<256xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg3, %{{.*}} : memref<128x128xf32>, memref<128xf32>)
// CHECK:   arith.mulf
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @pulled(%x: memref<128x256xf32>, %cols: memref<256xf32>, %y: memref<128x256xf32>,
                  %other: memref<128x128xf32>) {
  %zero = arith.constant 0.0 : f32
  %s = memref.alloc() : memref<128xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<128xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<128x256xf32>) outs(%s : memref<128xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<128x256xf32>) outs(%cols : memref<256xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : memref<128x256xf32>, memref<128xf32>) outs(%y : memref<128x256xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %r = arith.subf %a, %m : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%other, %s : memref<128x128xf32>, memref<128xf32>) outs(%other : memref<128x128xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %r = arith.mulf %a, %m : f32
    linalg.yield %r : f32
  }
  memref.dealloc %s : memref<128xf32>
  return
}

// -----

// A bias gradient as the lowering writes it: 200 rows summed in 12 blocks
// of 16 (each of 16 partial sums walking its blocks in order), the partial
// sums added, the 8 rows left added, the total added to the gradient. One
// kernel, a block per 16 columns (4 blocks), 16 groups of 16 threads: a
// group shares out an op's other parallel iterations (the partial sums'
// 16), each walking its reduced loops in order (the sums of the thread per
// output element before); a block barrier between ops. Emulated, a launch
// thread is a column (16 a block) and no barrier.
// CHECK-LABEL: func.func @bias_grad
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[PART:.*]] = memref.alloc() : memref<16x64xf32>
// CHECK: %[[SUM:.*]] = memref.alloc() : memref<64xf32>
// CHECK: gpu.launch blocks(%[[B:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c4, %{{.*}} = %[[C1]], %{{.*}} = %[[C1]]) threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[C256]],
// CHECK:   %[[X:.*]] = arith.remui %[[T]], %[[C16]]
// CHECK:   %[[G:.*]] = arith.divui %[[T]], %[[C16]]
// CHECK:   %[[COL:.*]] = arith.addi %{{.*}}, %[[X]]
// CHECK:   scf.for
// CHECK:     memref.store %{{.*}}, %[[PART]]
// CHECK:   gpu.barrier
// CHECK:   scf.for %[[Q:.*]] = %[[G]] to %[[C16]] step %[[C16]]
// CHECK:     %[[L:.*]] = arith.remui %[[Q]], %[[C16]]
// CHECK:     %[[P0:.*]] = memref.load %[[PART]][%[[L]], %[[COL]]]
// CHECK:     %[[P:.*]] = scf.for %{{.*}} = %[[C0]] to %[[C12]] step %[[C1]] iter_args(%{{.*}} = %[[P0]])
// CHECK:       memref.load %arg0[%{{.*}}, %[[COL]]]
// CHECK:     memref.store %[[P]], %[[PART]][%[[L]], %[[COL]]]
// CHECK:   gpu.barrier
// CHECK:   scf.for %{{.*}} = %[[G]] to %[[C1]] step %[[C16]]
// CHECK:     memref.store %{{.*}}, %[[SUM]][%[[COL]]]
// CHECK:   gpu.barrier
// CHECK:   scf.for %{{.*}} = %[[G]] to %[[C1]] step %[[C16]]
// CHECK:     scf.for %{{.*}} = %[[C0]] to %[[C16]] step %[[C1]]
// CHECK:       memref.load %[[PART]]
// CHECK:   gpu.barrier
// CHECK:   scf.for %{{.*}} = %[[G]] to %[[C1]] step %[[C16]]
// CHECK:     scf.for %{{.*}} = %[[C0]] to %c8 step %[[C1]]
// CHECK:       memref.load %arg0
// CHECK:   gpu.barrier
// CHECK:   scf.for %{{.*}} = %[[G]] to %[[C1]] step %[[C16]]
// CHECK:     memref.load %arg1[%[[COL]]]
// CHECK:     memref.store %{{.*}}, %arg1[%[[COL]]]
// CHECK:   gpu.terminator
// CHECK-NOT: linalg.generic
// EMU-LABEL: func.func @bias_grad
// EMU: gpu.launch {{.*}} in (%{{.*}} = %c4, {{.*}} threads(%[[T:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c16,
// EMU-NOT: gpu.barrier
// EMU: scf.for %{{.*}} = %c0 to %c16 step %c1
// EMU-NOT: gpu.barrier
// EMU: gpu.terminator
#g1 = affine_map<(d0, d1, d2) -> (d0 * 16 + d1, d2)>
#p1 = affine_map<(d0, d1, d2) -> (d1, d2)>
#b1 = affine_map<(d0, d1, d2) -> (d0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#rest = affine_map<(d0, d1) -> (d0 + 192, d1)>
#v = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @bias_grad(%g: memref<200x64xbf16>, %grad: memref<64xf32>) {
  %zero = arith.constant 0.0 : f32
  %partial = memref.alloc() : memref<16x64xf32>
  linalg.fill ins(%zero : f32) outs(%partial : memref<16x64xf32>)
  %blocks = memref.alloc() : memref<12xbf16>
  linalg.generic {indexing_maps = [#g1, #b1, #p1], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%g, %blocks : memref<200x64xbf16>, memref<12xbf16>) outs(%partial : memref<16x64xf32>) {
  ^bb0(%a: bf16, %unused: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  memref.dealloc %blocks : memref<12xbf16>
  %sum = memref.alloc() : memref<64xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<64xf32>)
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%partial : memref<16x64xf32>) outs(%sum : memref<64xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.dealloc %partial : memref<16x64xf32>
  %left = memref.alloc() : memref<8xbf16>
  linalg.generic {indexing_maps = [#rest, #row, #col], iterator_types = ["reduction", "parallel"]}
      ins(%g, %left : memref<200x64xbf16>, memref<8xbf16>) outs(%sum : memref<64xf32>) {
  ^bb0(%a: bf16, %unused: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#v, #v, #v], iterator_types = ["parallel"]}
      ins(%grad, %sum : memref<64xf32>, memref<64xf32>) outs(%grad : memref<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  memref.dealloc %left : memref<8xbf16>
  memref.dealloc %sum : memref<64xf32>
  return
}

// -----

// The same with 8,200 rows, summed in 256 blocks of 32 (and 8 left): the
// blocks' partial sums, 256 for each column, stay a linalg op (a kernel of
// their own later, a thread per partial sum: ftc-gpu-map-loops), not the
// column kernel's, whose 4 blocks of 256 threads would walk 64 each. The
// rest is the column kernel: the partial sums added, the rows left, the
// gradient.
// CHECK-LABEL: func.func @many_partials
// CHECK: %[[PART:.*]] = memref.alloc() : memref<256x64xf32>
// CHECK: linalg.fill {{.*}} outs(%[[PART]] : memref<256x64xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg0, %{{.*}} : memref<8200x64xbf16>, memref<32xbf16>) outs(%[[PART]] : memref<256x64xf32>)
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c4,
// CHECK:     memref.store
// CHECK:   gpu.barrier
// CHECK:     memref.load %[[PART]]
// CHECK:   gpu.barrier
// CHECK:     memref.load %arg0
// CHECK:   gpu.barrier
// CHECK:     memref.store %{{.*}}, %arg1
// CHECK:   gpu.terminator
// CHECK-NOT: linalg.generic
#g1 = affine_map<(d0, d1, d2) -> (d1 * 32 + d0, d2)>
#p1 = affine_map<(d0, d1, d2) -> (d1, d2)>
#b1 = affine_map<(d0, d1, d2) -> (d0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#rest = affine_map<(d0, d1) -> (d0 + 8192, d1)>
#v = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @many_partials(%g: memref<8200x64xbf16>, %grad: memref<64xf32>) {
  %zero = arith.constant 0.0 : f32
  %partial = memref.alloc() : memref<256x64xf32>
  linalg.fill ins(%zero : f32) outs(%partial : memref<256x64xf32>)
  %blocks = memref.alloc() : memref<32xbf16>
  linalg.generic {indexing_maps = [#g1, #b1, #p1], iterator_types = ["reduction", "parallel", "parallel"]}
      ins(%g, %blocks : memref<8200x64xbf16>, memref<32xbf16>) outs(%partial : memref<256x64xf32>) {
  ^bb0(%a: bf16, %unused: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  memref.dealloc %blocks : memref<32xbf16>
  %sum = memref.alloc() : memref<64xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<64xf32>)
  linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%partial : memref<256x64xf32>) outs(%sum : memref<64xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.dealloc %partial : memref<256x64xf32>
  %left = memref.alloc() : memref<8xbf16>
  linalg.generic {indexing_maps = [#rest, #row, #col], iterator_types = ["reduction", "parallel"]}
      ins(%g, %left : memref<8200x64xbf16>, memref<8xbf16>) outs(%sum : memref<64xf32>) {
  ^bb0(%a: bf16, %unused: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %s = arith.addf %acc, %e : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#v, #v, #v], iterator_types = ["parallel"]}
      ins(%grad, %sum : memref<64xf32>, memref<64xf32>) outs(%grad : memref<64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  memref.dealloc %left : memref<8xbf16>
  memref.dealloc %sum : memref<64xf32>
  return
}

// -----

// Not pulled up past a call (a product on cuBLASLt takes addresses, whose
// buffers this pass cannot see): the centring stays after it.
// CHECK-LABEL: func.func @not_past_call
// CHECK: gpu.launch
// CHECK: call @opaque
// CHECK: linalg.generic
// CHECK:   arith.subf
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func private @opaque(index)
func.func @not_past_call(%x: memref<128x256xf32>, %y: memref<128x256xf32>) {
  %zero = arith.constant 0.0 : f32
  %s = memref.alloc() : memref<128xf32>
  linalg.fill ins(%zero : f32) outs(%s : memref<128xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<128x256xf32>) outs(%s : memref<128xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %acc, %a : f32
    linalg.yield %r : f32
  }
  %c0 = arith.constant 0 : index
  func.call @opaque(%c0) : (index) -> ()
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : memref<128x256xf32>, memref<128xf32>) outs(%y : memref<128x256xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %r = arith.subf %a, %m : f32
    linalg.yield %r : f32
  }
  memref.dealloc %s : memref<128xf32>
  return
}

// -----

// Ops along the row on allocations (16-byte aligned, rows of 512 bf16)
// read and write 8 neighbouring elements as one 16-byte vector: lane l
// takes vectors l, l + 32, ... (elements 8 l to 8 l + 7, then 256 on); the
// row maximum combines each vector's elements in order into the lane's
// partial (a maximum: any order gives the same), then the butterfly.
// CHECK-LABEL: func.func @vectors
// CHECK: %[[X:.*]] = memref.alloc() : memref<100x512xbf16>
// CHECK: %[[Y:.*]] = memref.alloc() : memref<100x512xbf16>
// CHECK: gpu.launch
// CHECK:   %[[LANE:.*]] = arith.remui %{{.*}}, %c32
// CHECK:   %[[ROW:.*]] = arith.addi
// CHECK:   %[[START:.*]] = arith.muli %[[LANE]], %c8
// CHECK:   scf.for %[[J:.*]] = %[[START]] to %c512 step %c256 {
// CHECK:     %[[V:.*]] = vector.load %[[X]][%[[ROW]], %[[J]]] {alignment = 16 : i64} : memref<100x512xbf16>, vector<8xbf16>
// CHECK-COUNT-8: arith.truncf
// CHECK:     %[[W:.*]] = vector.from_elements
// CHECK:     vector.store %[[W]], %[[Y]][%[[ROW]], %[[J]]] {alignment = 16 : i64} : memref<100x512xbf16>, vector<8xbf16>
// CHECK:   nvvm.bar.warp.sync
// CHECK:   %[[PART:.*]] = scf.for %[[K:.*]] = %{{.*}} to %c512 step %c256 iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32) {
// CHECK:     vector.load %[[Y]][%[[ROW]], %[[K]]] {alignment = 16 : i64} : memref<100x512xbf16>, vector<8xbf16>
// CHECK-COUNT-8: arith.maximumf
// CHECK:   gpu.shuffle  xor %[[PART]], %c16_i32, %c32_i32 : f32
// EMU-LABEL: func.func @vectors
// EMU: scf.for %[[LANE:.*]] = %c0 to %c32 step %c1 {
// EMU:   %[[START:.*]] = arith.muli %[[LANE]], %c8
// EMU:   scf.for %{{.*}} = %[[START]] to %c512 step %c256 {
// EMU:     vector.load {{.*}} : memref<100x512xbf16>, vector<8xbf16>
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @vectors(%m: memref<100xf32>) {
  %x = memref.alloc() : memref<100x512xbf16>
  %y = memref.alloc() : memref<100x512xbf16>
  %two = arith.constant 2.0 : f32
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<100x512xbf16>) outs(%y : memref<100x512xbf16>) {
  ^bb0(%a: bf16, %o: bf16):
    %e = arith.extf %a : bf16 to f32
    %t = arith.mulf %e, %two : f32
    %r = arith.truncf %t : f32 to bf16
    linalg.yield %r : bf16
  }
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<100x512xbf16>) outs(%m : memref<100xf32>) {
  ^bb0(%a: bf16, %acc: f32):
    %e = arith.extf %a : bf16 to f32
    %r = arith.maximumf %acc, %e : f32
    linalg.yield %r : f32
  }
  memref.dealloc %x : memref<100x512xbf16>
  memref.dealloc %y : memref<100x512xbf16>
  return
}

// -----

// A row of 515 f32 in rows 520 apart (a subview of an allocation): 128
// vectors of 4 (16 bytes, 4-aligned strides), then the 3 elements left
// over, one per lane (lanes 0 to 2), before the butterfly.
// CHECK-LABEL: func.func @vector_tail
// CHECK: gpu.launch
// CHECK:   %[[LANE:.*]] = arith.remui %{{.*}}, %c32
// CHECK:   %[[START:.*]] = arith.muli %[[LANE]], %c4
// CHECK:   %[[MAIN:.*]] = scf.for %{{.*}} = %[[START]] to %c512 step %c128 iter_args(%{{.*}} = %{{.*}}) -> (f32) {
// CHECK:     vector.load {{.*}} {alignment = 16 : i64} : memref<100x515xf32, strided<[520, 1]>>, vector<4xf32>
// CHECK-COUNT-4: arith.maximumf
// CHECK:   %[[REST:.*]] = arith.addi %[[LANE]], %c512
// CHECK:   %[[ALL:.*]] = scf.for %{{.*}} = %[[REST]] to %c515 step %c32 iter_args(%{{.*}} = %[[MAIN]]) -> (f32) {
// CHECK:     memref.load {{.*}} : memref<100x515xf32, strided<[520, 1]>>
// CHECK:   gpu.shuffle  xor %[[ALL]], %c16_i32, %c32_i32 : f32
func.func @vector_tail(%m: memref<100xf32>) {
  %ya = memref.alloc() : memref<100x520xf32>
  %y = memref.subview %ya[0, 0] [100, 515] [1, 1] : memref<100x520xf32> to memref<100x515xf32, strided<[520, 1]>>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<100x515xf32, strided<[520, 1]>>) outs(%m : memref<100xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %acc, %a : f32
    linalg.yield %r : f32
  }
  memref.dealloc %ya : memref<100x520xf32>
  return
}
