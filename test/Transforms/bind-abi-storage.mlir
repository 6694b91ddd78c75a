// RUN: ftc-opt %s --ftc-lora='rank=2 targets=fc base=nf4' --ftc-autodiff --ftc-optimizer --ftc-bind-abi | FileCheck %s
// RUN: ftc-opt %s --ftc-lora='rank=2 targets=fc base=nf4' --ftc-autodiff --ftc-optimizer --ftc-bind-abi --ftc-convert-train-to-linalg --cse | FileCheck %s --check-prefix=LINALG
// RUN: ftc-opt %s --ftc-lora='rank=2 targets=fc base=bf16' --ftc-autodiff --ftc-optimizer --ftc-bind-abi | FileCheck %s --check-prefix=BF16
// RUN: ftc-opt %s --ftc-lora='rank=2 targets=fc base=nf4' | FileCheck %s --check-prefix=LORA

// QLoRA: the frozen linear weights are stored as nf4; the embedding, though
// frozen, is read by train.embedding and stays f32.
// LORA: train.param frozen @emb.weight : tensor<10x8xf32> init #train.normal<mean = 0.0, std = 1.0>{{$}}
// LORA: train.param frozen @fc.weight : tensor<16x8xf32> init #train.kaiming_uniform storage "nf4"
// LORA: train.param frozen @head.weight : tensor<4x16xf32> init #train.kaiming_uniform storage "nf4"

// Two ABI buffers per nf4 weight: its codes (u8 in the description, i8 in
// the IR), named as the weight, and its absmax scales, one per 64 elements.
// CHECK: {init = #train.kaiming_uniform, kind = "param", logical_type = tensor<16x8xf32>, name = "fc.weight", storage = "nf4", trainable = false, type = tensor<64xi8>}
// CHECK-SAME: {kind = "param", name = "fc.weight.absmax", scales_of = @fc.weight, trainable = false, type = tensor<2xf32>}

// In the step, a dequantize before each use of a stored weight: the head's
// forward product and the backward's product for its input gradient (the
// head is frozen: no dW), each its own copy, numbered, so the f32 weight is
// not kept from one to the other. fc's input needs no gradient (the
// embedding is frozen): only its forward reads it.
// CHECK-LABEL: func.func private @ftc_step_impl
// CHECK: %[[W:.+]] = train.dequantize %{{.+}}, %{{.+}} instance {{[0-9]+}} : (tensor<64xi8>, tensor<2xf32>) -> tensor<16x8xf32>
// CHECK-NEXT: train.linear %{{.+}}, %[[W]]
// CHECK: %[[H0:.+]] = train.dequantize %[[CODES:.+]], %[[SCALES:.+]] instance {{[0-9]+}} : (tensor<32xi8>, tensor<1xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: train.linear %{{.+}}, %[[H0]]
// CHECK: %[[H1:.+]] = train.dequantize %[[CODES]], %[[SCALES]] instance {{[0-9]+}} : (tensor<32xi8>, tensor<1xf32>) -> tensor<4x16xf32>
// CHECK-NEXT: train.matmul %{{.+}}, %[[H1]] :
// CHECK-NOT: train.dequantize {{.*}} -> tensor<16x8xf32>
// CHECK: return

// The copies survive CSE as generics told apart by ftc.instance.
// LINALG-LABEL: func.func private @ftc_step_impl
// LINALG-COUNT-3: ftc.instance =

// BF16: {init = #train.kaiming_uniform, kind = "param", logical_type = tensor<16x8xf32>, name = "fc.weight", storage = "bf16", trainable = false, type = tensor<16x8xbf16>}
// BF16: train.dequantize %{{.+}} instance {{[0-9]+}} : (tensor<16x8xbf16>) -> tensor<16x8xf32>
module {
  train.param @emb.weight : tensor<10x8xf32> init #train.normal
  train.param @fc.weight : tensor<16x8xf32> init #train.kaiming_uniform
  train.param @head.weight : tensor<4x16xf32> init #train.kaiming_uniform
  func.func @loss(%ids: tensor<2xi32> {train.input = "ids"}, %y: tensor<2xi32> {train.input = "y"}) -> tensor<f32> attributes {train.loss} {
    %e = train.get_param @emb.weight : tensor<10x8xf32>
    %x = train.embedding %e, %ids : (tensor<10x8xf32>, tensor<2xi32>) -> tensor<2x8xf32>
    %w = train.get_param @fc.weight : tensor<16x8xf32>
    %h = train.linear %x, %w : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
    %r = train.relu %h : tensor<2x16xf32>
    %hw = train.get_param @head.weight : tensor<4x16xf32>
    %z = train.linear %r, %hw : (tensor<2x16xf32>, tensor<4x16xf32>) -> tensor<2x4xf32>
    %l = train.cross_entropy %z, %y : (tensor<2x4xf32>, tensor<2xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
