// A model whose loss is NaN from the first step: log of a negative parameter.
module {
  train.param @w : tensor<4xf32> init #train.constant<-1.0>
  func.func @loss(%t: tensor<4xf32> {train.input = "t"}) -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<4xf32>
    %l0 = train.log %w : tensor<4xf32>
    %l = train.mse_loss %l0, %t : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
