// RUN: ftc-opt %s --ftc-lora='rank=2 alpha=4 targets=fc variant=dora' | FileCheck %s
// RUN: ftc-opt %s --ftc-lora='rank=2 alpha=4 targets=fc variant=dora dropout=0.1' | FileCheck %s --check-prefix=DROP
// RUN: ftc-opt %s --ftc-lora='rank=2 alpha=4 targets=fc variant=dora' --ftc-autodiff | FileCheck %s --check-prefix=GRAD

// DoRA: PEFT's magnitude m [out], starting at the norms of W's rows, after
// the adapters.
// CHECK: train.param frozen @fc.weight : tensor<16x8xf32>
// CHECK-NEXT: train.param @fc.lora_A.weight : tensor<2x8xf32> init #train.kaiming_uniform
// CHECK-NEXT: train.param @fc.lora_B.weight : tensor<16x2xf32> init #train.zeros
// CHECK-NEXT: train.param @fc.lora_magnitude_vector : tensor<16xf32> init #train.row_norm<@fc.weight>

// y = (W x + b) + (g - 1) W x + g s B A x, g = m / stop_gradient(||W + s B A||)
// CHECK: %[[W:.+]] = train.get_param @fc.weight
// CHECK: %[[BIAS:.+]] = train.get_param @fc.bias
// CHECK: %[[A:.+]] = train.get_param @fc.lora_A.weight
// CHECK: %[[B:.+]] = train.get_param @fc.lora_B.weight
// CHECK: %[[AX:.+]] = train.linear %[[X:[^,]+]], %[[A]]
// CHECK: %[[BAX:.+]] = train.linear %[[AX]], %[[B]]
// CHECK: %[[S:.+]] = train.constant dense<2.000000e+00>
// CHECK: %[[LORA:.+]] = train.mul %[[BAX]], %[[S]]
// CHECK: %[[WX:.+]] = train.linear %[[X]], %[[W]] : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
// CHECK: %[[RESULT:.+]] = train.add %[[WX]], %[[BIAS]]
// CHECK: %[[BA:.+]] = train.matmul %[[B]], %[[A]] : (tensor<16x2xf32>, tensor<2x8xf32>) -> tensor<16x8xf32>
// CHECK: %[[SBA:.+]] = train.mul %[[BA]], %{{.+}}
// CHECK: %[[MERGED:.+]] = train.add %[[W]], %[[SBA]]
// CHECK: %[[SQ:.+]] = train.mul %[[MERGED]], %[[MERGED]]
// CHECK: %[[SUM:.+]] = train.sum %[[SQ]] dims [1] : tensor<16x8xf32> -> tensor<16xf32>
// CHECK: %[[NORM:.+]] = train.sqrt %[[SUM]]
// CHECK: %[[HELD:.+]] = train.stop_gradient %[[NORM]] : tensor<16xf32>
// CHECK: %[[M:.+]] = train.get_param @fc.lora_magnitude_vector
// CHECK: %[[G:.+]] = train.div %[[M]], %[[HELD]]
// CHECK: %[[G1:.+]] = train.sub %[[G]], %{{.+}}
// CHECK: %[[T:.+]] = train.mul %[[WX]], %[[G1]]
// CHECK: %[[U:.+]] = train.add %[[RESULT]], %[[T]]
// CHECK: %[[V:.+]] = train.mul %[[LORA]], %[[G]]
// CHECK: %[[Y:.+]] = train.add %[[U]], %[[V]]
// CHECK: train.sum %[[Y]]

// With dropout the base product is taken again on the dropped input.
// DROP: %[[D:.+]] = train.dropout %[[X:[^ ]+]] p 1.000000e-01
// DROP: train.linear %[[D]], %{{.+}} : (tensor<2x8xf32>, tensor<2x8xf32>)
// DROP: train.linear %[[X]], %[[W:[^ ]+]] : (tensor<2x8xf32>, tensor<16x8xf32>)
// DROP: train.linear %[[D]], %[[W]] : (tensor<2x8xf32>, tensor<16x8xf32>)

// The held norm gets no gradient: after the forward's stop_gradient, the
// backward has the three products of the adapters' gradients and none of
// W's shape (no dW: W is frozen; no d(B A): the norm is held).
// GRAD-LABEL: func.func @loss_grad
// GRAD-SAME: train.grad_params = [@fc.lora_A.weight, @fc.lora_B.weight, @fc.lora_magnitude_vector]
// GRAD: train.stop_gradient
// GRAD-NOT: -> tensor<16x8xf32>
// GRAD-COUNT-3: train.matmul
// GRAD-NOT: -> tensor<16x8xf32>
// GRAD-NOT: train.matmul
// GRAD: return
module {
  train.param @fc.weight : tensor<16x8xf32> init #train.kaiming_uniform
  train.param @fc.bias : tensor<16xf32> init #train.zeros
  func.func @loss(%x: tensor<2x8xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @fc.weight : tensor<16x8xf32>
    %b = train.get_param @fc.bias : tensor<16xf32>
    %h = train.linear %x, %w, %b : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
    %s = train.sum %h dims [0, 1] : tensor<2x16xf32> -> tensor<f32>
    return %s : tensor<f32>
  }
}
