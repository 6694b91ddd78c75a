// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.reshape' op cannot reshape [4, 5] (20 elements) into [3, 7] (21 elements)}}
  %0 = train.reshape %x : tensor<4x5xf32> -> tensor<3x7xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.transpose' op [0, 0] is not a permutation of the dimensions 0 to 1}}
  %0 = train.transpose %x [0, 0] : tensor<4x5xf32> -> tensor<4x4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.transpose' op permutation has 3 entries; expected 2 (the input rank)}}
  %0 = train.transpose %x [0, 1, 2] : tensor<4x5xf32> -> tensor<4x5xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.transpose' op result shape [4, 5] does not match the expected shape [5, 4]}}
  %0 = train.transpose %x [1, 0] : tensor<4x5xf32> -> tensor<4x5xf32>
  return
}
