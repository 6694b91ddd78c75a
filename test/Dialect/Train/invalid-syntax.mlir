// Parse errors in the custom assembly of train ops and attributes.
// RUN: ftc-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{expected 'init'}}
train.param @w : tensor<4xf32> with #train.zeros

// -----

// expected-error @+1 {{unknown attribute `bogus` in dialect `train`}}
train.param @w : tensor<4xf32> init #train.bogus

// -----

func.func @f(%x: tensor<4x5xf32>) {
  // expected-error @+1 {{expected 'dims'}}
  %0 = train.sum %x [1] : tensor<4x5xf32> -> tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{expected '='}}
train.param @b : tensor<4xf32> init #train.linear_bias<fan_in 4>

// -----

// expected-error @+1 {{expected floating point literal}}
train.param @w : tensor<4xf32> init #train.normal<std = small>
