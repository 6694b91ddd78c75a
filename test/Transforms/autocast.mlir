// RUN: ftc-opt %s --ftc-autocast='precision=bf16' | FileCheck %s
// RUN: ftc-opt %s --ftc-autocast='precision=fp16' | FileCheck %s --check-prefix=FP16
// RUN: ftc-opt %s --ftc-autocast | FileCheck %s --check-prefix=NONE
// RUN: ftc-opt %s --ftc-autocast='precision=bf16' --ftc-autodiff | FileCheck %s --check-prefix=GRAD
// RUN: not ftc-opt %s --ftc-autocast='precision=int8' 2>&1 | FileCheck %s --check-prefix=BAD

// Products in bf16 (summed in f32 by the lowering), layer norm, softmax,
// the loss in f32, relu following its operand, the residual add promoted to
// the wider f32; every parameter read once at the start and cast once, the
// input x cast once for its two uses of one type.
// CHECK: module attributes {train.precision = "bf16"}
// CHECK-LABEL: func.func @loss
// CHECK-NEXT: %[[XB:.+]] = train.cast %[[X:[^ ]+]] : tensor<8x16xf32> to tensor<8x16xbf16>
// CHECK-NEXT: %[[W:.+]] = train.get_param @w
// CHECK-NEXT: %[[WB:.+]] = train.cast %[[W]] : tensor<16x16xf32> to tensor<16x16xbf16>
// CHECK-NEXT: %[[G:.+]] = train.get_param @ln.weight
// CHECK-NEXT: %[[B:.+]] = train.get_param @ln.bias
// CHECK-NEXT: %[[V:.+]] = train.get_param @v
// CHECK-NEXT: %[[VB:.+]] = train.cast %[[V]] : tensor<4x16xf32> to tensor<4x16xbf16>
// CHECK-NEXT: %[[H:.+]] = train.linear %[[XB]], %[[WB]] : (tensor<8x16xbf16>, tensor<16x16xbf16>) -> tensor<8x16xbf16>
// CHECK-NEXT: %[[R:.+]] = train.relu %[[H]] : tensor<8x16xbf16>
// CHECK-NEXT: %[[RF:.+]] = train.cast %[[R]] : tensor<8x16xbf16> to tensor<8x16xf32>
// CHECK-NEXT: %[[S:.+]] = train.add %[[X]], %[[RF]] : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT: %[[N:.+]] = train.layer_norm %[[S]], %[[G]], %[[B]] : {{.*}}-> tensor<8x16xf32>
// CHECK-NEXT: %[[NB:.+]] = train.cast %[[N]] : tensor<8x16xf32> to tensor<8x16xbf16>
// CHECK-NEXT: %[[Z:.+]] = train.linear %[[NB]], %[[VB]] : (tensor<8x16xbf16>, tensor<4x16xbf16>) -> tensor<8x4xbf16>
// CHECK-NEXT: %[[ZF:.+]] = train.cast %[[Z]] : tensor<8x4xbf16> to tensor<8x4xf32>
// CHECK-NEXT: %[[L:.+]] = train.cross_entropy %[[ZF]], %{{.+}} : (tensor<8x4xf32>, tensor<8xi32>) -> tensor<f32>
// The second read of @w is the first one, cast once; x's bf16 copy too.
// CHECK-NEXT: %[[Q:.+]] = train.linear %[[XB]], %[[WB]] : (tensor<8x16xbf16>, tensor<16x16xbf16>) -> tensor<8x16xbf16>
// The outputs keep their declared f32 type.
// CHECK-NEXT: %[[QF:.+]] = train.cast %[[Q]] : tensor<8x16xbf16> to tensor<8x16xf32>
// CHECK-NEXT: return %[[L]], %[[ZF]], %[[QF]] : tensor<f32>, tensor<8x4xf32>, tensor<8x16xf32>

// FP16: train.linear {{.*}} -> tensor<8x16xf16>
// NONE-NOT: train.precision
// NONE-NOT: train.cast

// The backward follows: the master weights' gradients are f32 (the cast's
// rule casts them back), the products' gradients bf16.
// GRAD-LABEL: func.func @loss_grad
// GRAD: train.matmul {{.*}} -> tensor<16x16xbf16>
// GRAD: return {{.*}} : tensor<f32>, tensor<16x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<4x16xf32>

// BAD: --precision: expected fp32, bf16 or fp16, got 'int8'
module {
  train.param @w : tensor<16x16xf32> init #train.kaiming_uniform
  train.param @ln.weight : tensor<16xf32> init #train.ones
  train.param @ln.bias : tensor<16xf32> init #train.zeros
  train.param @v : tensor<4x16xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<8x16xf32> {train.input = "x"}, %y: tensor<8xi32> {train.input = "y"})
      -> (tensor<f32>, tensor<8x4xf32> {train.output = "logits"}, tensor<8x16xf32> {train.output = "q"}) attributes {train.loss} {
    %w = train.get_param @w : tensor<16x16xf32>
    %h = train.linear %x, %w : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    %r = train.relu %h : tensor<8x16xf32>
    %s = train.add %x, %r : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    %g = train.get_param @ln.weight : tensor<16xf32>
    %b = train.get_param @ln.bias : tensor<16xf32>
    %n = train.layer_norm %s, %g, %b : (tensor<8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    %v = train.get_param @v : tensor<4x16xf32>
    %z = train.linear %n, %v : (tensor<8x16xf32>, tensor<4x16xf32>) -> tensor<8x4xf32>
    %l = train.cross_entropy %z, %y : (tensor<8x4xf32>, tensor<8xi32>) -> tensor<f32>
    %w2 = train.get_param @w : tensor<16x16xf32>
    %q = train.linear %x, %w2 : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    return %l, %z, %q : tensor<f32>, tensor<8x4xf32>, tensor<8x16xf32>
  }
}
