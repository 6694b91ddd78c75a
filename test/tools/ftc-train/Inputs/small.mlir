// A small classifier for the tool tests: 8 features, 3 classes, batch 4.
module {
  train.param @w : tensor<3x8xf32> init #train.kaiming_uniform
  train.param @b : tensor<3xf32> init #train.linear_bias<fan_in = 8>
  func.func @loss(%x: tensor<4x8xf32> {train.input = "x"}, %y: tensor<4xi32> {train.input = "y"})
      -> tensor<f32> attributes {train.loss} {
    %w = train.get_param @w : tensor<3x8xf32>
    %b = train.get_param @b : tensor<3xf32>
    %z = train.linear %x, %w, %b : (tensor<4x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<4x3xf32>
    %l = train.cross_entropy %z, %y : (tensor<4x3xf32>, tensor<4xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}
