// examples/mlp.mlir with GELU (exact, erf) for ReLU: a differentiable
// model for the parity tests that compare parameters after several AdamW
// steps. With ReLU such a comparison depends on luck: when a ReLU input
// lies within float32 rounding of 0 (measured: 1.5e-8 in lora_parity.py's
// DoRA run, 2.2e-8 in accumulate_parity.py's, on some machines), one
// implementation's rounding zeroes that example's gradient for the unit
// and another's does not, and the trajectories part by far more than the
// numerical contract's bounds, whichever implementation is the better.
module attributes {train.optimizer = #train.adamw} {
  train.param @fc1.weight : tensor<1024x784xf32> init #train.kaiming_uniform
  train.param @fc1.bias : tensor<1024xf32> init #train.linear_bias<fan_in = 784>
  train.param @fc2.weight : tensor<1024x1024xf32> init #train.kaiming_uniform
  train.param @fc2.bias : tensor<1024xf32> init #train.linear_bias<fan_in = 1024>
  train.param @fc3.weight : tensor<10x1024xf32> init #train.kaiming_uniform
  train.param @fc3.bias : tensor<10xf32> init #train.linear_bias<fan_in = 1024>

  func.func @loss(%image: tensor<128x784xf32> {train.input = "image"},
                  %label: tensor<128xi32> {train.input = "label"})
      -> (tensor<f32>, tensor<128x10xf32> {train.output = "logits"})
      attributes {train.loss} {
    %w1 = train.get_param @fc1.weight : tensor<1024x784xf32>
    %b1 = train.get_param @fc1.bias : tensor<1024xf32>
    %h1 = train.linear %image, %w1, %b1
        : (tensor<128x784xf32>, tensor<1024x784xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
    %a1 = train.gelu %h1 : tensor<128x1024xf32>

    %w2 = train.get_param @fc2.weight : tensor<1024x1024xf32>
    %b2 = train.get_param @fc2.bias : tensor<1024xf32>
    %h2 = train.linear %a1, %w2, %b2
        : (tensor<128x1024xf32>, tensor<1024x1024xf32>, tensor<1024xf32>) -> tensor<128x1024xf32>
    %a2 = train.gelu %h2 : tensor<128x1024xf32>

    %w3 = train.get_param @fc3.weight : tensor<10x1024xf32>
    %b3 = train.get_param @fc3.bias : tensor<10xf32>
    %logits = train.linear %a2, %w3, %b3
        : (tensor<128x1024xf32>, tensor<10x1024xf32>, tensor<10xf32>) -> tensor<128x10xf32>

    %loss = train.cross_entropy %logits, %label
        : (tensor<128x10xf32>, tensor<128xi32>) -> tensor<f32>
    return %loss, %logits : tensor<f32>, tensor<128x10xf32>
  }
}
