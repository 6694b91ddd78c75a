// Verifier messages of the ops and attributes the passes build.
// RUN: ftc-opt %s --split-input-file --verify-diagnostics

func.func @f(%x: tensor<3xf32>) {
  // expected-error @+1 {{'train.broadcast' op shape [3] does not broadcast to [8, 4]}}
  %0 = train.broadcast %x : tensor<3xf32> -> tensor<8x4xf32>
  return
}

// -----

func.func @f(%x: tensor<8x4xf32>) {
  // expected-error @+1 {{'train.sum_to' op shape [3] does not broadcast to [8, 4]}}
  %0 = train.sum_to %x : tensor<8x4xf32> -> tensor<3xf32>
  return
}

// -----

func.func @f(%a: tensor<8x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'train.equal' op result shape [4] does not match the expected shape [8, 4]}}
  %0 = train.equal %a, %b : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%s: tensor<f32>, %z: tensor<8x4xf32>, %l: tensor<8xi32>) {
  // expected-error @+1 {{'train.cross_entropy_grad' op result type 'tensor<8x4xf64>' must be the logits type 'tensor<8x4xf32>'}}
  %0 = train.cross_entropy_grad %s, %z, %l : (tensor<f32>, tensor<8x4xf32>, tensor<8xi32>) -> tensor<8x4xf64>
  return
}

// -----

func.func @f(%s: tensor<f32>, %z: tensor<8x4xf32>, %l: tensor<4xi32>) {
  // expected-error @+1 {{'train.cross_entropy_grad' op labels shape [4] does not match logits shape [8, 4] without its class dimension: expected [8]}}
  %0 = train.cross_entropy_grad %s, %z, %l : (tensor<f32>, tensor<8x4xf32>, tensor<4xi32>) -> tensor<8x4xf32>
  return
}

// -----

func.func @f(%p: tensor<4xf32>, %g: tensor<4xf32>, %t: tensor<i64>) {
  // expected-error @+1 {{'train.sgd_update' op takes and returns a momentum buffer exactly when the momentum is non-zero}}
  %0 = train.sgd_update %p, %g with #train.sgd<momentum = 0.9> step %t : (tensor<4xf32>, tensor<4xf32>, tensor<i64>) -> tensor<4xf32>
  return
}

// -----

func.func @f(%p: tensor<4xf32>, %g: tensor<3xf32>, %t: tensor<i64>) {
  // expected-error @+1 {{'train.sgd_update' op parameter, gradient and momentum buffer must all have the type 'tensor<4xf32>'}}
  %0 = train.sgd_update %p, %g with #train.sgd step %t : (tensor<4xf32>, tensor<3xf32>, tensor<i64>) -> tensor<4xf32>
  return
}

// -----

// expected-note @+1 {{declared here}}
train.param @w : tensor<4xf32> init #train.zeros
func.func @f(%v: tensor<3xf32>) {
  // expected-error @+1 {{'train.set_param' op type 'tensor<3xf32>' does not match the type of @w, 'tensor<4xf32>'}}
  train.set_param @w, %v : tensor<3xf32>
  return
}

// -----

func.func @f(%v: tensor<3xf32>) {
  // expected-error @+1 {{'train.set_param' op references undefined parameter @nothing}}
  train.set_param @nothing, %v : tensor<3xf32>
  return
}

// -----

// expected-error @+1 {{'func.func' op 'train.gradient_of' must name the loss function, got "loss"}}
func.func @g() attributes {train.gradient_of = "loss"} {
  return
}

// -----

// expected-error @+1 {{'func.func' op 'train.grad_params' must be a list of parameter symbols, got [1 : i32]}}
func.func @g() attributes {train.grad_params = [1 : i32]} {
  return
}

// -----

// expected-error @+1 {{'builtin.module' op 'train.step' is a unit attribute marking the func.func of the training step}}
module attributes {train.step} {}

// -----

// expected-error @+1 {{'builtin.module' op 'train.loss_seed' is a unit attribute marking the train.fill (or, with loss scaling, the read of the scale) that seeds the backward pass}}
module attributes {train.loss_seed} {}

// -----

// expected-error @+1 {{'builtin.module' op 'train.loss_scale' belongs on the module and is a dictionary of numbers (the loss scaling's settings), got "dynamic"}}
module attributes {train.loss_scale = "dynamic"} {}

// -----

// expected-error @+1 {{'train.state' op init 0.000000e+00 : f32 must be a 'i64'}}
train.state @optim.step : tensor<i64> = 0.0 : f32

// -----

// expected-error @+1 {{'train.state' op attribute 'type' failed to satisfy constraint}}
train.state @s : tensor<2xf32> = 0.0 : f32

// -----

// expected-error @+1 {{'train.state' op role must be saved, setting or report, got 'input'}}
train.state @optim.lr : tensor<f64> = 1.0e-3 : f64 {role = "input"}

// -----

func.func @f(%g: tensor<4xf32>) {
  // expected-error @+1 {{'train.clip_grad_norm' op max_norm must be positive, got -1}}
  %n, %c = train.clip_grad_norm %g max_norm -1.0 : tensor<4xf32>
  return
}

// -----

func.func @f() {
  // expected-error @+1 {{'train.clip_grad_norm' op needs at least one gradient}}
  %n, %c = "train.clip_grad_norm"() {max_norm = 1.0 : f64} : () -> (tensor<f64>, tensor<f64>)
  return
}

// -----

// expected-note @+1 {{declared here}}
train.state @optim.step : tensor<i64> = 0 : i64
func.func @f() {
  // expected-error @+1 {{'train.get_param' op type 'tensor<f32>' does not match the type of @optim.step, 'tensor<i64>'}}
  %n = train.get_param @optim.step : tensor<f32>
  return
}
