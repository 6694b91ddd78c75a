// Module naeis where one ends with another's ("fc" and "proj.fc"): PEFT's
// target_modules list ["fc"] would select both.
module {
  train.param @fc.weight : tensor<8x8xf32> init #train.kaiming_uniform
  train.param @proj.fc.weight : tensor<3x8xf32> init #train.kaiming_uniform
  func.func @loss(%x: tensor<4x8xf32> {train.input = "x"}, %y: tensor<4xi32> {train.input = "y"})
      -> tensor<f32> attributes {train.loss} {
    %w1 = train.get_param @fc.weight : tensor<8x8xf32>
    %h = train.linear %x, %w1 : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %a = train.relu %h : tensor<4x8xf32>
    %w2 = train.get_param @proj.fc.weight : tensor<3x8xf32>
    %z = train.linear %a, %w2 : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
    %l = train.cross_entropy %z, %y : (tensor<4x3xf32>, tensor<4xi32>) -> tensor<f32>
    return %l : tensor<f32>
  }
}f