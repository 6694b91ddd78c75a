// A model without a loss function parses, but every pipeline rejects it.
// RUN: %expect-exit 1 ftc-opt --ftc-frontend %s 2>&1 | FileCheck %s

// CHECK: missing-loss.mlir:[[@LINE+1]]:1: error: the model has no loss function: mark the func.func that returns the loss with {train.loss}
module {
  train.param @w : tensor<4xf32> init #train.zeros
}
