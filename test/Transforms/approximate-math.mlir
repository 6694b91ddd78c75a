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
