// RUN: ftc-opt %s --split-input-file --ftc-gpu-attention-kernels --verify-diagnostics -o /dev/null

func.func @tensors(%q: tensor<32x16xbf16>, %o: tensor<32x16xbf16>, %lse: tensor<32xf32>) -> tensor<32x16xbf16> {
  // expected-error @below {{runs as a kernel only on buffers: bufferize first}}
  %r:2 = train.fused_attention %q, %q, %q outs(%o, %lse) : tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32xf32> -> tensor<32x16xbf16>, tensor<32xf32>
  return %r#0 : tensor<32x16xbf16>
}

// -----

func.func @mixed(%q: memref<32x16xbf16>, %o: tensor<32x16xbf16>, %lse: memref<32xf32>) {
  // expected-error @below {{expects ranked tensors or memrefs, all of one kind}}
  train.fused_attention %q, %q, %q outs(%o, %lse) : memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>, tensor<32x16xbf16>, memref<32xf32>
  return
}

// -----

func.func @f32(%q: memref<32x16xf32>, %lse: memref<32xf32>) {
  // expected-error @below {{expects bf16 or f16 operands of one type}}
  train.fused_attention %q, %q, %q outs(%q, %lse) : memref<32x16xf32>, memref<32x16xf32>, memref<32x16xf32>, memref<32x16xf32>, memref<32xf32>
  return
}

// -----

func.func @rows(%q: memref<32x16xbf16>, %lse: memref<16xf32>) {
  // expected-error @below {{expects f32 rows of shape [..., T]}}
  train.fused_attention %q, %q, %q outs(%q, %lse) : memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>, memref<16xf32>
  return
}

// -----

func.func @results(%q: tensor<32x16xbf16>, %lse: tensor<32xf32>) {
  // expected-error @below {{on tensors has one result per destination (2)}}
  %r = train.fused_attention %q, %q, %q outs(%q, %lse) : tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32xf32> -> tensor<32x16xbf16>
  return
}

// -----

func.func @odd_rows(%q: memref<40x16xbf16>, %lse: memref<40xf32>) {
  // expected-error @below {{expects static [..., T, D] operands, T and D multiples of 16, D at most 128}}
  train.fused_attention %q, %q, %q outs(%q, %lse) : memref<40x16xbf16>, memref<40x16xbf16>, memref<40x16xbf16>, memref<40x16xbf16>, memref<40xf32>
  return
}

// -----

func.func @depth(%q: memref<32x256xbf16>, %lse: memref<32xf32>) {
  // expected-error @below {{expects static [..., T, D] operands, T and D multiples of 16, D at most 128}}
  train.fused_attention %q, %q, %q outs(%q, %lse) : memref<32x256xbf16>, memref<32x256xbf16>, memref<32x256xbf16>, memref<32x256xbf16>, memref<32xf32>
  return
}

// -----

func.func @buffer_results(%q: memref<32x16xbf16>, %lse: memref<32xf32>) {
  // expected-error @below {{on buffers has no results}}
  %r = train.fused_attention %q, %q, %q outs(%q, %lse) : memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>, memref<32xf32> -> tensor<32x16xbf16>
  return
}

// -----

func.func @result_type(%q: tensor<32x16xbf16>, %lse: tensor<32xf32>) {
  // expected-error @below {{result 1 has the type of its destination}}
  %r:2 = train.fused_attention %q, %q, %q outs(%q, %lse) : tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32x16xbf16>, tensor<32xf32> -> tensor<32x16xbf16>, tensor<16xf32>
  return
}

// -----

func.func @grad_shapes(%q: memref<32x16xbf16>, %k: memref<16x16xbf16>, %lse: memref<32xf32>) {
  // expected-error @below {{expects q, k, v and their gradients of one shape}}
  train.fused_attention_grad %q, %q, %k, %q, %lse, %lse outs(%q, %q, %q) : memref<32x16xbf16>, memref<32x16xbf16>, memref<16x16xbf16>, memref<32x16xbf16>, memref<32xf32>, memref<32xf32>, memref<32x16xbf16>, memref<32x16xbf16>, memref<32x16xbf16>
  return
}
