// The model conventions: train.loss, train.input and train.optimizer.
// RUN: ftc-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{'func.func' op is the loss function and must return the scalar loss first; it returns nothing}}
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) attributes {train.loss} {
  return
}

// -----

// expected-error @+1 {{'func.func' op must return the loss as a scalar: tensor<f32> (tensor<f64> for gradient checks), got 'tensor<4xf32>'}}
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<4xf32> attributes {train.loss} {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{'func.func' op must return the loss as a scalar: tensor<f32> (tensor<f64> for gradient checks), got 'tensor<bf16>'}}
func.func @loss(%x: tensor<bf16> {train.input = "x"}) -> tensor<bf16> attributes {train.loss} {
  return %x : tensor<bf16>
}

// -----

// expected-error @+1 {{'func.func' op is marked {train.loss} but has no body}}
func.func private @loss(tensor<4xf32>) -> tensor<f32> attributes {train.loss}

// -----

// expected-error @+1 {{'func.func' op 'train.loss' must be a unit attribute}}
func.func @loss(%x: tensor<f32> {train.input = "x"}) -> tensor<f32> attributes {train.loss = 1 : i32} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'builtin.module' op cannot carry 'train.loss': it marks the func.func that computes the loss}}
module attributes {train.loss} {}

// -----

// expected-error @+1 {{argument #1 of the loss function needs a {train.input = "..."} attribute naming the batch input}}
func.func @loss(%x: tensor<f32> {train.input = "x"}, %y: tensor<f32>) -> tensor<f32> attributes {train.loss} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{batch input "x" must be a statically shaped tensor, got 'tensor<?xf32>'}}
func.func @loss(%x: tensor<?xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %0 = train.fill 0.0 : tensor<f32>
  return %0 : tensor<f32>
}

// -----

// expected-note @+1 {{first used by argument #0}}
func.func @loss(%a: tensor<f32> {train.input = "x"},
                // expected-error @+1 {{batch input name "x" is used twice}}
                %b: tensor<f32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  return %a : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op argument #0: 'train.input' must be a non-empty string naming the batch input}}
func.func @loss(%x: tensor<f32> {train.input = ""}) -> tensor<f32> attributes {train.loss} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op argument #0: 'train.input' must be a non-empty string naming the batch input}}
func.func @loss(%x: tensor<f32> {train.input = 3 : i32}) -> tensor<f32> attributes {train.loss} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op argument #0: 'train.input' names a batch input and belongs on an argument of the loss function (a func.func marked {train.loss})}}
func.func @block(%x: tensor<f32> {train.input = "x"}) -> tensor<f32> {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op has unknown train dialect argument attribute 'train.name' on argument #0; expected train.input}}
func.func @block(%x: tensor<f32> {train.name = "x"}) -> tensor<f32> {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op cannot carry 'train.input': it names a batch input and belongs on an argument of the loss function}}
func.func @loss(%x: tensor<f32>) -> tensor<f32> attributes {train.input = "x"} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op has unknown train dialect attribute 'train.los'; expected train.loss, train.optimizer, train.lora, train.precision, train.loss_scale, train.loss_seed, train.recomputed, train.remat, train.step, train.accumulate, train.apply, train.gradient_of or train.grad_params}}
func.func @loss(%x: tensor<f32>) -> tensor<f32> attributes {train.los} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op cannot carry 'train.optimizer': optimizer settings belong on the model's module}}
func.func @f() attributes {train.optimizer = #train.adamw} {
  return
}

// -----

// expected-error @+1 {{'builtin.module' op 'train.optimizer' must be #train.adamw<...> or #train.sgd<...>, got "adamw"}}
module attributes {train.optimizer = "adamw"} {}

// -----

// expected-error @+1 {{'func.func' op result #1 of the loss function needs a {train.output = "..."} attribute naming the output}}
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> (tensor<f32>, tensor<4xf32>) attributes {train.loss} {
  %0 = train.sum %x dims [0] : tensor<4xf32> -> tensor<f32>
  return %0, %x : tensor<f32>, tensor<4xf32>
}

// -----

// expected-error @+1 {{'func.func' op output name "y" is used twice}}
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> (tensor<f32>, tensor<4xf32> {train.output = "y"}, tensor<4xf32> {train.output = "y"}) attributes {train.loss} {
  %0 = train.sum %x dims [0] : tensor<4xf32> -> tensor<f32>
  return %0, %x, %x : tensor<f32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// expected-error @+1 {{'func.func' op result #0: 'train.output' names an output of the loss function, after the loss}}
func.func @loss(%x: tensor<f32> {train.input = "x"}) -> (tensor<f32> {train.output = "y"}) attributes {train.loss} {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op has unknown train dialect result attribute 'train.name' on result #0; expected train.output}}
func.func @f(%x: tensor<f32>) -> (tensor<f32> {train.name = "y"}) {
  return %x : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op output "y" must be a statically shaped tensor, got 'tensor<?xf32>'}}
func.func @loss(%x: tensor<4xf32> {train.input = "x"}, %d: tensor<?xf32>) -> (tensor<f32>, tensor<?xf32> {train.output = "y"}) attributes {train.loss} {
  %0 = train.sum %x dims [0] : tensor<4xf32> -> tensor<f32>
  return %0, %d : tensor<f32>, tensor<?xf32>
}
