// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%l: tensor<f32>, %y: tensor<i32>) {
  // expected-error @+1 {{'train.cross_entropy' op logits must have rank 1 or more, the classes last}}
  %0 = train.cross_entropy %l, %y : (tensor<f32>, tensor<i32>) -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<128x10xf32>, %y: tensor<10xi32>) {
  // expected-error @+1 {{'train.cross_entropy' op labels shape [10] does not match logits shape [128, 10] without its class dimension: expected [128]}}
  %0 = train.cross_entropy %l, %y : (tensor<128x10xf32>, tensor<10xi32>) -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<128x10xf32>, %y: tensor<128xi32>) {
  // expected-error @+1 {{'train.cross_entropy' op result element type 'f64' must match the logits element type 'f32'}}
  %0 = train.cross_entropy %l, %y : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<f64>
  return
}

// -----

func.func @f(%l: tensor<128x10xf32>, %y: tensor<128xf32>) {
  // expected-error @+1 {{'train.cross_entropy' op operand #1 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<128xf32>'}}
  %0 = train.cross_entropy %l, %y : (tensor<128x10xf32>, tensor<128xf32>) -> tensor<f32>
  return
}

// -----

func.func @f(%l: tensor<128x10xf32>, %y: tensor<128xi32>) {
  // expected-error @+1 {{'train.cross_entropy' op result #0 must be 0-d tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values, but got 'tensor<128xf32>'}}
  %0 = train.cross_entropy %l, %y : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<128xf32>
  return
}

// -----

func.func @f(%a: tensor<4x2xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{'train.mse_loss' op requires all operands to have the same type}}
  %0 = train.mse_loss %a, %b : (tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<f32>
  return
}
