// RUN: %expect-exit 1 ftc-opt %s 2>&1 | FileCheck %s

// CHECK: duplicate-param.mlir:[[@LINE+3]]:1: error: redefinition of symbol named 'fc1.weight'
// CHECK: duplicate-param.mlir:[[@LINE+1]]:1: note: see existing symbol definition here
train.param @fc1.weight : tensor<4x4xf32> init #train.kaiming_uniform
train.param @fc1.weight : tensor<4x4xf32> init #train.kaiming_uniform
