// RUN: ftc-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{'train.param' op #train.kaiming_uniform needs a parameter of rank 2 or more to compute fan_in, got 'tensor<10xf32>'}}
train.param @fc.bias : tensor<10xf32> init #train.kaiming_uniform

// -----

// expected-error @+1 {{#train.kaiming_uniform needs a non-zero fan_in, got 'tensor<10x0xf32>'}}
train.param @empty : tensor<10x0xf32> init #train.kaiming_uniform

// -----

// expected-error @+1 {{attribute 'type' failed to satisfy constraint: type attribute of statically shaped tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values}}
train.param @labels : tensor<10xi32> init #train.zeros

// -----

// expected-error @+1 {{type attribute of statically shaped tensor}}
train.param @dynamic : tensor<?x4xf32> init #train.zeros

// -----

func.func @f() {
  // expected-error @+1 {{'train.param' op expects parent op 'builtin.module'}}
  train.param @nested : tensor<4xf32> init #train.zeros
  return
}

// -----

// expected-note @+1 {{see existing symbol definition here}}
train.param @fc.weight : tensor<4x4xf32> init #train.zeros
// expected-error @+1 {{redefinition of symbol named 'fc.weight'}}
train.param @fc.weight : tensor<4x4xf32> init #train.ones

// -----

func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' op references undefined parameter @missing}}
  %w = train.get_param @missing : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// expected-note @+1 {{symbol defined here}}
func.func @g() {
  return
}
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' op @g is not a train.param, train.slot or train.state}}
  %w = train.get_param @g : tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

// expected-note @+1 {{declared here}}
train.param @fc.bias : tensor<10xf32> init #train.zeros
func.func @f() -> tensor<4xf32> {
  // expected-error @+1 {{'train.get_param' op type 'tensor<4xf32>' does not match the type of @fc.bias, 'tensor<10xf32>'}}
  %w = train.get_param @fc.bias : tensor<4xf32>
  return %w : tensor<4xf32>
}
