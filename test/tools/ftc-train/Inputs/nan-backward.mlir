// A model whose forward is finite and whose backward is not: sqrt at 0 has
// the derivative 1 / (2 sqrt 0) = inf.
module {
  train.param @w : tensor<4xf32> init #train.zeros
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %s = train.sqrt %w : tensor<4xf32>
    %l = train.mse_loss %s, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
