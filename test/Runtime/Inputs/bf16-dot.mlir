// y = x W^T and the gradients of sum(y * g) for x and W, under
// --precision=bf16: the forward product (A = x row by row), dx = g W (B =
// W read by rows of k) and dW = g^T x (A = g read by columns). N = 81 is no
// multiple of the register tile (a column split off), the k of dx is odd
// (zero-padded to pairs) and the rows of dW are (one split off, widened).
module {
  train.param @x : tensor<96x256xf32> init #train.normal<std = 1.0>
  train.param @w : tensor<81x256xf32> init #train.normal<std = 0.05>
  func.func @loss(%g: tensor<96x81xf32> {train.input = "g"})
      -> (tensor<f32>, tensor<96x81xf32> {train.output = "y"}) attributes {train.loss} {
    %x = train.get_param @x : tensor<96x256xf32>
    %w = train.get_param @w : tensor<81x256xf32>
    %y = train.linear %x, %w : (tensor<96x256xf32>, tensor<81x256xf32>) -> tensor<96x81xf32>
    %p = train.mul %y, %g : (tensor<96x81xf32>, tensor<96x81xf32>) -> tensor<96x81xf32>
    %s = train.sum %p dims [0, 1] : tensor<96x81xf32> -> tensor<f32>
    return %s, %y : tensor<f32>, tensor<96x81xf32>
  }
}
