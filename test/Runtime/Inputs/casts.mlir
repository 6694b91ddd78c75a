// f32 -> f16 -> bf16 -> f16 -> f32, each cast rounding to nearest even,
// as PyTorch's Tensor.to does: the output `y` shows the bits.
module {
  train.param @unused : tensor<1xf32> init #train.zeros
  func.func @loss(%x: tensor<4096xf32> {train.input = "x"})
      -> (tensor<f32>, tensor<4096xf32> {train.output = "y"}, tensor<4096xf32> {train.output = "z"}) attributes {train.loss} {
    %h = train.cast %x : tensor<4096xf32> to tensor<4096xf16>
    %b = train.cast %h : tensor<4096xf16> to tensor<4096xbf16>
    %y = train.cast %b : tensor<4096xbf16> to tensor<4096xf32>
    %g = train.cast %x : tensor<4096xf32> to tensor<4096xbf16>
    %k = train.cast %g : tensor<4096xbf16> to tensor<4096xf16>
    %z = train.cast %k : tensor<4096xf16> to tensor<4096xf32>
    %s = train.sum %y dims [0] : tensor<4096xf32> -> tensor<f32>
    return %s, %y, %z : tensor<f32>, tensor<4096xf32>, tensor<4096xf32>
  }
}
