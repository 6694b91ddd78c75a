// The benchmark MLP of mlp.mlir with a 5-class head: 784-1024-1024-5, for
// pretraining on Fashion-MNIST's classes 0-4 (ftc-train --classes 0-4).
// Every parameter is named as in mlp.mlir, so the 10-class model loads its
// fc1 and fc2 with `ftc-train --init CKPT --init-partial` and keeps a fresh
// fc3 (examples/transfer.sh). The label input's range (`high`, 5) comes
// from the head's width.
module attributes {train.optimizer = #train.adamw} {
  train.param @fc1.weight : tensor<1024x784xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<1024xf32> init #train.linear_bias<fan_in = 784>
  train.param @fc2.weight : tensor<1024x1024xf32> init #train.kaiming_uniform
  train.param @fc2.bias : tensor<1024xf32> init #train.linear_bias<fan_in = 1024>
  train.param @fc3.weight : tensor<5x1024xf32> init #train.kaiming_uniform
  train.param @fc3.bias : tensor<5xf32> init #train.linear_bias<fan_in = 1024>

  func.func @loss(%image: tensor<128x784xf32> {train.input = "image"},
                  %label: tensor<128xi32> {train.input = "label"})
      -> (tensor<f32>, tensor<128x5xf32> {train.output = "logits"})
      attributes {train.loss} {
    %w1 = train.get_param @fc1.weight : tensor<1024x784xf32>
    %b1 = train.get_param @fc1.bias : tensor<1024xf32>
    %h1 = train.linear %image, %w1, %b1
        : (tensor<128x784xf32>, tensor<1024x784xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
    %a1 = train.relu %h1 : tensor<128x1024xf32>

    %w2 = train.get_param @fc2.weight : tensor<1024x1024xf32>
    %b2 = train.get_param @fc2.bias : tensor<1024xf32>
    %h2 = train.linear %a1, %w2, %b2
        : (tensor<128x1024xf32>, tensor<1024x1024xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
    %a2 = train.relu %h2 : tensor<128x1024xf32>

    %w3 = train.get_param @fc3.weight : tensor<5x1024xf32>
    %b3 = train.get_param @fc3.bias : tensor<5xf32>
    %logits = train.linear %a2, %w3, %b3
        : (tensor<128x1024xf32>, tensor<5x1024xf32>, tensor<5xf32>) -> tensor<128x5xf32>

    %loss = train.cross_entropy %logits, %label
        : (tensor<128x5xf32>, tensor<128xi32>) -> tensor<f32>
    return %loss, %logits : tensor<f32>, tensor<128x5xf32>
  }
}
