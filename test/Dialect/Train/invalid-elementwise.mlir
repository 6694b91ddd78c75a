// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%a: tensor<4x3xf32>, %b: tensor<4x5xf32>) {
  // expected-error @+1 {{'train.add' op operand shapes [4, 3] and [4, 5] do not broadcast: sizes 3 and 5 meet at result dimension 1; expected equal sizes or a size of 1}}
  %0 = train.add %a, %b : (tensor<4x3xf32>, tensor<4x5xf32>) -> tensor<4x5xf32>
  return
}

// -----

func.func @f(%a: tensor<4x1xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'train.mul' op result shape [4, 1] does not match the expected shape [4, 5]}}
  %0 = train.mul %a, %b : (tensor<4x1xf32>, tensor<5xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @f(%a: tensor<4xf32>, %b: tensor<4xf64>) {
  // expected-error @+1 {{'train.sub' op requires the same element type for all operands and results}}
  %0 = train.sub %a, %b : (tensor<4xf32>, tensor<4xf64>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%a: tensor<4xi32>) {
  // expected-error @+1 {{'train.div' op operand #0 must be statically shaped tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values, but got 'tensor<4xi32>'}}
  %0 = train.div %a, %a : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return
}

// -----

func.func @f(%a: tensor<?xf32>) {
  // expected-error @+1 {{'train.relu' op operand #0 must be statically shaped tensor}}
  %0 = train.relu %a : tensor<?xf32>
  return
}

// -----

func.func @f(%a: tensor<4xf32>) {
  // expected-error @+1 {{'train.exp' op requires the same type for all operands and results}}
  %0 = "train.exp"(%a) : (tensor<4xf32>) -> tensor<5xf32>
  return
}

// -----

func.func @f(%a: tensor<4xf32>) {
  // expected-error @+1 {{'train.cast' op requires the same shape for all operands and results}}
  %0 = train.cast %a : tensor<4xf32> to tensor<5xi32>
  return
}

// -----

func.func @f(%a: tensor<4xi8>) {
  // expected-error @+1 {{'train.cast' op operand #0 must be statically shaped tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float or 32-bit signless integer or 64-bit signless integer values, but got 'tensor<4xi8>'}}
  %0 = train.cast %a : tensor<4xi8> to tensor<4xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'train.constant' op failed to verify that all of {value, result} have same type}}
  %0 = "train.constant"() {value = dense<1.0> : tensor<4xf32>} : () -> tensor<5xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'train.fill' op result #0 must be statically shaped tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values, but got 'tensor<4xi32>'}}
  %0 = train.fill 1.0 : tensor<4xi32>
  return
}
