// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%t: tensor<16x8x2xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'train.embedding' op the table must be [V, D], got [16, 8, 2]}}
  %0 = train.embedding %t, %i : (tensor<16x8x2xf32>, tensor<4xi32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%t: tensor<16x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'train.embedding' op rows of shape [4, 16] do not fit indices [4] and a table [16, 8]: expected [4, 8]}}
  %0 = train.embedding %t, %i : (tensor<16x8xf32>, tensor<4xi32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @f(%t: tensor<16x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'train.embedding' op result element type must be the table's}}
  %0 = train.embedding %t, %i : (tensor<16x8xf32>, tensor<4xi32>) -> tensor<4x8xf64>
  return
}

// -----

func.func @f(%g: tensor<4x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'train.embedding_grad' op rows of shape [4, 8] do not fit indices [4] and a result [16, 7]: expected [4, 7]}}
  %0 = train.embedding_grad %g, %i : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<16x7xf32>
  return
}

// -----

func.func @f(%g: tensor<4x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'train.embedding_grad' op result element type must be the gradient's}}
  %0 = train.embedding_grad %g, %i : (tensor<4x8xf32>, tensor<4xi32>) -> tensor<16x8xf64>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'train.layer_norm' op weight and bias must be [8], the input's last dimension, got [4]}}
  %0 = train.layer_norm %x, %w, %w : (tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'train.layer_norm' op eps must be positive, got 0}}
  %0 = train.layer_norm %x, %w, %w {eps = 0.0 : f64} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<f32>, %w: tensor<1xf32>) {
  // expected-error @+1 {{'train.layer_norm' op the input must have rank 1 or more, normalized over the last}}
  %0 = train.layer_norm %x, %w, %w : (tensor<f32>, tensor<1xf32>, tensor<1xf32>) -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<4x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'train.layer_norm' op the result type must be the input type 'tensor<4x8xf32>'}}
  %0 = train.layer_norm %x, %w, %w : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8x4xf32>
  return
}

// -----

func.func @f(%g: tensor<4x8xf32>, %x: tensor<8x4xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'train.layer_norm_grad' op the gradient, input and result types must be equal}}
  %0 = train.layer_norm_grad %g, %x, %w : (tensor<4x8xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @f(%x: tensor<f32>) {
  // expected-error @+1 {{'train.softmax' op the input must have rank 1 or more, normalized over the last}}
  %0 = train.softmax %x : tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<f32>) {
  // expected-error @+1 {{'train.log_softmax' op the input must have rank 1 or more, normalized over the last}}
  %0 = train.log_softmax %x : tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<2x4x5xf32>) {
  // expected-error @+1 {{'train.causal_mask' op the last two dimensions must be equal (T x T), got [2, 4, 5]}}
  %0 = train.causal_mask %x : tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%x: tensor<2x9xf32>) {
  // expected-error @+1 {{'train.slice' op elements [7, 10) of dimension 1 are out of range [0, 9)}}
  %0 = train.slice %x dim 1 start 7 : tensor<2x9xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @f(%x: tensor<2x9xf32>) {
  // expected-error @+1 {{'train.slice' op dim 2 is out of range for rank 2}}
  %0 = train.slice %x dim 2 start 0 : tensor<2x9xf32> -> tensor<2x3xf32>
  return
}

// -----

func.func @f(%x: tensor<2x9xf32>) {
  // expected-error @+1 {{'train.slice' op shapes [2, 9] and [1, 3] may differ in dimension 1 only}}
  %0 = train.slice %x dim 1 start 0 : tensor<2x9xf32> -> tensor<1x3xf32>
  return
}

// -----

func.func @f(%x: tensor<2x9xf32>) {
  // expected-error @+1 {{'train.slice' op input and result must have the same rank, got [2, 9] and [9]}}
  %0 = train.slice %x dim 1 start 0 : tensor<2x9xf32> -> tensor<9xf32>
  return
}

// -----

func.func @f(%x: tensor<2x3xf32>) {
  // expected-error @+1 {{'train.pad' op elements [8, 11) of dimension 1 are out of range [0, 9)}}
  %0 = train.pad %x dim 1 start 8 : tensor<2x3xf32> -> tensor<2x9xf32>
  return
}

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>) {
  // expected-error @+1 {{'train.concat' op the inputs' sizes along dimension 1 add up to 8, the result has 9}}
  %0 = train.concat %a, %b dim 1 : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x9xf32>
  return
}

// -----

func.func @f(%a: tensor<2x3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'train.concat' op input [3, 5] and result [2, 8] may differ in dimension 1 only}}
  %0 = train.concat %a, %b dim 1 : (tensor<2x3xf32>, tensor<3x5xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @f(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'train.concat' op dim 2 is out of range for rank 2}}
  %0 = train.concat %a dim 2 : (tensor<2x3xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @f(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{'train.concat' op inputs and result must have the same rank, got [2, 3] and [6]}}
  %0 = train.concat %a dim 0 : (tensor<2x3xf32>) -> tensor<6xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'train.concat' op expected 1 or more operands, but found 0}}
  %0 = train.concat dim 0 : () -> tensor<6xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x3xf32>, %k: tensor<2x6x3xf32>, %v: tensor<2x6x5xf32>) {
  // expected-error @+1 {{'train.attention' op causal attention needs as many queries as keys, got 4 and 6}}
  %0 = train.attention %q, %k, %v causal : (tensor<2x4x3xf32>, tensor<2x6x3xf32>, tensor<2x6x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x3xf32>, %k: tensor<2x4x2xf32>, %v: tensor<2x4x5xf32>) {
  // expected-error @+1 {{'train.attention' op contracted sizes differ: the lhs has 3 columns and the rhs (transposed) has 2 rows}}
  %0 = train.attention %q, %k, %v : (tensor<2x4x3xf32>, tensor<2x4x2xf32>, tensor<2x4x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<3x4x5xf32>) {
  // expected-error @+1 {{'train.attention' op batch dimensions differ: [2] and [3]}}
  %0 = train.attention %q, %k, %v : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<3x4x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>) {
  // expected-error @+1 {{'train.attention' op result shape [2, 4, 3] does not match the expected shape [2, 4, 5]}}
  %0 = train.attention %q, %k, %v : (tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @f(%g: tensor<2x4x5xf32>, %q: tensor<2x4x3xf32>, %k: tensor<2x4x3xf32>, %v: tensor<2x4x5xf32>) {
  // expected-error @+1 {{'train.attention_grad' op each gradient has its operand's type, got 'tensor<2x4x5xf32>' for 'tensor<2x4x3xf32>'}}
  %0:3 = train.attention_grad %g, %q, %k, %v : (tensor<2x4x5xf32>, tensor<2x4x3xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>) -> (tensor<2x4x5xf32>, tensor<2x4x3xf32>, tensor<2x4x5xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{'train.dropout' op p must be in [0, 1], got 1.5}}
  %0 = train.dropout %x p 1.5 : tensor<2x4xf32>
  return
}

// -----

func.func @f(%x: tensor<2x4xf32>, %rng: tensor<2xi64>) {
  // expected-error @+1 {{'train.dropout' op the RNG state must be tensor<3xi64> ([seed, step, training]), got 'tensor<2xi64>'}}
  %0 = train.dropout %x p 0.5 rng %rng : tensor<2x4xf32>, tensor<2xi64>
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{'train.split' op the results' sizes along dimension 1 add up to 7, the input has 8}}
  %0:2 = train.split %x dim 1 : tensor<2x8xf32> -> (tensor<2x3xf32>, tensor<2x4xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{'train.split' op result [3, 3] and input [2, 8] may differ in dimension 1 only}}
  %0:2 = train.split %x dim 1 : tensor<2x8xf32> -> (tensor<3x3xf32>, tensor<2x5xf32>)
  return
}

// -----

func.func @f(%x: tensor<2x8xf32>) {
  // expected-error @+1 {{'train.split' op dim 2 is out of range for rank 2}}
  %0:2 = train.split %x dim 2 : tensor<2x8xf32> -> (tensor<2x3xf32>, tensor<2x5xf32>)
  return
}
