// Initializer and optimizer attributes: parse errors and verifier messages.
// RUN: ftc-opt %s --split-input-file --verify-diagnostics

// expected-error @+1 {{#train.normal: std must be a non-negative number, got -1.0}}
train.param @w : tensor<4xf32> init #train.normal<std = -1.0>

// -----

// expected-error @+1 {{#train.normal: mean must be finite, got inf}}
train.param @w : tensor<4xf32> init #train.normal<mean = 1.0e400>

// -----

// expected-error @+1 {{#train.uniform: low (1.0) must not exceed high (0.0)}}
train.param @w : tensor<4xf32> init #train.uniform<low = 1.0, high = 0.0>

// -----

// expected-error @+1 {{#train.uniform: high must be finite, got inf}}
train.param @w : tensor<4xf32> init #train.uniform<high = 1.0e400>

// -----

// expected-error @+1 {{#train.constant: the value must be finite, got inf}}
train.param @w : tensor<4xf32> init #train.constant<1.0e400>

// -----

// expected-error @+1 {{#train.linear_bias: fan_in must be positive, got 0}}
train.param @b : tensor<4xf32> init #train.linear_bias<fan_in = 0>

// -----

// expected-error @+1 {{unknown field 'std_dev' in #train.normal; expected one of mean, std}}
train.param @w : tensor<4xf32> init #train.normal<std_dev = 1.0>

// -----

// expected-error @+1 {{field 'lr' appears twice in #train.adamw}}
module attributes {train.optimizer = #train.adamw<lr = 0.1, lr = 0.2>} {}

// -----

// expected-error @+1 {{#train.adamw: lr must be a non-negative number, got -0.1}}
module attributes {train.optimizer = #train.adamw<lr = -0.1>} {}

// -----

// expected-error @+1 {{#train.adamw: beta1 must be in [0, 1), got 1.0}}
module attributes {train.optimizer = #train.adamw<beta1 = 1.0>} {}

// -----

// expected-error @+1 {{#train.adamw: beta2 must be in [0, 1), got -0.5}}
module attributes {train.optimizer = #train.adamw<beta2 = -0.5>} {}

// -----

// expected-error @+1 {{#train.adamw: eps must be a non-negative number, got -1.0e-08}}
module attributes {train.optimizer = #train.adamw<eps = -1.0e-8>} {}

// -----

// expected-error @+1 {{#train.adamw: weight_decay must be a non-negative number, got -0.01}}
module attributes {train.optimizer = #train.adamw<weight_decay = -0.01>} {}

// -----

// expected-error @+1 {{#train.sgd: lr must be a non-negative number, got -1.0}}
module attributes {train.optimizer = #train.sgd<lr = -1.0>} {}

// -----

// expected-error @+1 {{#train.sgd: momentum must be a non-negative number, got -0.9}}
module attributes {train.optimizer = #train.sgd<momentum = -0.9>} {}

// -----

// expected-error @+1 {{#train.sgd: dampening must be finite, got inf}}
module attributes {train.optimizer = #train.sgd<dampening = 1.0e400>} {}

// -----

// expected-error @+1 {{#train.sgd: weight_decay must be a non-negative number, got -1.0}}
module attributes {train.optimizer = #train.sgd<weight_decay = -1.0>} {}

// -----

// expected-error @+1 {{#train.sgd: nesterov needs momentum > 0 and dampening = 0, got momentum 0.9 and dampening 0.1}}
module attributes {train.optimizer = #train.sgd<momentum = 0.9, dampening = 0.1, nesterov = true>} {}

// -----

// expected-error @+1 {{expected 'true' or 'false' for 'nesterov'}}
module attributes {train.optimizer = #train.sgd<nesterov = yes>} {}

// -----

// expected-error @+1 {{#train.lora: rank must be at least 1, got 0}}
module attributes {train.lora = #train.lora<rank = 0, targets = "fc">} {}

// -----

// expected-error @+1 {{#train.lora: dropout must be in [0, 1), got 1.0}}
module attributes {train.lora = #train.lora<targets = "fc", dropout = 1.0>} {}

// -----

// expected-error @+1 {{#train.lora: targets must name the linear weights to adapt}}
module attributes {train.lora = #train.lora<rank = 4>} {}

// -----

// expected-error @+1 {{#train.lora: variant must be lora or dora, got 'vera'}}
module attributes {train.lora = #train.lora<targets = "fc", variant = "vera">} {}

// -----

// expected-error @+1 {{#train.lora: targets is not a valid regular expression ('fc[': }}
module attributes {train.lora = #train.lora<targets = "fc[">} {}

// -----

// expected-error @+1 {{unknown field 'r' in #train.lora; expected one of rank, alpha, targets, dropout, rslora, variant, base, trainable}}
module attributes {train.lora = #train.lora<r = 4>} {}

// -----

// expected-error @+1 {{'train.lora' must be #train.lora<...>, got "fc"}}
module attributes {train.lora = "fc"} {}
