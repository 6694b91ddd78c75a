// RUN: ftc-opt %s --ftc-approximate-math | FileCheck %s
// RUN: ftc-opt %s --ftc-approximate-math=ops=math.exp | FileCheck %s --check-prefix=EXP

// f32 tanh and exp become arithmetic (a polynomial, fma, bit operations),
// so loops over them vectorize; f64 is left to libm. With ops=math.exp only
// exp is replaced.
// CHECK-LABEL: func.func @gelu_softmax
// CHECK-NOT: math.tanh {{.*}} : f32
// CHECK-NOT: math.exp {{.*}} : f32
// CHECK: math.fma
// CHECK: math.exp {{.*}} : f64
// EXP-LABEL: func.func @gelu_softmax
// EXP: math.tanh {{.*}} : f32
// EXP-NOT: math.exp {{.*}} : f32
func.func @gelu_softmax(%x: f32, %y: vector<8xf32>, %z: f64) -> (f32, vector<8xf32>, f64) {
  %t = math.tanh %x : f32
  %e = math.exp %y : vector<8xf32>
  %d = math.exp %z : f64
  return %t, %e, %d : f32, vector<8xf32>, f64
}

// f32 tanh by ftc's own approximation (about 1 ulp; upstream's rational
// interpolant is a few ulp off): x + x^3 q(x^2) below |x| = 1, and
// 1 - 2 / (1 + exp(2|x|)) with x's sign above, exp approximated in turn.
// CHECK-LABEL: func.func @tanh
// CHECK-SAME: (%[[X:.+]]: vector<8xf32>)
// CHECK: %[[S:.+]] = arith.mulf %[[X]], %[[X]] : vector<8xf32>
// CHECK: %[[XS:.+]] = arith.mulf %[[X]], %[[S]] : vector<8xf32>
// CHECK: %[[XSQ:.+]] = arith.mulf %[[XS]], %{{.+}} : vector<8xf32>
// CHECK: %[[SMALL:.+]] = arith.addf %[[X]], %[[XSQ]] : vector<8xf32>
// CHECK: %[[A:.+]] = math.absf %[[X]] : vector<8xf32>
// CHECK: arith.addf %[[A]], %[[A]] : vector<8xf32>
// CHECK-NOT: math.exp
// CHECK: arith.divf
// CHECK: %[[ONE_MINUS:.+]] = arith.subf
// CHECK: %[[LARGE:.+]] = math.copysign %[[ONE_MINUS]], %[[X]] : vector<8xf32>
// CHECK: %[[IS_SMALL:.+]] = arith.cmpf olt, %[[A]], %{{.+}} : vector<8xf32>
// CHECK: %[[Y:.+]] = arith.select %[[IS_SMALL]], %[[SMALL]], %[[LARGE]] : vector<8xi1>, vector<8xf32>
// CHECK: return %[[Y]]
func.func @tanh(%x: vector<8xf32>) -> vector<8xf32> {
  %t = math.tanh %x : vector<8xf32>
  return %t : vector<8xf32>
}
