// tanh and GELU (tanh form) of x, as outputs, and their derivatives as the
// gradients of p and q (zero at init): d/dp sum tanh(x + p) = tanh'(x).
module {
  train.param @p : tensor<65536xf32> init #train.normal<mean = 0.0, std = 0.0>
  train.param @q : tensor<65536xf32> init #train.normal<mean = 0.0, std = 0.0>
  func.func @loss(%x: tensor<65536xf32> {train.input = "x"})
      -> (tensor<f32>, tensor<65536xf32> {train.output = "tanh"}, tensor<65536xf32> {train.output = "gelu"})
      attributes {train.loss} {
    %p = train.get_param @p : tensor<65536xf32>
    %q = train.get_param @q : tensor<65536xf32>
    %xp = train.add %x, %p : (tensor<65536xf32>, tensor<65536xf32>) -> tensor<65536xf32>
    %xq = train.add %x, %q : (tensor<65536xf32>, tensor<65536xf32>) -> tensor<65536xf32>
    %t = train.tanh %xp : tensor<65536xf32>
    %g = train.gelu %xq tanh : tensor<65536xf32>
    %st = train.sum %t dims [0] : tensor<65536xf32> -> tensor<f32>
    %sg = train.sum %g dims [0] : tensor<65536xf32> -> tensor<f32>
    %l = train.add %st, %sg : (tensor<f32>, tensor<f32>) -> tensor<f32>
    return %l, %t, %g : tensor<f32>, tensor<65536xf32>, tensor<65536xf32>
  }
}
