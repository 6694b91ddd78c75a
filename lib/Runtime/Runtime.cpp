//===- Runtime.cpp - the runtime linked into every step.so ----------------===//
//
// Owns the buffers of a training step (parameters, optimizer slots, the
// step counter, the loss and gradients), draws initial parameters from a
// seed and calls the compiled entry points. The model's layout comes from
// `ftc_model_json`, which the compiler emits beside the entry points.
// Checkpoints are in Checkpoint.cpp, LoRA adapter files and merging in
// Adapters.cpp.
//
//===----------------------------------------------------------------------===//

#include "ftc.h"

#include "Comm.h"
#include "Cuda.h"
#include "Model.h"
#include "Quantize.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

// LLVM's OpenMP runtime (libomp), which runs the parallel blocks.
extern "C" void omp_set_num_threads(int);

extern "C" {
extern const char ftc_model_json[];
void ftc_entry_step(void **buffers) __attribute__((weak));
void ftc_entry_eval(void **buffers) __attribute__((weak));
void ftc_entry_grad(void **buffers) __attribute__((weak));
void ftc_entry_accumulate(void **buffers) __attribute__((weak));
void ftc_entry_apply(void **buffers) __attribute__((weak));
}

namespace ftc::runtime {

namespace {
thread_local std::string lastError;

ftc_dtype parseDtype(const std::string &name) {
  if (name == "f32") return FTC_F32;
  if (name == "f64") return FTC_F64;
  if (name == "f16") return FTC_F16;
  if (name == "bf16") return FTC_BF16;
  if (name == "i32") return FTC_I32;
  if (name == "i64") return FTC_I64;
  if (name == "i8") return FTC_I8;
  if (name == "u8") return FTC_U8;
  throw std::runtime_error("unknown dtype '" + name + "' in the model description");
}

/// The description's "lora" object (see ftc-bind-abi), null without one.
std::unique_ptr<Lora> parseLora(const nlohmann::json &doc) {
  if (!doc.contains("lora"))
    return nullptr;
  const auto &l = doc.at("lora");
  auto lora = std::make_unique<Lora>();
  lora->r = l.at("r").get<int64_t>();
  lora->alpha = l.at("lora_alpha").get<double>();
  lora->scaling = l.at("scaling").get<double>();
  lora->dropout = l.value("lora_dropout", 0.0);
  lora->rslora = l.value("use_rslora", false);
  lora->dora = l.value("use_dora", false);
  lora->base = l.value("base", std::string("fp32"));
  lora->targets = l.value("target_modules", std::string());
  lora->trainable = l.value("trainable", std::string());
  lora->modules = l.at("modules").get<std::vector<std::string>>();
  return lora;
}
} // namespace

ftc_status fail(ftc_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

ftc_status checkState(const ftc_state *state) {
  if (!state)
    return fail(FTC_ERROR_ARGUMENT, "state is null");
  if (state->magic != kStateMagic)
    return fail(FTC_ERROR_ARGUMENT, "state is not an ftc state (destroyed, or never made "
                                    "by ftc_create)");
  if (state->model != ftc_model_json)
    return fail(FTC_ERROR_ARGUMENT,
                "state was made by another step.so (ftc_create of a different library): "
                "each library's functions take its own states only");
  return FTC_OK;
}

const char *const adapterSuffixes[3] = {".lora_A.weight", ".lora_B.weight",
                                        ".lora_magnitude_vector"};

int Model::findParam(const std::string &name) const {
  for (int p : params)
    if (buffers[p].name == name)
      return p;
  return -1;
}

bool Model::isAdapter(const std::string &name) const {
  if (!lora)
    return false;
  for (const std::string &module : lora->modules)
    for (const char *suffix : adapterSuffixes)
      if (name == module + suffix)
        return true;
  return false;
}

bool Model::hasSlots(int index) const {
  for (int s : slots)
    if (buffers[s].of == buffers[index].name)
      return true;
  return false;
}

/// The double-quantized scales of an nf4-dq parameter's buffers.
static NestedScales nestedScales(const Buffer &b, const ftc_state &state) {
  return {static_cast<uint8_t *>(state.pointers[b.stored.at(0)]),
          static_cast<float *>(state.pointers[b.stored.at(1)]),
          static_cast<float *>(state.pointers[b.stored.at(2)]),
          static_cast<float *>(state.pointers[b.stored.at(3)])};
}

std::vector<float> logicalValues(const Model &m, const ftc_state &state, int index) {
  const Buffer &b = m.buffers[index];
  const void *data = state.pointers[index];
  if (b.storage == "nf4") {
    std::vector<float> values(static_cast<size_t>(b.logicalNumel));
    dequantizeNf4(static_cast<const uint8_t *>(data),
                  static_cast<const float *>(state.pointers[b.stored.at(0)]), b.logicalNumel,
                  values.data());
    return values;
  }
  if (b.storage == "nf4-dq") {
    std::vector<float> values(static_cast<size_t>(b.logicalNumel));
    dequantizeNf4Double(static_cast<const uint8_t *>(data), nestedScales(b, state),
                        b.logicalNumel, values.data());
    return values;
  }
  std::vector<float> values(static_cast<size_t>(b.numel));
  for (int64_t i = 0; i < b.numel; ++i)
    values[i] = static_cast<float>(loadElement(b.dtype, data, i));
  return values;
}

void storeLogical(const Model &m, ftc_state &state, int index, const float *values) {
  const Buffer &b = m.buffers[index];
  if (b.storage == "nf4") {
    quantizeNf4(values, b.logicalNumel, static_cast<uint8_t *>(state.pointers[index]),
                static_cast<float *>(state.pointers[b.stored.at(0)]));
    return;
  }
  if (b.storage == "nf4-dq") {
    quantizeNf4Double(values, b.logicalNumel, static_cast<uint8_t *>(state.pointers[index]),
                      nestedScales(b, state));
    return;
  }
  for (int64_t i = 0; i < b.numel; ++i)
    storeElement(b.dtype, state.pointers[index], i, values[i]);
}

int64_t stepCount(const Model &m, const ftc_state &state) {
  if (m.step < 0 || cuda::hostRead(state, m.step) != FTC_OK)
    return 0;
  return *static_cast<const int64_t *>(state.pointers[m.step]);
}

void setStepCount(const Model &m, ftc_state &state, int64_t steps) {
  if (m.step >= 0) {
    *static_cast<int64_t *>(state.pointers[m.step]) = steps;
    cuda::hostWrote(state, m.step);
  }
}

void resetStates(const Model &m, ftc_state &state) {
  for (int s : m.states) {
    const Buffer &b = m.buffers[s];
    storeElement(b.dtype, state.pointers[s], 0, b.init.a);
    cuda::hostWrote(state, s);
  }
  state.skipped = 0;
}

void deriveInitial(const Model &m, ftc_state &state, const std::function<bool(int)> &which) {
  for (int p : m.params) {
    const Buffer &b = m.buffers[p];
    if (b.init.kind != "row_norm" || !which(p))
      continue;
    int q = m.findParam(b.init.of);
    if (q < 0 || logicalShape(m.buffers[q]).empty() ||
        logicalShape(m.buffers[q])[0] != b.numel)
      continue;
    // W's rows, whatever its storage (QLoRA with DoRA: PEFT takes the norms
    // of the dequantized weight).
    std::vector<float> w = logicalValues(m, state, q);
    int64_t rows = b.numel;
    fillRowNorms(b.dtype, state.pointers[p], FTC_F32, w.data(), rows,
                 static_cast<int64_t>(w.size()) / rows);
  }
}

const Model &model() {
  static const Model parsed = [] {
    Model m;
    auto doc = nlohmann::json::parse(ftc_model_json);
    for (const auto &b : doc.at("buffers")) {
      Buffer buf;
      buf.kind = b.at("kind").get<std::string>();
      buf.name = b.at("name").get<std::string>();
      buf.dtype = parseDtype(b.at("dtype").get<std::string>());
      buf.shape = b.at("shape").get<std::vector<int64_t>>();
      for (int64_t d : buf.shape)
        buf.numel *= d;
      buf.trainable = b.value("trainable", false);
      buf.high = b.value("high", int64_t(0));
      buf.of = b.value("of", std::string());
      if (b.contains("init")) {
        const auto &init = b.at("init");
        buf.init.kind = init.at("kind").get<std::string>();
        buf.init.a = init.value("value", init.value("mean", init.value("low", 0.0)));
        buf.init.b = init.value("std", init.value("high", 0.0));
        buf.init.of = init.value("of", std::string());
      }
      buf.scalesOf = b.value("scales_of", std::string());
      if (b.contains("storage")) {
        const auto &storage = b.at("storage");
        buf.storage = storage.at("kind").get<std::string>();
        buf.logicalShape = storage.at("shape").get<std::vector<int64_t>>();
        buf.logicalNumel = 1;
        for (int64_t d : buf.logicalShape)
          buf.logicalNumel *= d;
      }
      m.buffers.push_back(std::move(buf));
    }
    // nf4 codes are followed by their scales (`<name>.absmax`, ...).
    for (size_t i = 0; i < m.buffers.size(); ++i)
      if (!m.buffers[i].storage.empty())
        for (size_t j = 0; j < m.buffers.size(); ++j)
          if (m.buffers[j].scalesOf == m.buffers[i].name)
            m.buffers[i].stored.push_back(static_cast<int>(j));
    for (int i = 0; i < static_cast<int>(m.buffers.size()); ++i) {
      const std::string &kind = m.buffers[i].kind;
      if (kind == "param") m.params.push_back(i);
      else if (kind == "slot") m.slots.push_back(i);
      else if (kind == "input") m.inputs.push_back(i);
      else if (kind == "state") m.states.push_back(i);
      else if (kind == "loss") m.loss = i;
      else if (kind == "rng") m.rng = i;
      else if (kind == "output") m.outputs.push_back(i);
      else if (kind == "setting" && m.buffers[i].name == "optim.lr") m.lr = i;
      else if (kind == "report" && m.buffers[i].name == "optim.grad_norm") m.gradNorm = i;
      else if (kind == "setting" && m.buffers[i].name == "optim.grad_scale") m.gradScale = i;
    }
    for (int p : m.params) {
      int grad = -1;
      for (int i = 0; i < static_cast<int>(m.buffers.size()); ++i)
        if (m.buffers[i].kind == "grad" && m.buffers[i].name == m.buffers[p].name)
          grad = i;
      m.gradOf.push_back(grad);
    }
    // --check-numerics' result: read after each call, never saved.
    for (auto it = m.states.begin(); it != m.states.end(); ++it)
      if (m.buffers[*it].name == "numerics.first") {
        m.numerics = *it;
        m.states.erase(it);
        break;
      }
    if (doc.contains("numerics"))
      m.checks = doc.at("numerics").get<std::vector<std::string>>();
    for (int s : m.states) {
      if (m.buffers[s].name == "optim.step")
        m.step = s;
      else if (m.buffers[s].name == "grad_scaler.scale")
        m.lossScale = s;
    }
    m.lora = parseLora(doc);
    if (doc.contains("grad_ready"))
      m.gradReady = doc.at("grad_ready").get<std::vector<int>>();
    m.ownedOf.assign(m.buffers.size(), -1);
    for (int i = 0; i < static_cast<int>(m.buffers.size()); ++i)
      if (m.buffers[i].kind == "setting" && m.buffers[i].name.rfind("optim.owned.", 0) == 0)
        if (int p = m.findParam(m.buffers[i].name.substr(12)); p >= 0)
          m.ownedOf[p] = i;
    return m;
  }();
  return parsed;
}

namespace {

/// Every buffer but the inputs at a 64-byte aligned offset of one arena:
/// fresh zero pages from the kernel, faulted in now (MAP_POPULATE), so that
/// the process grows by the plan when the state is made and not later (on
/// the CPU). For data parallelism (see Comm.h) the trained parameters come
/// first, then the optimizer state, each in the parameters' order (a
/// sharded optimizer's parts are runs of them), then the gradients in the
/// order the backward finishes them (summed in runs, in place); the other
/// buffers after, in the description's order.
std::vector<size_t> mapArena(const Model &m, ftc_state &state) {
  std::vector<size_t> offsets(m.buffers.size(), 0);
  std::vector<bool> placed(m.buffers.size(), false);
  size_t end = 0;
  auto place = [&](size_t i) {
    offsets[i] = end;
    placed[i] = true;
    end += m.buffers[i].arenaBytes();
  };
  for (int p : m.params)
    if (m.buffers[p].trainable)
      place(static_cast<size_t>(p));
  for (int s : m.slots)
    place(static_cast<size_t>(s));
  for (int g : comm::gradOrder(m))
    place(static_cast<size_t>(g));
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (m.buffers[i].kind != "input" && !placed[i])
      place(i);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t bytes = std::max<size_t>((end + page - 1) / page * page, page);
  // A CUDA step.so's arena is the host's mirror of the device's: pages the
  // host never touches (the workspace above all) are never made.
  int populate = cuda::compiledForCuda() ? 0 : MAP_POPULATE;
  void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
  if (base == MAP_FAILED)
    throw std::bad_alloc();
  state.arena.base = base;
  state.arena.bytes = bytes;
  for (size_t i = 0; i < m.buffers.size(); ++i)
    if (m.buffers[i].kind != "input")
      state.pointers[i] = static_cast<char *>(base) + offsets[i];
  return offsets;
}

} // namespace
} // namespace ftc::runtime

using namespace ftc::runtime;

ftc_state::Arena::~Arena() {
  if (base)
    munmap(base, bytes);
}

namespace {

ftc_status fillInfo(int32_t index, const std::vector<int> &which,
                    ftc_tensor_info *info, const char *what) {
  if (!info)
    return fail(FTC_ERROR_ARGUMENT, "info is null");
  if (index < 0 || index >= static_cast<int32_t>(which.size()))
    return fail(FTC_ERROR_ARGUMENT, std::string(what) + " index " +
                                        std::to_string(index) + " is out of range");
  const Buffer &b = model().buffers[which[index]];
  info->name = b.name.c_str();
  info->dtype = b.dtype;
  info->rank = static_cast<int32_t>(b.shape.size());
  info->shape = b.shape.data();
  info->numel = b.numel;
  info->trainable = b.trainable ? 1 : 0;
  info->high = b.high;
  return FTC_OK;
}

/// Integer input `b`'s first element outside [0, high), as an error
/// message naming the input, the element and its value; empty when all are
/// in range (or the model does not say the range). The compiled step reads
/// such inputs as indices (an embedding's rows, a cross-entropy's classes),
/// unchecked: a value out of range would read or write outside a buffer.
template <typename T>
int64_t firstOutside(const void *data, int64_t numel, int64_t high) {
  const T *values = static_cast<const T *>(data);
  for (int64_t i = 0; i < numel; ++i) {
    int64_t v = static_cast<int64_t>(values[i]);
    if (v < 0 || v >= high)
      return i;
  }
  return -1;
}

std::string checkRange(const Buffer &b, const void *data) {
  if (b.high <= 0)
    return {};
  int64_t at = -1;
  switch (b.dtype) {
  case FTC_I32: at = firstOutside<int32_t>(data, b.numel, b.high); break;
  case FTC_I64: at = firstOutside<int64_t>(data, b.numel, b.high); break;
  case FTC_I8: at = firstOutside<int8_t>(data, b.numel, b.high); break;
  case FTC_U8: at = firstOutside<uint8_t>(data, b.numel, b.high); break;
  default: return {};
  }
  if (at < 0)
    return {};
  std::string index;
  for (size_t d = b.shape.size(), rest = static_cast<size_t>(at); d-- > 0;) {
    size_t extent = static_cast<size_t>(b.shape[d]);
    index = std::to_string(rest % extent) + (index.empty() ? "" : ", ") + index;
    rest /= extent;
  }
  return "input '" + b.name + "' holds " +
         std::to_string(static_cast<int64_t>(loadElement(b.dtype, data, at))) + " at [" +
         index + "] (example " + std::to_string(b.shape.empty() ? 0 : at / (b.numel / b.shape[0])) +
         " of the batch); the model takes 0 to " + std::to_string(b.high - 1) + " there";
}

/// The loss the last entry point computed (waiting for it on a GPU).
ftc_status readLoss(ftc_state *state, double *loss) {
  const Model &m = model();
  if (ftc_status read = cuda::hostRead(*state, m.loss); read != FTC_OK)
    return read;
  const Buffer &l = m.buffers[m.loss];
  const void *p = state->pointers[m.loss];
  *loss = l.dtype == FTC_F64 ? *static_cast<const double *>(p)
                             : *static_cast<const float *>(p);
  return FTC_OK;
}

/// Runs an entry point with `inputs` bound (none for one that `takesInputs`
/// not: apply); reports the loss (where `loss` is not null).
ftc_status run(ftc_state *state, void (*entry)(void **), const char *name,
               const void *const *inputs, double *loss, bool takesInputs = true) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  if (!entry)
    return fail(FTC_ERROR_UNSUPPORTED,
                std::string("this step.so has no '") + name + "' entry point");
  const Model &m = model();
  if (takesInputs && !inputs && !m.inputs.empty())
    return fail(FTC_ERROR_ARGUMENT, "inputs is null");
  // Every input checked before any is bound: a failed call changes nothing.
  // (Inputs in GPU memory are not read here: their range is the caller's
  // to check.)
  for (size_t i = 0; takesInputs && i < m.inputs.size(); ++i) {
    const Buffer &b = m.buffers[m.inputs[i]];
    if (!inputs[i])
      return fail(FTC_ERROR_ARGUMENT, "input '" + b.name + "' is null");
    if (cuda::isDevicePointer(*state, inputs[i]))
      continue;
    if (std::string error = checkRange(b, inputs[i]); !error.empty())
      return fail(FTC_ERROR_ARGUMENT, error);
  }
  for (size_t i = 0; takesInputs && i < m.inputs.size(); ++i)
    state->pointers[m.inputs[i]] = const_cast<void *>(inputs[i]);
  if (m.rng >= 0) {
    // Every entry draws the masks of the step about to be taken: ftc_grad
    // and ftc_eval see what the next ftc_step will use.
    auto *rng = static_cast<int64_t *>(state->pointers[m.rng]);
    // The micro-batches of one update (ftc_accumulate_grad) draw masks of
    // their own: the seed moved by the micro-batch's number (0 for the
    // first, whose masks are ftc_step's). Other entries are not moved.
    // With a communicator, micro-batch k of rank r is batch k * size + r
    // of the update.
    uint64_t micro = entry == ftc_entry_accumulate
                         ? static_cast<uint64_t>(state->microBatches * comm::size(*state) +
                                                 comm::rank(*state))
                         : 0;
    rng[0] = static_cast<int64_t>(state->seed + 0x9e3779b97f4a7c15ull * micro);
    rng[1] = stepCount(m, *state) + 1;
    rng[2] = state->training ? 1 : 0;
    cuda::hostWrote(*state, m.rng);
  }
  ftc_status status = cuda::beforeEntry(*state, inputs, takesInputs);
  if (status == FTC_OK) {
    status = cuda::runEntry(*state, entry, name);
  }
  for (int i : m.inputs)
    state->pointers[i] = nullptr;
  if (status != FTC_OK)
    return status;
  if (m.numerics >= 0) {
    if (ftc_status read = cuda::hostRead(*state, m.numerics); read != FTC_OK)
      return read;
    int64_t first = *static_cast<const int64_t *>(state->pointers[m.numerics]);
    if (first != 0) {
      std::string what = first > 0 && first <= static_cast<int64_t>(m.checks.size())
                             ? m.checks[static_cast<size_t>(first - 1)]
                             : "check " + std::to_string(first);
      return fail(FTC_ERROR_NUMERICS,
                  "an inf or NaN was first produced by " + what +
                      (std::string(name) == "step" ? "; the step was not applied" : ""));
    }
  }
  return loss ? readLoss(state, loss) : FTC_OK;
}

} // namespace

extern "C" {

int32_t ftc_abi_version(void) { return FTC_ABI_VERSION; }
const char *ftc_model_description(void) { return ftc_model_json; }
int32_t ftc_num_params(void) { return static_cast<int32_t>(model().params.size()); }
int32_t ftc_num_inputs(void) { return static_cast<int32_t>(model().inputs.size()); }
int32_t ftc_num_outputs(void) { return static_cast<int32_t>(model().outputs.size()); }
int32_t ftc_dtype_size(ftc_dtype dtype) { return dtypeBytes(dtype); }

ftc_status ftc_param_info(int32_t index, ftc_tensor_info *info) {
  return fillInfo(index, model().params, info, "parameter");
}

ftc_status ftc_input_info(int32_t index, ftc_tensor_info *info) {
  return fillInfo(index, model().inputs, info, "input");
}

ftc_status ftc_output_info(int32_t index, ftc_tensor_info *info) {
  return fillInfo(index, model().outputs, info, "output");
}

const void *ftc_output_data(ftc_state *state, int32_t index) {
  const Model &m = model();
  if (checkState(state) != FTC_OK)
    return nullptr;
  if (index < 0 || index >= static_cast<int32_t>(m.outputs.size()))
    return fail(FTC_ERROR_ARGUMENT, "output index " + std::to_string(index) + " is out of range"),
           nullptr;
  if (cuda::hostRead(*state, m.outputs[index]) != FTC_OK)
    return nullptr;
  return state->pointers[m.outputs[index]];
}

void ftc_reset_optimizer(ftc_state *state) {
  if (checkState(state) != FTC_OK)
    return;
  const Model &m = model();
  comm::Unsharded whole(*state);
  for (int s : m.slots)
    if (cuda::zero(*state, s) != FTC_OK)
      return;
  resetStates(m, *state);
}

int64_t ftc_buffer_bytes(const char *kind) {
  if (!kind)
    return 0;
  int64_t bytes = 0;
  bool all = std::strcmp(kind, "all") == 0;
  for (const Buffer &b : model().buffers)
    if ((all || b.kind == kind) && b.kind != "input")
      bytes += static_cast<int64_t>(b.bytes());
  return bytes;
}

ftc_status ftc_set_num_threads(int32_t n) {
  if (n < 1)
    return fail(FTC_ERROR_ARGUMENT, "the number of threads must be at least 1, got " +
                                        std::to_string(n));
  omp_set_num_threads(n);
  return FTC_OK;
}

ftc_status ftc_create(uint64_t seed, ftc_state **out) {
  if (!out)
    return fail(FTC_ERROR_ARGUMENT, "state is null");
  if (const char *threads = std::getenv("FTC_NUM_THREADS")) {
    char *end = nullptr;
    long n = std::strtol(threads, &end, 10);
    if (end == threads || *end != '\0' || n < 1 || n > 4096)
      return fail(FTC_ERROR_ARGUMENT, std::string("FTC_NUM_THREADS must be a number of "
                                                  "threads (1 or more), got '") +
                                          threads + "'");
    omp_set_num_threads(static_cast<int>(n));
  }
  try {
    const Model &m = model();
    auto state = std::make_unique<ftc_state>();
    state->model = ftc_model_json;
    state->seed = seed;
    state->pointers.assign(m.buffers.size(), nullptr); // inputs: borrowed per call
    std::vector<size_t> offsets = mapArena(m, *state);
    for (size_t i = 0; i < m.buffers.size(); ++i) {
      const Buffer &b = m.buffers[i];
      if (b.kind == "param" && b.storage.empty())
        fillInitial(b.init, seed, b.name, b.dtype, b.numel, state->pointers[i]);
    }
    resetStates(m, *state);
    // Settings (the learning rate) and reports start at their values in
    // the model; neither is saved nor reset with the optimizer.
    for (size_t i = 0; i < m.buffers.size(); ++i)
      if (m.buffers[i].kind == "setting" || m.buffers[i].kind == "report")
        storeElement(m.buffers[i].dtype, state->pointers[i], 0, m.buffers[i].init.a);
    // Stored parameters: drawn as f32 (the values the same model without
    // the storage draws), then stored.
    for (int p : m.params) {
      const Buffer &b = m.buffers[p];
      if (b.storage.empty())
        continue;
      std::vector<float> values(static_cast<size_t>(b.logicalNumel));
      fillInitial(b.init, seed, b.name, FTC_F32, b.logicalNumel, values.data());
      storeLogical(m, *state, p, values.data());
    }
    deriveInitial(m, *state, [](int) { return true; });
    // A CUDA step.so: the buffers on the GPU, the values drawn here copied
    // up before the first step.
    if (cuda::compiledForCuda())
      if (ftc_status status = cuda::open(*state, state->arena.bytes, offsets.data());
          status != FTC_OK)
        return status;
    *out = state.release();
    return FTC_OK;
  } catch (const std::bad_alloc &) {
    return fail(FTC_ERROR_MEMORY, "out of memory allocating the state");
  } catch (const std::exception &e) {
    return fail(FTC_ERROR_FORMAT, e.what());
  }
}

void ftc_destroy(ftc_state *state) {
  // Another step.so's state has this layout too (the same runtime), but
  // anything else is left alone.
  if (!state || state->magic != kStateMagic)
    return;
  state->magic = 0;
  delete state;
}

namespace {

/// ftc_apply's update (the gradient buffers times `factor`), the skipped
/// steps counted.
ftc_status applyUpdate(ftc_state *state, double factor) {
  const Model &m = model();
  *static_cast<double *>(state->pointers[m.gradScale]) = factor;
  cuda::hostWrote(*state, m.gradScale);
  int64_t before = stepCount(m, *state);
  // No inputs: the entry reads the gradient buffers.
  ftc_status status = run(state, ftc_entry_apply, "apply", nullptr, nullptr,
                          /*takesInputs=*/false);
  if (status == FTC_OK && stepCount(m, *state) == before)
    ++state->skipped;
  if (status == FTC_OK)
    state->microBatches = 0;
  // A sharded optimizer updated this rank's part: the others' from them.
  if (status == FTC_OK && comm::sharded(*state))
    status = comm::gatherParams(*state);
  return status;
}

bool canAccumulate() {
  return ftc_entry_accumulate && ftc_entry_apply && model().gradScale >= 0;
}

/// ftc_step with a communicator: this rank's gradients, each bucket summed
/// over the ranks as the backward finishes it, the update from their mean.
ftc_status dataParallelStep(ftc_state *state, const void *const *inputs, double *loss) {
  if (ftc_status status = ftc_zero_grad(state); status != FTC_OK)
    return status;
  comm::beginOverlap(*state);
  // The loss is read once the gradients' sums are under way: on a GPU the
  // sums go on the stream behind the backward before the host waits.
  ftc_status status = run(state, ftc_entry_accumulate, "accumulate", inputs, nullptr);
  if (status != FTC_OK) {
    std::string error = ftc_last_error();
    (void)comm::finish(*state); // nothing left running into the buffers
    return fail(status, error);
  }
  if (ftc_status summed = comm::finish(*state); summed != FTC_OK)
    return summed;
  double local = 0.0;
  if (ftc_status read = readLoss(state, &local); read != FTC_OK)
    return read;
  double size = static_cast<double>(comm::size(*state));
  if (ftc_status summed = comm::allReduce(*state, local); summed != FTC_OK)
    return summed;
  status = applyUpdate(state, 1.0 / size);
  if (status == FTC_OK && loss)
    *loss = local / size;
  return status;
}

} // namespace

ftc_status ftc_set_comm(ftc_state *state, const ftc_comm *comm, int64_t bucket_bytes) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  if (comm && !canAccumulate())
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so has no 'accumulate' and 'apply' entry "
                                       "points (compiled before gradient accumulation "
                                       "existed): compile it again for data parallelism");
  return comm::attach(*state, comm, bucket_bytes);
}

ftc_status ftc_shard_optimizer(ftc_state *state) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  return comm::shard(*state);
}

void *ftc_device_stream(const ftc_state *state) {
  return checkState(state) == FTC_OK ? cuda::stream(*state) : nullptr;
}

int64_t ftc_optimizer_bytes(const ftc_state *state) {
  return checkState(state) == FTC_OK ? comm::heldOptimizerBytes(*state) : 0;
}

ftc_status ftc_step(ftc_state *state, const void *const *inputs, double *loss) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  if (comm::attached(*state))
    return dataParallelStep(state, inputs, loss);
  const Model &m = model();
  if (m.step < 0 || !ftc_entry_step)
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so has no 'step' entry point");
  // The step advances its counter itself, unless a non-finite gradient
  // made it skip the update (dynamic loss scaling).
  int64_t before = stepCount(m, *state);
  ftc_status status = run(state, ftc_entry_step, "step", inputs, loss);
  if (status == FTC_OK && stepCount(m, *state) == before)
    ++state->skipped;
  return status;
}

ftc_status ftc_eval(ftc_state *state, const void *const *inputs, double *loss) {
  return run(state, ftc_entry_eval, "eval", inputs, loss);
}

ftc_status ftc_grad(ftc_state *state, const void *const *inputs, double *loss) {
  return run(state, ftc_entry_grad, "grad", inputs, loss);
}

ftc_status ftc_zero_grad(ftc_state *state) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  const Model &m = model();
  for (int g : m.gradOf)
    if (g >= 0)
      if (ftc_status status = cuda::zero(*state, g); status != FTC_OK)
        return status;
  state->microBatches = 0;
  return FTC_OK;
}

ftc_status ftc_accumulate_grad(ftc_state *state, const void *const *inputs, double *loss) {
  ftc_status status = run(state, ftc_entry_accumulate, "accumulate", inputs, loss);
  if (status == FTC_OK)
    ++state->microBatches;
  return status;
}

ftc_status ftc_apply(ftc_state *state, double grad_scale) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  const Model &m = model();
  if (!ftc_entry_apply || m.gradScale < 0)
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so has no 'apply' entry point (compiled "
                                       "before gradient accumulation existed)");
  if (!std::isfinite(grad_scale))
    return fail(FTC_ERROR_ARGUMENT,
                "the gradients' factor must be finite, got " + std::to_string(grad_scale));
  if (comm::attached(*state)) {
    // The sums over the ranks first; the factor takes their mean.
    if (ftc_status summed = comm::finish(*state); summed != FTC_OK)
      return summed;
    grad_scale /= static_cast<double>(comm::size(*state));
  }
  return applyUpdate(state, grad_scale);
}

void *ftc_param_data(ftc_state *state, int32_t index) {
  const Model &m = model();
  if (checkState(state) != FTC_OK)
    return nullptr;
  if (index < 0 || index >= static_cast<int32_t>(m.params.size()))
    return fail(FTC_ERROR_ARGUMENT,
                "parameter index " + std::to_string(index) + " is out of range"),
           nullptr;
  // The caller may write the parameter: the host's copy is the newer.
  if (cuda::hostRead(*state, m.params[index]) != FTC_OK)
    return nullptr;
  cuda::hostWrote(*state, m.params[index]);
  return state->pointers[m.params[index]];
}

const void *ftc_grad_data(ftc_state *state, int32_t index) {
  const Model &m = model();
  if (checkState(state) != FTC_OK)
    return nullptr;
  if (index < 0 || index >= static_cast<int32_t>(m.params.size()))
    return fail(FTC_ERROR_ARGUMENT,
                "parameter index " + std::to_string(index) + " is out of range"),
           nullptr;
  if (m.gradOf[index] < 0)
    return fail(FTC_ERROR_ARGUMENT, "parameter '" + m.buffers[m.params[index]].name +
                                        "' is not trained: it has no gradient"),
           nullptr;
  if (cuda::hostRead(*state, m.gradOf[index]) != FTC_OK)
    return nullptr;
  return state->pointers[m.gradOf[index]];
}

int64_t ftc_step_count(const ftc_state *state) {
  return checkState(state) == FTC_OK ? stepCount(model(), *state) : 0;
}

double ftc_loss_scale(const ftc_state *state) {
  const Model &m = model();
  if (checkState(state) != FTC_OK || m.lossScale < 0 ||
      cuda::hostRead(*state, m.lossScale) != FTC_OK)
    return 0.0;
  return *static_cast<const float *>(state->pointers[m.lossScale]);
}

ftc_status ftc_set_lr(ftc_state *state, double lr) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  const Model &m = model();
  if (m.lr < 0)
    return fail(FTC_ERROR_UNSUPPORTED, "this step.so has no run-time learning rate "
                                       "(compiled before ftc_set_lr existed, or without a step)");
  if (!(lr >= 0) || !std::isfinite(lr))
    return fail(FTC_ERROR_ARGUMENT, "the learning rate must be a finite number >= 0, got " +
                                        std::to_string(lr));
  *static_cast<double *>(state->pointers[m.lr]) = lr;
  cuda::hostWrote(*state, m.lr);
  return FTC_OK;
}

double ftc_get_lr(const ftc_state *state) {
  const Model &m = model();
  if (checkState(state) != FTC_OK || m.lr < 0)
    return -1.0;
  return *static_cast<const double *>(state->pointers[m.lr]);
}

double ftc_grad_norm(const ftc_state *state) {
  const Model &m = model();
  if (checkState(state) != FTC_OK || m.gradNorm < 0 ||
      cuda::hostRead(*state, m.gradNorm) != FTC_OK)
    return -1.0;
  return *static_cast<const double *>(state->pointers[m.gradNorm]);
}

int64_t ftc_skipped_steps(const ftc_state *state) {
  return checkState(state) == FTC_OK ? state->skipped : 0;
}

void ftc_set_training(ftc_state *state, int32_t training) {
  if (checkState(state) == FTC_OK)
    state->training = training != 0;
}

const char *ftc_last_error(void) { return lastError.c_str(); }

} // extern "C"
