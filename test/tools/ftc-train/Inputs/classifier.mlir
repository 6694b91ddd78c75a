// A two-layer classifier for the checkpoint and LoRA tests: 16 features,
// hidden layers fc1 and fc2 of 32, a head of NCLS classes, batch 8. NCLS is
// replaced by the test (sed) to give heads of different sizes.
module attributes {train.optimizer = #train.adamw<lr = 1.0e-02>} {
  train.param @fc1.weight : tensor<32x16xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<32xf32> init #train.linear_bias<fan_in = 16>
  train.param @fc2.weight : tensor<32x32xf32> init #train.kaiming_uniform
  train.param @fc2.bias : tensor<32xf32> init #train.linear_bias<fan_in = 32>
  train.param @head.weight : tensor<NCLSx32xf32> init #train.kaiming_uniform
  train.param @head.bias : tensor<NCLSxf32> init #train.linear_bias<fan_in = 32>
  func.func @loss(%x: tensor<8x16xf32> {train.input = "x"}, %y: tensor<8xi32> {train.input = "y"})
      -> (tensor<f32>, tensor<8xNCLSxf32> {train.output = "logits"}) attributes {train.loss} {
    %w1 = train.get_param @fc1.weight : tensor<32x16xf32>
    %b1 = train.get_param @fc1.bias : tensor<32xf32>
    %h1 = train.linear %x, %w1, %b1 : (tensor<8x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<8x32xf32>
    %a1 = train.relu %h1 : tensor<8x32xf32>
    %w2 = train.get_param @fc2.weight : tensor<32x32xf32>
    %b2 = train.get_param @fc2.bias : tensor<32xf32>
    %h2 = train.linear %a1, %w2, %b2 : (tensor<8x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
    %a2 = train.relu %h2 : tensor<8x32xf32>
    %w3 = train.get_param @head.weight : tensor<NCLSx32xf32>
    %b3 = train.get_param @head.bias : tensor<NCLSxf32>
    %z = train.linear %a2, %w3, %b3 : (tensor<8x32xf32>, tensor<NCLSx32xf32>, tensor<NCLSxf32>) -> tensor<8xNCLSxf32>
    %l = train.cross_entropy %z, %y : (tensor<8xNCLSxf32>, tensor<8xi32>) -> tensor<f32>
    return %l, %z : tensor<f32>, tensor<8xNCLSxf32>
  }
}
