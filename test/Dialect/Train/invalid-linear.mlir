// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%x: tensor<8x784xf32>, %w: tensor<10x784x1xf32>) {
  // expected-error @+1 {{'train.linear' op weight must be a matrix [out, in], got shape [10, 784, 1]}}
  %0 = train.linear %x, %w : (tensor<8x784xf32>, tensor<10x784x1xf32>) -> tensor<8x10xf32>
  return
}

// -----

func.func @f(%x: tensor<f32>, %w: tensor<10x784xf32>) {
  // expected-error @+1 {{'train.linear' op input must have rank 1 or more ([..., in])}}
  %0 = train.linear %x, %w : (tensor<f32>, tensor<10x784xf32>) -> tensor<10xf32>
  return
}

// -----

func.func @f(%x: tensor<8x784xf32>, %w: tensor<784x10xf32>) {
  // expected-error @+1 {{'train.linear' op input feature size 784 does not match weight [784, 10]: expected in = 10}}
  %0 = train.linear %x, %w : (tensor<8x784xf32>, tensor<784x10xf32>) -> tensor<8x784xf32>
  return
}

// -----

func.func @f(%x: tensor<8x784xf32>, %w: tensor<10x784xf32>, %b: tensor<784xf32>) {
  // expected-error @+1 {{'train.linear' op bias must have shape [10] to match weight [10, 784], got [784]}}
  %0 = train.linear %x, %w, %b : (tensor<8x784xf32>, tensor<10x784xf32>, tensor<784xf32>) -> tensor<8x10xf32>
  return
}

// -----

func.func @f(%x: tensor<8x784xf32>, %w: tensor<10x784xf32>) {
  // expected-error @+1 {{'train.linear' op result shape [10, 8] does not match the expected shape [8, 10]}}
  %0 = train.linear %x, %w : (tensor<8x784xf32>, tensor<10x784xf32>) -> tensor<10x8xf32>
  return
}

// -----

func.func @f(%x: tensor<8x784xbf16>, %w: tensor<10x784xf32>) {
  // expected-error @+1 {{'train.linear' op requires the same element type for all operands and results}}
  %0 = train.linear %x, %w : (tensor<8x784xbf16>, tensor<10x784xf32>) -> tensor<8x10xf32>
  return
}
