//===- CheckpointFuzzer.cpp - libFuzzer target: loading checkpoints -------===//
//
// Any bytes as a checkpoint for a small model (tools/ftc-train/Inputs/
// small.mlir's layout: two parameters, AdamW's state, the step counter):
// ftc_load and ftc_load_partial must load it or fail with a status, and a
// failed load must leave the state as it was. Then a step (a stand-in for
// the compiled one) on a batch made of the same bytes: its labels are
// checked against the model's 3 classes.
//
//===----------------------------------------------------------------------===//

#include "ftc.h"

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

// The layout the runtime reads (ftc-bind-abi's description of small.mlir),
// in place of a compiled step's.
extern "C" const char ftc_model_json[] =
    R"({"buffers":[)"
    R"({"dtype":"f32","init":{"high":0.35,"kind":"uniform","low":-0.35},"kind":"param","name":"w","shape":[3,8],"trainable":true},)"
    R"({"dtype":"f32","kind":"slot","name":"w.exp_avg","of":"w","shape":[3,8]},)"
    R"({"dtype":"f32","kind":"slot","name":"w.exp_avg_sq","of":"w","shape":[3,8]},)"
    R"({"dtype":"f32","init":{"high":0.35,"kind":"uniform","low":-0.35},"kind":"param","name":"b","shape":[3],"trainable":true},)"
    R"({"dtype":"f32","kind":"slot","name":"b.exp_avg","of":"b","shape":[3]},)"
    R"({"dtype":"f32","kind":"slot","name":"b.exp_avg_sq","of":"b","shape":[3]},)"
    R"({"dtype":"i64","init":{"kind":"constant","value":0},"kind":"state","name":"optim.step","shape":[]},)"
    R"({"dtype":"i64","kind":"rng","name":"rng","shape":[3]},)"
    R"({"dtype":"f32","kind":"input","name":"x","shape":[4,8]},)"
    R"({"dtype":"i32","high":3,"kind":"input","name":"y","shape":[4]},)"
    R"({"dtype":"f32","kind":"loss","name":"loss","shape":[]},)"
    R"({"dtype":"f32","kind":"grad","name":"w","shape":[3,8]},)"
    R"({"dtype":"f32","kind":"grad","name":"b","shape":[3]},)"
    R"({"dtype":"i8","kind":"workspace","name":"workspace","shape":[64]}],)"
    R"("entries":{},"format":1,"optimizer":"#train.adamw<lr = 0.001>"})";

/// A stand-in for the compiled step (buffers by layout index, as above):
/// the loss is the mean of x, the step counter advances.
extern "C" void ftc_entry_step(void **buffers) {
  const float *x = static_cast<const float *>(buffers[8]);
  float sum = 0.0f;
  for (int i = 0; i < 32; ++i)
    sum += x[i];
  *static_cast<float *>(buffers[10]) = sum / 32.0f;
  ++*static_cast<int64_t *>(buffers[6]);
}

namespace {
/// Every buffer a load may change, as bytes.
std::vector<char> snapshot(ftc_state *state) {
  std::vector<char> bytes;
  for (int32_t i = 0; i < ftc_num_params(); ++i) {
    ftc_tensor_info info;
    ftc_param_info(i, &info);
    const char *p = static_cast<const char *>(ftc_param_data(state, i));
    bytes.insert(bytes.end(), p, p + info.numel * ftc_dtype_size(info.dtype));
  }
  int64_t steps = ftc_step_count(state);
  bytes.insert(bytes.end(), reinterpret_cast<char *>(&steps),
               reinterpret_cast<char *>(&steps) + sizeof(steps));
  return bytes;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static ftc_state *state = [] {
    ftc_state *s = nullptr;
    if (ftc_create(1, &s) != FTC_OK)
      __builtin_trap();
    return s;
  }();
  // The bytes as a file, in memory.
  int fd = memfd_create("checkpoint", 0);
  if (fd < 0 || write(fd, data, size) != static_cast<ssize_t>(size))
    __builtin_trap();
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::vector<char> before = snapshot(state);
  if (ftc_load(state, path.c_str()) != FTC_OK && snapshot(state) != before)
    __builtin_trap(); // a failed load changed the state
  before = snapshot(state);
  if (ftc_load_partial(state, path.c_str()) != FTC_OK && snapshot(state) != before)
    __builtin_trap();
  (void)ftc_last_report(state);
  close(fd);

  // A step on a batch from the same bytes: labels outside [0, 3) must be
  // refused, changing nothing; others step.
  float x[32] = {};
  int32_t y[4] = {};
  std::memcpy(x, data, std::min(size, sizeof(x)));
  if (size > sizeof(x))
    std::memcpy(y, data + sizeof(x), std::min(size - sizeof(x), sizeof(y)));
  bool valid = true;
  for (int32_t label : y)
    valid = valid && label >= 0 && label < 3;
  const void *inputs[] = {x, y};
  int64_t before_steps = ftc_step_count(state);
  double loss = 0.0;
  ftc_status status = ftc_step(state, inputs, &loss);
  if (valid != (status == FTC_OK) ||
      ftc_step_count(state) != before_steps + (valid ? 1 : 0))
    __builtin_trap();
  return 0;
}
