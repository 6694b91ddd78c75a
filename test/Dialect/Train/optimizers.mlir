// Optimizer settings round-trip, with PyTorch's defaults for omitted fields.
// RUN: ftc-opt --split-input-file %s > %t.1.mlir
// RUN: ftc-opt --split-input-file %t.1.mlir > %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: FileCheck %s < %t.1.mlir

// CHECK: module attributes {train.optimizer = #train.adamw<lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, weight_decay = 0.01>}
module attributes {train.optimizer = #train.adamw} {
}

// -----

// CHECK: module attributes {train.optimizer = #train.adamw<lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1.0e-08, weight_decay = 0.0>}
module attributes {train.optimizer = #train.adamw<weight_decay = 0.0>} {
}

// -----

// CHECK: module attributes {train.optimizer = #train.sgd<lr = 0.01, momentum = 0.0, dampening = 0.0, weight_decay = 0.0, nesterov = false>}
module attributes {train.optimizer = #train.sgd<>} {
}

// -----

// CHECK: module attributes {train.optimizer = #train.sgd<lr = 0.1, momentum = 0.9, dampening = 0.0, weight_decay = 0.0005, nesterov = true>}
module attributes {train.optimizer = #train.sgd<lr = 0.1, momentum = 0.9, weight_decay = 5.0e-4, nesterov = true>} {
}
