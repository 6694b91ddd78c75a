//===- Model.h - the compiled model's layout and a state's buffers -*- C++ -*-===//
//
// Shared by the files of the runtime: the layout the compiler fixed (parsed
// once from `ftc_model_json`), the state that owns a buffer per entry, and
// the last-error channel of the C ABI.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_RUNTIME_MODEL_H
#define FTC_RUNTIME_MODEL_H

#include "ftc.h"

#include "Comm.h"
#include "Dtype.h"
#include "Random.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct ftc_state;

namespace ftc::runtime {

/// One buffer of the layout the compiler fixed (see ftc-bind-abi).
struct Buffer {
  std::string kind, name;
  ftc_dtype dtype;
  std::vector<int64_t> shape;
  int64_t numel = 1;
  bool trainable = false;
  int64_t high = 0;
  std::string of; // slots: the parameter they belong to
  Init init;
  /// A parameter stored in less than its f32 type (QLoRA's base): "nf4"
  /// (these bytes are the codes; `scales` the absmax buffer) or "bf16".
  std::string storage;
  std::vector<int64_t> logicalShape;
  int64_t logicalNumel = 0;
  std::vector<int> stored; // nf4: [absmax]; nf4-dq: [absmax codes, nested
                           // absmax, map, offset] (bitsandbytes' names)
  std::string scalesOf;    // such a buffer: the parameter it stores
  size_t bytes() const { return static_cast<size_t>(numel) * dtypeBytes(dtype); }
  /// Its room in a state's arena: at least one byte, up to the next 64-byte
  /// boundary, where the next buffer starts (the padding stays zero).
  size_t arenaBytes() const { return (std::max<size_t>(bytes(), 1) + 63) / 64 * 64; }
};

/// LoRA's settings as the model description carries them (PEFT's
/// LoraConfig names), when the step was compiled with adapters.
struct Lora {
  int64_t r = 0;
  double alpha = 0.0, scaling = 0.0, dropout = 0.0;
  bool rslora = false, dora = false;
  std::string base = "fp32";   // storage of the frozen base weights
  std::string targets;         // ftc's regex, searched in parameter names
  std::string trainable;       // other parameters kept trainable (a regex)
  std::vector<std::string> modules; // adapted modules M (M.weight is W)
};

struct Model {
  std::vector<Buffer> buffers;
  std::vector<int> params, inputs, slots, outputs; // indices into buffers
  std::vector<int> states; // the step counter, the loss scale, ... (train.state)
  std::vector<int> gradOf;                // param order -> grad buffer or -1
  /// The gradient buffers in the order the compiled backward (the
  /// accumulate entry) finishes them: the description's `grad_ready`.
  std::vector<int> gradReady;
  /// Parameter buffer -> its setting `optim.owned.<param>` (whether apply
  /// updates it: a sharded optimizer's), or -1.
  std::vector<int> ownedOf;
  int lr = -1;        // the setting `optim.lr`: the next step's learning rate
  int gradNorm = -1;  // the report `optim.grad_norm` (a step compiled with clipping)
  int gradScale = -1; // the setting `optim.grad_scale`: apply's gradient factor
  int step = -1;      // the state `optim.step`: updates taken
  int lossScale = -1; // the state `grad_scaler.scale`, with dynamic loss scaling
  int loss = -1;
  int rng = -1; // [seed, step, training] for dropout masks
  /// --check-numerics: the state `numerics.first` (not among `states`: it
  /// is written by every call and never saved) and what each check watches.
  int numerics = -1;
  std::vector<std::string> checks;
  std::unique_ptr<Lora> lora; // null without adapters

  /// The buffer index of parameter `name`, or -1.
  int findParam(const std::string &name) const;
  /// Whether parameter `name` is a LoRA adapter of an adapted module
  /// (`M.lora_A.weight`, `M.lora_B.weight`, `M.lora_magnitude_vector`).
  bool isAdapter(const std::string &name) const;
  /// Whether parameter buffer `index` has optimizer state.
  bool hasSlots(int index) const;
};

/// Parsed once, on first use.
const Model &model();

/// The suffixes of an adapted module M's adapter parameters, in the order
/// they are listed (DoRA's magnitude only where the model has it).
extern const char *const adapterSuffixes[3];

/// A parameter's value as its (f32) type says, whatever its storage: nf4
/// dequantized, bf16 widened.
std::vector<float> logicalValues(const Model &m, const ftc_state &state, int index);
/// Stores f32 `values` (the logical tensor) into parameter `index`: nf4
/// quantized (with its scales), bf16 rounded.
void storeLogical(const Model &m, ftc_state &state, int index, const float *values);
/// The logical shape of parameter buffer `b` (its own without a storage).
inline const std::vector<int64_t> &logicalShape(const Buffer &b) {
  return b.storage.empty() ? b.shape : b.logicalShape;
}
/// Parameters initialized from others (row_norm: DoRA's magnitude) among
/// those `which` selects, from their sources' current values.
void deriveInitial(const Model &m, ftc_state &state, const std::function<bool(int)> &which);

/// The number of updates taken (the step counter the compiled step
/// advances), and setting it.
int64_t stepCount(const Model &m, const ftc_state &state);
void setStepCount(const Model &m, ftc_state &state, int64_t steps);
/// Every state buffer (the step counter, the loss scale and its growth
/// tracker) back to its value in a new state.
void resetStates(const Model &m, ftc_state &state);

/// Sets the calling thread's last error and returns `status`.
ftc_status fail(ftc_status status, std::string message);

namespace cuda {
struct Device;
}
/// A state's buffers on the GPU (a step.so compiled for CUDA), or null.
struct DeviceRef {
  cuda::Device *ptr = nullptr;
  DeviceRef() = default;
  DeviceRef(const DeviceRef &) = delete;
  DeviceRef &operator=(const DeviceRef &) = delete;
  ~DeviceRef();
};

/// ftc_state's first word.
inline constexpr uint64_t kStateMagic = 0x6674632d73746174; // "ftc-stat"

/// FTC_OK for a state this step.so made; otherwise FTC_ERROR_ARGUMENT with
/// the last error saying why (null, made by another step.so, or not a
/// state at all, as far as its first words tell).
ftc_status checkState(const ftc_state *state);

} // namespace ftc::runtime

/// Every buffer the entry points see, by layout index. Inputs are borrowed
/// for the duration of a call; everything else lives in one arena, mapped
/// (and faulted in) by ftc_create: its size is the plan's, `ftc --report`'s
/// total, and nothing else is allocated for the state afterwards.
struct ftc_state {
  /// kStateMagic and the model description of the step.so that made the
  /// state, first so that any runtime version can read them: a state
  /// passed to another step.so is an error there, not a crash.
  uint64_t magic = ftc::runtime::kStateMagic;
  const char *model = nullptr;
  struct Arena {
    void *base = nullptr;
    size_t bytes = 0;
    Arena() = default;
    Arena(const Arena &) = delete;
    Arena &operator=(const Arena &) = delete;
    ~Arena();
  };
  Arena arena;
  /// The host's copy of every buffer (for a CUDA step.so, the mirror of
  /// the device's: see Cuda.h).
  std::vector<void *> pointers;
  ftc::runtime::DeviceRef device; // declared after the arena: freed first
  ftc::runtime::CommRef comm;     // data parallelism (ftc_set_comm), or null
  uint64_t seed = 0;
  int64_t skipped = 0; // steps whose update a non-finite gradient skipped
  int64_t microBatches = 0; // ftc_accumulate_grad calls since the last apply
  bool training = true;
  /// What the last successful load or save of files did (JSON), for
  /// ftc_last_report; saving does not change the state otherwise.
  mutable std::string report;
};

#endif // FTC_RUNTIME_MODEL_H
