// RUN: ftc-opt %s --ftc-cpu | FileCheck %s

// Each entry point loads its buffers from the shared array at the layout
// indices and calls the internal function; the model description is JSON.
// CHECK: llvm.func internal @ftc_eval_impl
// CHECK-LABEL: llvm.func @ftc_entry_eval(
// CHECK-SAME: %[[ARGS:.+]]: !llvm.ptr)
// CHECK: %[[A0:.+]] = llvm.getelementptr %[[ARGS]][7] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.load %[[A0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A1:.+]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: llvm.call @ftc_eval_impl(
// CHECK-LABEL: llvm.func @ftc_entry_grad
// CHECK-LABEL: llvm.func @ftc_entry_step
// CHECK-LABEL: llvm.func @ftc_entry_accumulate
// CHECK-LABEL: llvm.func @ftc_entry_apply
// CHECK: llvm.mlir.global external constant @ftc_model_json
// CHECK-SAME: \22kind\22:\22param\22,\22name\22:\22w\22
// CHECK-SAME: \22kind\22:\22setting\22,\22name\22:\22optim.lr\22
// CHECK-SAME: \22kind\22:\22setting\22,\22name\22:\22optim.owned.w\22
// CHECK-SAME: \22kind\22:\22workspace\22,\22name\22:\22workspace\22
// CHECK-SAME: \22entries\22:{\22accumulate\22:[7,{{.+}}],\22apply\22:[{{.+}}],\22eval\22:[7,0,8,10]
module {
  train.param @w : tensor<4xf32> init #train.normal
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l = train.mse_loss %w, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
