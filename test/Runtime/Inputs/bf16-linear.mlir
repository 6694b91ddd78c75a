// y = x W^T in bf16 (as autocast computes a linear: 16-bit operands, the
// products summed in f32, the sum rounded once), for K = 512; f16 the same.
module {
  train.param @w : tensor<96x512xf32> init #train.normal<std = 0.05>
  func.func @loss(%x: tensor<64x512xf32> {train.input = "x"})
      -> (tensor<f32>, tensor<64x96xf32> {train.output = "y"}, tensor<64x96xf32> {train.output = "h"})
      attributes {train.loss} {
    %w = train.get_param @w : tensor<96x512xf32>
    %xb = train.cast %x : tensor<64x512xf32> to tensor<64x512xbf16>
    %wb = train.cast %w : tensor<96x512xf32> to tensor<96x512xbf16>
    %yb = train.linear %xb, %wb : (tensor<64x512xbf16>, tensor<96x512xbf16>) -> tensor<64x96xbf16>
    %y = train.cast %yb : tensor<64x96xbf16> to tensor<64x96xf32>
    %xh = train.cast %x : tensor<64x512xf32> to tensor<64x512xf16>
    %wh = train.cast %w : tensor<96x512xf32> to tensor<96x512xf16>
    %yh = train.linear %xh, %wh : (tensor<64x512xf16>, tensor<96x512xf16>) -> tensor<64x96xf16>
    %h = train.cast %yh : tensor<64x96xf16> to tensor<64x96xf32>
    %s = train.sum %y dims [0, 1] : tensor<64x96xf32> -> tensor<f32>
    return %s, %y, %h : tensor<f32>, tensor<64x96xf32>, tensor<64x96xf32>
  }
}
