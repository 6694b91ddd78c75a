// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%a: tensor<4xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{'train.matmul' op operands must have rank 2 or more, got ranks 1 and 2}}
  %0 = train.matmul %a, %b : (tensor<4xf32>, tensor<4x3xf32>) -> tensor<3xf32>
  return
}

// -----

func.func @f(%a: tensor<2x4x3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'train.matmul' op operands must have the same rank, got 3 and 2}}
  %0 = train.matmul %a, %b : (tensor<2x4x3xf32>, tensor<3x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%a: tensor<2x4x3xf32>, %b: tensor<3x3x5xf32>) {
  // expected-error @+1 {{'train.matmul' op batch dimensions differ: [2] and [3]}}
  %0 = train.matmul %a, %b : (tensor<2x4x3xf32>, tensor<3x3x5xf32>) -> tensor<2x4x5xf32>
  return
}

// -----

func.func @f(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.matmul' op contracted sizes differ: the lhs has 3 columns and the rhs has 4 rows}}
  %0 = train.matmul %a, %b : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @f(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.matmul' op contracted sizes differ: the lhs (transposed) has 4 columns and the rhs (transposed) has 5 rows}}
  %0 = train.matmul %a, %b transpose_lhs transpose_rhs : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @f(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>) {
  // expected-error @+1 {{'train.matmul' op result shape [5, 4] does not match the expected shape [4, 5]}}
  %0 = train.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<5x4xf32>
  return
}

// -----

func.func @mixed_operands(%a: tensor<4x3xbf16>, %b: tensor<3x5xf32>) -> tensor<4x5xf32> {
  // expected-error @+1 {{'train.matmul' op operands must have one element type, got 'bf16' and 'f32'}}
  %c = train.matmul %a, %b : (tensor<4x3xbf16>, tensor<3x5xf32>) -> tensor<4x5xf32>
  return %c : tensor<4x5xf32>
}

// -----

func.func @narrowing(%a: tensor<4x3xf32>, %b: tensor<3x5xf32>) -> tensor<4x5xbf16> {
  // expected-error @+1 {{'train.matmul' op result element type 'bf16' must be the operands' ('f32'), or f32 for 16-bit operands}}
  %c = train.matmul %a, %b : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xbf16>
  return %c : tensor<4x5xbf16>
}
