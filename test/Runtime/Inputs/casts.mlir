// Casts between float widths, each rounding to nearest even: f32 -> f16 ->
// bf16 and f32 -> bf16 -> f16 (`y`, `z`), f64 -> bf16 and f64 -> f16 (`u`,
// `v`), widened back to f32 to show the bits.
module {
  train.param @unused : tensor<1xf32> init #train.zeros
  func.func @loss(%x: tensor<4096xf32> {train.input = "x"}, %d: tensor<4096xf64> {train.input = "d"})
      -> (tensor<f32>, tensor<4096xf32> {train.output = "y"}, tensor<4096xf32> {train.output = "z"},
          tensor<4096xf32> {train.output = "u"}, tensor<4096xf32> {train.output = "v"})
      attributes {train.loss} {
    %h = train.cast %x : tensor<4096xf32> to tensor<4096xf16>
    %b = train.cast %h : tensor<4096xf16> to tensor<4096xbf16>
    %y = train.cast %b : tensor<4096xbf16> to tensor<4096xf32>
    %g = train.cast %x : tensor<4096xf32> to tensor<4096xbf16>
    %k = train.cast %g : tensor<4096xbf16> to tensor<4096xf16>
    %z = train.cast %k : tensor<4096xf16> to tensor<4096xf32>
    %db = train.cast %d : tensor<4096xf64> to tensor<4096xbf16>
    %u = train.cast %db : tensor<4096xbf16> to tensor<4096xf32>
    %dh = train.cast %d : tensor<4096xf64> to tensor<4096xf16>
    %v = train.cast %dh : tensor<4096xf16> to tensor<4096xf32>
    %s = train.sum %y dims [0] : tensor<4096xf32> -> tensor<f32>
    return %s, %y, %z, %u, %v : tensor<f32>, tensor<4096xf32>, tensor<4096xf32>, tensor<4096xf32>, tensor<4096xf32>
  }
}
