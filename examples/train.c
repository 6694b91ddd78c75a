/* Trains any compiled step.so through ftc.h alone: random inputs (floats in
 * [0, 1), integers in their valid range), a few steps, a checkpoint.
 *
 *   ftc examples/mlp.mlir -o step.so
 *   cc -I lib/Runtime examples/train.c ./step.so -o train -Wl,-rpath,'$ORIGIN'
 *   ./train 20 ckpt.safetensors
 */
#include "ftc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t rng = 88172645463325252ull;
static double next_uniform(void) { /* xorshift64, enough for inputs */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1.0p-53;
}

static void *random_input(const ftc_tensor_info *info) {
  void *data = malloc((size_t)info->numel * (size_t)ftc_dtype_size(info->dtype));
  for (int64_t i = 0; data && i < info->numel; ++i) {
    double u = next_uniform();
    switch (info->dtype) {
    case FTC_F32: ((float *)data)[i] = (float)u; break;
    case FTC_F64: ((double *)data)[i] = u; break;
    case FTC_I32: ((int32_t *)data)[i] = (int32_t)(u * (double)info->high); break;
    case FTC_I64: ((int64_t *)data)[i] = (int64_t)(u * (double)info->high); break;
    default: free(data); return NULL; /* 16-bit inputs: not in this example */
    }
  }
  return data;
}

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 10;
  const char *checkpoint = argc > 2 ? argv[2] : NULL;

  printf("%d parameters, %d inputs\n", ftc_num_params(), ftc_num_inputs());
  for (int32_t i = 0; i < ftc_num_params(); ++i) {
    ftc_tensor_info info;
    ftc_param_info(i, &info);
    printf("  %s: %lld values%s\n", info.name, (long long)info.numel,
           info.trainable ? "" : " (frozen)");
  }

  int32_t n = ftc_num_inputs();
  const void **inputs = calloc((size_t)n, sizeof(void *));
  for (int32_t i = 0; i < n; ++i) {
    ftc_tensor_info info;
    if (ftc_input_info(i, &info) != FTC_OK || !(inputs[i] = random_input(&info))) {
      fprintf(stderr, "cannot make input %d\n", i);
      return 1;
    }
  }

  ftc_state *state;
  if (ftc_create(42, &state) != FTC_OK) {
    fprintf(stderr, "ftc_create: %s\n", ftc_last_error());
    return 1;
  }
  /* A learning-rate schedule, set before each step (no recompilation):
   * 3 warmup steps, then a cosine decay to a tenth of the compiled rate,
   * as ftc-train --lr-schedule=cosine --warmup-steps=3 --min-lr=... does. */
  const double pi = 3.14159265358979323846;
  const double peak = ftc_get_lr(state), floor = peak / 10;
  const int warmup = 3;
  for (int s = 0; s < steps; ++s) {
    double lr = s < warmup ? peak * (s + 1) / (warmup + 1)
                           : floor + (peak - floor) * 0.5 *
                                         (1 + cos(pi * (s - warmup) / (steps - warmup)));
    double loss;
    if (ftc_set_lr(state, lr) != FTC_OK || ftc_step(state, inputs, &loss) != FTC_OK) {
      fprintf(stderr, "ftc_step: %s\n", ftc_last_error());
      return 1;
    }
    printf("step %d loss %.6f lr %.3e\n", s + 1, loss, lr);
  }
  if (checkpoint && ftc_save(state, checkpoint) != FTC_OK) {
    fprintf(stderr, "ftc_save: %s\n", ftc_last_error());
    return 1;
  }
  ftc_destroy(state);
  for (int32_t i = 0; i < n; ++i)
    free((void *)inputs[i]);
  free(inputs);
  return 0;
}
