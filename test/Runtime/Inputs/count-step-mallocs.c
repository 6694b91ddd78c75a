/* Runs steps of a step.so (linked in) on zero batches and prints how many
 * heap allocations the steps made, as counted by count-malloc.c (preloaded).
 * The first step is not counted: it starts OpenMP's threads. */
#include "ftc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 3;
  long (*mallocs)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "ftc_test_mallocs");
  if (!mallocs) {
    fprintf(stderr, "preload count-malloc.so\n");
    return 1;
  }
  ftc_state *state;
  if (ftc_create(0, &state) != FTC_OK)
    return 1;
  const void *inputs[16];
  int n = ftc_num_inputs();
  for (int i = 0; i < n && i < 16; ++i) {
    ftc_tensor_info info;
    ftc_input_info(i, &info);
    inputs[i] = calloc((size_t)info.numel, (size_t)ftc_dtype_size(info.dtype));
  }
  double loss;
  if (ftc_step(state, inputs, &loss) != FTC_OK)
    return 1;
  long before = mallocs();
  for (int s = 0; s < steps; ++s)
    if (ftc_step(state, inputs, &loss) != FTC_OK)
      return 1;
  printf("heap allocations in %d steps: %ld\n", steps, mallocs() - before);
  ftc_destroy(state);
  return 0;
}
