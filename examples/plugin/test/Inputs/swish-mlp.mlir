// A Fashion-MNIST MLP with a swish from the plugin's dialect: 784-256-10.
module attributes {train.optimizer = #train.adamw} {
  train.param @fc1.weight : tensor<256x784xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<256xf32> init #train.linear_bias<fan_in = 784>
  train.param @fc2.weight : tensor<10x256xf32> init #train.kaiming_uniform
  train.param @fc2.bias : tensor<10xf32> init #train.linear_bias<fan_in = 256>

  func.func @loss(%image: tensor<128x784xf32> {train.input = "image"},
                  %label: tensor<128xi32> {train.input = "label"})
      -> (tensor<f32>, tensor<128x10xf32> {train.output = "logits"})
      attributes {train.loss} {
    %w1 = train.get_param @fc1.weight : tensor<256x784xf32>
    %b1 = train.get_param @fc1.bias : tensor<256xf32>
    %h = train.linear %image, %w1, %b1
        : (tensor<128x784xf32>, tensor<256x784xf32>, tensor<256xf32>) -> tensor<128x256xf32>
    %a = example.swish %h : tensor<128x256xf32>
    %w2 = train.get_param @fc2.weight : tensor<10x256xf32>
    %b2 = train.get_param @fc2.bias : tensor<10xf32>
    %logits = train.linear %a, %w2, %b2
        : (tensor<128x256xf32>, tensor<10x256xf32>, tensor<10xf32>) -> tensor<128x10xf32>
    %loss = train.cross_entropy %logits, %label
        : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<f32>
    return %loss, %logits : tensor<f32>, tensor<128x10xf32>
  }
}
