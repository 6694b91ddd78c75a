// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.sum' op dims must list at least one dimension to reduce}}
  %0 = train.sum %x dims [] : tensor<4x5xf32> -> tensor<4x5xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.mean' op dimension 2 is out of range for an input of rank 2; expected 0 to 1}}
  %0 = train.mean %x dims [2] : tensor<4x5xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.max' op dims must be strictly increasing, got [1, 0]}}
  %0 = train.max %x dims [1, 0] : tensor<4x5xf32> -> tensor<f32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.sum' op result shape [4] does not match the expected shape [4, 1]}}
  %0 = train.sum %x dims [1] keepdim : tensor<4x5xf32> -> tensor<4xf32>
  return
}

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.sum' op requires the same element type for all operands and results}}
  %0 = train.sum %x dims [1] : tensor<4x5xf32> -> tensor<4xf64>
  return
}
