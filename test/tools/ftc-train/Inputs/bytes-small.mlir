// bytes-small: GPT-2 built like torch_step.py's, byte-level (vocab 256, context 16,
// width 32, 1 layers, 2 heads, batch 4). Written by examples/gpt2.py model() for the text tests.
module attributes {train.optimizer = #train.adamw<lr = 0.003, weight_decay = 0.01>} {
  train.param @transformer.wte.weight : tensor<256x32xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.wpe.weight : tensor<16x32xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.h.0.ln_1.weight : tensor<32xf32> init #train.ones
  train.param @transformer.h.0.ln_1.bias : tensor<32xf32> init #train.zeros
  train.param @transformer.h.0.attn.c_attn.weight : tensor<96x32xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.h.0.attn.c_attn.bias : tensor<96xf32> init #train.zeros
  train.param @transformer.h.0.attn.c_proj.weight : tensor<32x32xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.h.0.attn.c_proj.bias : tensor<32xf32> init #train.zeros
  train.param @transformer.h.0.ln_2.weight : tensor<32xf32> init #train.ones
  train.param @transformer.h.0.ln_2.bias : tensor<32xf32> init #train.zeros
  train.param @transformer.h.0.mlp.c_fc.weight : tensor<128x32xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.h.0.mlp.c_fc.bias : tensor<128xf32> init #train.zeros
  train.param @transformer.h.0.mlp.c_proj.weight : tensor<32x128xf32> init #train.normal<mean = 0.0, std = 0.02>
  train.param @transformer.h.0.mlp.c_proj.bias : tensor<32xf32> init #train.zeros
  train.param @transformer.ln_f.weight : tensor<32xf32> init #train.ones
  train.param @transformer.ln_f.bias : tensor<32xf32> init #train.zeros

  // One pre-LN transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
  func.func private @block(%x: tensor<4x16x32xf32>, %ln1_w: tensor<32xf32>, %ln1_b: tensor<32xf32>, %attn_w: tensor<96x32xf32>, %attn_b: tensor<96xf32>, %proj_w: tensor<32x32xf32>, %proj_b: tensor<32xf32>, %ln2_w: tensor<32xf32>, %ln2_b: tensor<32xf32>, %fc_w: tensor<128x32xf32>, %fc_b: tensor<128xf32>, %fc_proj_w: tensor<32x128xf32>, %fc_proj_b: tensor<32xf32>) -> tensor<4x16x32xf32> {
    %h = train.layer_norm %x, %ln1_w, %ln1_b : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    %qkv = train.linear %h, %attn_w, %attn_b : (tensor<4x16x32xf32>, tensor<96x32xf32>, tensor<96xf32>) -> tensor<4x16x96xf32>
    %q0 = train.slice %qkv dim 2 start 0 : tensor<4x16x96xf32> -> tensor<4x16x32xf32>
    %q1 = train.reshape %q0 : tensor<4x16x32xf32> -> tensor<4x16x2x16xf32>
    %q = train.transpose %q1 [0, 2, 1, 3] : tensor<4x16x2x16xf32> -> tensor<4x2x16x16xf32>
    %k0 = train.slice %qkv dim 2 start 32 : tensor<4x16x96xf32> -> tensor<4x16x32xf32>
    %k1 = train.reshape %k0 : tensor<4x16x32xf32> -> tensor<4x16x2x16xf32>
    %k = train.transpose %k1 [0, 2, 1, 3] : tensor<4x16x2x16xf32> -> tensor<4x2x16x16xf32>
    %v0 = train.slice %qkv dim 2 start 64 : tensor<4x16x96xf32> -> tensor<4x16x32xf32>
    %v1 = train.reshape %v0 : tensor<4x16x32xf32> -> tensor<4x16x2x16xf32>
    %v = train.transpose %v1 [0, 2, 1, 3] : tensor<4x16x2x16xf32> -> tensor<4x2x16x16xf32>
    %s0 = train.matmul %q, %k transpose_rhs : (tensor<4x2x16x16xf32>, tensor<4x2x16x16xf32>) -> tensor<4x2x16x16xf32>
    %scale = train.fill 4.0 : tensor<f32>
    %s1 = train.div %s0, %scale : (tensor<4x2x16x16xf32>, tensor<f32>) -> tensor<4x2x16x16xf32>
    %s2 = train.causal_mask %s1 : tensor<4x2x16x16xf32>
    %att = train.softmax %s2 : tensor<4x2x16x16xf32>
    %y0 = train.matmul %att, %v : (tensor<4x2x16x16xf32>, tensor<4x2x16x16xf32>) -> tensor<4x2x16x16xf32>
    %y1 = train.transpose %y0 [0, 2, 1, 3] : tensor<4x2x16x16xf32> -> tensor<4x16x2x16xf32>
    %y = train.reshape %y1 : tensor<4x16x2x16xf32> -> tensor<4x16x32xf32>
    %a = train.linear %y, %proj_w, %proj_b : (tensor<4x16x32xf32>, tensor<32x32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    %x1 = train.add %x, %a : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
    %h2 = train.layer_norm %x1, %ln2_w, %ln2_b : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    %f = train.linear %h2, %fc_w, %fc_b : (tensor<4x16x32xf32>, tensor<128x32xf32>, tensor<128xf32>) -> tensor<4x16x128xf32>
    %g = train.gelu %f tanh : tensor<4x16x128xf32>
    %m = train.linear %g, %fc_proj_w, %fc_proj_b : (tensor<4x16x128xf32>, tensor<32x128xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    %x2 = train.add %x1, %m : (tensor<4x16x32xf32>, tensor<4x16x32xf32>) -> tensor<4x16x32xf32>
    return %x2 : tensor<4x16x32xf32>
  }

  func.func @loss(%tokens: tensor<4x16xi32> {train.input = "tokens"},
                  %targets: tensor<4x16xi32> {train.input = "targets"})
      -> (tensor<f32>, tensor<4x16x256xf32> {train.output = "logits"})
      attributes {train.loss} {
    %wte = train.get_param @transformer.wte.weight : tensor<256x32xf32>
    %wpe = train.get_param @transformer.wpe.weight : tensor<16x32xf32>
    %tok = train.embedding %wte, %tokens : (tensor<256x32xf32>, tensor<4x16xi32>) -> tensor<4x16x32xf32>
    %x0 = train.add %tok, %wpe : (tensor<4x16x32xf32>, tensor<16x32xf32>) -> tensor<4x16x32xf32>
    %l0_0 = train.get_param @transformer.h.0.ln_1.weight : tensor<32xf32>
    %l0_1 = train.get_param @transformer.h.0.ln_1.bias : tensor<32xf32>
    %l0_2 = train.get_param @transformer.h.0.attn.c_attn.weight : tensor<96x32xf32>
    %l0_3 = train.get_param @transformer.h.0.attn.c_attn.bias : tensor<96xf32>
    %l0_4 = train.get_param @transformer.h.0.attn.c_proj.weight : tensor<32x32xf32>
    %l0_5 = train.get_param @transformer.h.0.attn.c_proj.bias : tensor<32xf32>
    %l0_6 = train.get_param @transformer.h.0.ln_2.weight : tensor<32xf32>
    %l0_7 = train.get_param @transformer.h.0.ln_2.bias : tensor<32xf32>
    %l0_8 = train.get_param @transformer.h.0.mlp.c_fc.weight : tensor<128x32xf32>
    %l0_9 = train.get_param @transformer.h.0.mlp.c_fc.bias : tensor<128xf32>
    %l0_10 = train.get_param @transformer.h.0.mlp.c_proj.weight : tensor<32x128xf32>
    %l0_11 = train.get_param @transformer.h.0.mlp.c_proj.bias : tensor<32xf32>
    %x1 = func.call @block(%x0, %l0_0, %l0_1, %l0_2, %l0_3, %l0_4, %l0_5, %l0_6, %l0_7, %l0_8, %l0_9, %l0_10, %l0_11) : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<96x32xf32>, tensor<96xf32>, tensor<32x32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<32xf32>, tensor<128x32xf32>, tensor<128xf32>, tensor<32x128xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    %lnf_w = train.get_param @transformer.ln_f.weight : tensor<32xf32>
    %lnf_b = train.get_param @transformer.ln_f.bias : tensor<32xf32>
    %xf = train.layer_norm %x1, %lnf_w, %lnf_b : (tensor<4x16x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<4x16x32xf32>
    // The LM head is the token embedding, transposed (tied weights).
    %logits = train.linear %xf, %wte : (tensor<4x16x32xf32>, tensor<256x32xf32>) -> tensor<4x16x256xf32>
    %loss = train.cross_entropy %logits, %targets : (tensor<4x16x256xf32>, tensor<4x16xi32>) -> tensor<f32>
    return %loss, %logits : tensor<f32>, tensor<4x16x256xf32>
  }
}
