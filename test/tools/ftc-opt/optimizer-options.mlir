// The pipelines take ftc-optimizer's options as one string, handed to the
// pass as they are: the same spelling as --ftc-optimizer='...', the same
// checks, before anything runs.
// RUN: ftc-opt %s --ftc-training-step='optimizer-options={optimizer=sgd lr=0.1 momentum=0.9}' | FileCheck %s --check-prefix=SGD
// RUN: ftc-opt %s --pass-pipeline='builtin.module(ftc-training-step{optimizer-options={lr=0.2 beta2=0.95}})' | FileCheck %s --check-prefix=ADAMW
// RUN: ftc-opt %s --ftc-cpu='optimizer-options={optimizer=sgd nesterov=true momentum=0.5}' | FileCheck %s --check-prefix=CPU
// RUN: not ftc-opt %s --ftc-cpu='optimizer-options={lr=-1}' 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not ftc-opt %s --ftc-training-step='optimizer-options={rate=0.1}' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: ftc-opt --help | FileCheck %s --check-prefix=HELP

// SGD: module attributes {train.optimizer = #train.sgd<lr = 0.1, momentum = 0.9, dampening = 0.0, weight_decay = 0.0, nesterov = false>
// SGD: train.sgd_update
// ADAMW: module attributes {train.optimizer = #train.adamw<lr = 0.2, beta1 = 0.9, beta2 = 0.95, eps = 1.0e-08, weight_decay = 0.01>
// CPU: ftc.optimizer = #train.sgd<lr = 0.01, momentum = 0.5, dampening = 0.0, weight_decay = 0.0, nesterov = true>
// CPU: llvm.func @ftc_entry_step
// NEGATIVE: error: --lr: expected a non-negative number, got -1
// NEGATIVE-NOT: ftc_entry_step
// UNKNOWN: no such option rate
// HELP: --ftc-cpu
// HELP: --optimizer-options=<string> {{ *}}- Options of ftc-optimizer
// HELP: --ftc-training-step
// HELP: --optimizer-options=<string> {{ *}}- Options of ftc-optimizer
train.param @w : tensor<4xf32> init #train.zeros
func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
  %w = train.get_param @w : tensor<4xf32>
  %l = train.mse_loss %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
