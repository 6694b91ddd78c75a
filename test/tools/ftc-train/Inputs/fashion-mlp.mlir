// A small MLP of Fashion-MNIST for the --classes, --examples and transfer
// tests: 784 pixels, fc1 and fc2 of 32 with ReLU, a head fc3 of NCLS
// classes, batch 64; named like examples/mlp.mlir. NCLS is replaced by the
// test (sed).
module attributes {train.optimizer = #train.adamw<lr = 1.0e-02>} {
  train.param @fc1.weight : tensor<32x784xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<32xf32> init #train.linear_bias<fan_in = 784>
  train.param @fc2.weight : tensor<32x32xf32> init #train.kaiming_uniform
  train.param @fc2.bias : tensor<32xf32> init #train.linear_bias<fan_in = 32>
  train.param @fc3.weight : tensor<NCLSx32xf32> init #train.kaiming_uniform
  train.param @fc3.bias : tensor<NCLSxf32> init #train.linear_bias<fan_in = 32>
  func.func @loss(%image: tensor<64x784xf32> {train.input = "image"},
                  %label: tensor<64xi32> {train.input = "label"})
      -> (tensor<f32>, tensor<64xNCLSxf32> {train.output = "logits"}) attributes {train.loss} {
    %w1 = train.get_param @fc1.weight : tensor<32x784xf32>
    %b1 = train.get_param @fc1.bias : tensor<32xf32>
    %h1 = train.linear %image, %w1, %b1 : (tensor<64x784xf32>, tensor<32x784xf32>, tensor<32xf32>) -> tensor<64x32xf32>
    %a1 = train.relu %h1 : tensor<64x32xf32>
    %w2 = train.get_param @fc2.weight : tensor<32x32xf32>
    %b2 = train.get_param @fc2.bias : tensor<32xf32>
    %h2 = train.linear %a1, %w2, %b2 : (tensor<64x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<64x32xf32>
    %a2 = train.relu %h2 : tensor<64x32xf32>
    %w3 = train.get_param @fc3.weight : tensor<NCLSx32xf32>
    %b3 = train.get_param @fc3.bias : tensor<NCLSxf32>
    %z = train.linear %a2, %w3, %b3 : (tensor<64x32xf32>, tensor<NCLSx32xf32>, tensor<NCLSxf32>) -> tensor<64xNCLSxf32>
    %l = train.cross_entropy %z, %label : (tensor<64xNCLSxf32>, tensor<64xi32>) -> tensor<f32>
    return %l, %z : tensor<f32>, tensor<64xNCLSxf32>
  }
}
