//===- Checkpoint.cpp - saving and loading a state as safetensors ---------===//
//
// ftc_save writes parameters, optimizer state, the step counter (and the
// dropout seed); ftc_load reads such a file or a PyTorch state_dict, and
// ftc_load_partial takes whatever parameters of a checkpoint fit. Every
// load is planned in full (each tensor matched, every check made) before
// the state is touched, and leaves a report of what it did
// (ftc_last_report).
//
//===----------------------------------------------------------------------===//

#include "Checkpoint.h"
#include "Comm.h"

#include "Cuda.h"
#include "Model.h"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace ftc::runtime {

nlohmann::ordered_json skipped(const std::string &name, const char *reason,
                               const std::string &detail) {
  return {{"name", name}, {"reason", reason}, {"detail", detail}};
}

std::string mismatchDetail(const LoadedTensor &t, const Buffer &b) {
  return describeTensor(t.dtype, t.shape) + " in the file; this model has " +
         describeTensor(b.dtype, b.shape);
}

} // namespace ftc::runtime

using namespace ftc::runtime;

namespace {

/// The parameter of this model whose optimizer state `name` would be
/// (`optim.<param>.<state>`), when that parameter has none here: a frozen
/// weight that the checkpoint's run trained. Empty otherwise.
std::string untrainedSlotOwner(const Model &m, const std::string &name) {
  if (name.rfind("optim.", 0) != 0)
    return {};
  std::string rest = name.substr(6);
  for (int p : m.params) {
    const std::string &param = m.buffers[p].name;
    if (rest.size() > param.size() + 1 && rest.compare(0, param.size(), param) == 0 &&
        rest[param.size()] == '.' && !m.hasSlots(p))
      return param;
  }
  return {};
}

/// Why tensor `name` of a checkpoint is not part of this model, with a hint
/// for LoRA adapters.
std::string notPartOfModel(const Model &m, const std::string &name, const std::string &path) {
  std::string message = "tensor '" + name + "' in '" + path + "' is not part of this model";
  for (const char *suffix : adapterSuffixes) {
    size_t n = std::strlen(suffix);
    if (name.size() > n && name.compare(name.size() - n, n, suffix) == 0 && !m.lora) {
      message += " (a LoRA adapter: this step.so was compiled without adapters; fold them "
                 "into the base weights with ftc_save_merged or ftc-train --merge)";
      break;
    }
  }
  return message;
}

bool isFloat(ftc_dtype dtype) {
  return dtype == FTC_F32 || dtype == FTC_F64 || dtype == FTC_F16 || dtype == FTC_BF16;
}

/// The stored parameter whose scales (or other stored part) parameter
/// `index` holds, or -1.
int scalesOwner(const Model &m, int index) {
  for (int p : m.params)
    for (int part : m.buffers[p].stored)
      if (part == index)
        return p;
  return -1;
}

bool quantizedFromFloat(const std::vector<std::pair<int, const LoadedTensor *>> &quantize,
                        int index) {
  for (auto [p, t] : quantize)
    if (p == index)
      return true;
  return false;
}

/// Commits float tensors into stored parameters (quantized as the runtime
/// quantizes initial values); their names, for the report.
nlohmann::ordered_json
storeQuantized(const Model &m, ftc_state &state,
               const std::vector<std::pair<int, const LoadedTensor *>> &quantize) {
  nlohmann::ordered_json names = nlohmann::ordered_json::array();
  for (auto [index, t] : quantize) {
    const Buffer &b = m.buffers[index];
    std::vector<float> values(static_cast<size_t>(b.logicalNumel));
    for (int64_t i = 0; i < b.logicalNumel; ++i)
      values[i] = static_cast<float>(loadElement(t->dtype, t->data, i));
    storeLogical(m, state, index, values.data());
    names.push_back(b.name + " (" + describeTensor(t->dtype, t->shape) + " as " + b.storage + ")");
  }
  return names;
}

/// Parameters a load kept whose init derives from others (DoRA's
/// magnitude: the norms of W's rows), from the values just loaded.
void deriveKept(const Model &m, ftc_state &state, const nlohmann::ordered_json &kept) {
  deriveInitial(m, state, [&](int p) {
    for (const auto &name : kept)
      if (name.get<std::string>() == m.buffers[p].name)
        return true;
    return false;
  });
}

ftc_status readCheckpoint(const char *path, std::unique_ptr<SafetensorsFile> &file) {
  std::string error;
  ftc_status status = FTC_OK;
  file = readSafetensors(path, error, status);
  return file ? FTC_OK : fail(status, error);
}

/// A scalar i64 tensor (`optim.step`, `rng.seed`).
ftc_status readScalar(const LoadedTensor &t, const char *path, int64_t &value) {
  if (t.dtype != FTC_I64 || !t.shape.empty())
    return fail(FTC_ERROR_MISMATCH, "tensor '" + t.name + "' in '" + std::string(path) +
                                        "' must be a scalar i64");
  std::memcpy(&value, t.data, sizeof(value));
  return FTC_OK;
}

} // namespace

extern "C" {

ftc_status ftc_save(const ftc_state *state, const char *path) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current.
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/false);
      status != FTC_OK)
    return status;
  if (!path)
    return fail(FTC_ERROR_ARGUMENT, "the path is null");
  // A sharded optimizer: the state of every rank gathered (every rank
  // calls ftc_save), rank 0 writes it whole.
  comm::Unsharded whole(*state);
  if (ftc_status status = comm::gatherOptimizerState(*state); status != FTC_OK)
    return status;
  if (comm::sharded(*state) && comm::rank(*state) != 0)
    return FTC_OK;
  const Model &m = model();
  std::vector<TensorView> tensors;
  auto add = [&](int index, const std::string &name) {
    const Buffer &b = m.buffers[index];
    tensors.push_back({name, b.dtype, b.shape, state->pointers[index], b.bytes()});
  };
  for (int p : m.params)
    add(p, m.buffers[p].name);
  for (int s : m.slots)
    add(s, "optim." + m.buffers[s].name);
  // The step counter (`optim.step`) and, with dynamic loss scaling,
  // `grad_scaler.scale` and `grad_scaler.growth_tracker`.
  for (int s : m.states)
    add(s, m.buffers[s].name);
  int64_t noSteps = 0;
  if (m.step < 0)
    tensors.push_back({"optim.step", FTC_I64, {}, &noSteps, sizeof(noSteps)});
  // The dropout masks depend on the seed: a resumed run needs it.
  auto seed = static_cast<int64_t>(state->seed);
  if (m.rng >= 0)
    tensors.push_back({"rng.seed", FTC_I64, {}, &seed, sizeof(seed)});
  std::string error;
  if (!writeSafetensors(path, tensors, error))
    return fail(FTC_ERROR_IO, error);
  return FTC_OK;
}

ftc_status ftc_load(ftc_state *state, const char *path) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current (and newer once written).
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/true);
      status != FTC_OK)
    return status;
  if (!path)
    return fail(FTC_ERROR_ARGUMENT, "the path is null");
  const Model &m = model();
  std::unique_ptr<SafetensorsFile> file;
  if (ftc_status status = readCheckpoint(path, file); status != FTC_OK)
    return status;
  // A sharded optimizer's state is loaded whole, the others' parts dropped
  // after.
  comm::Unsharded whole(*state);

  // Check everything before touching the state.
  std::vector<std::pair<int, const LoadedTensor *>> plan;
  // Stored parameters (QLoRA's base) given as float tensors: quantized.
  std::vector<std::pair<int, const LoadedTensor *>> quantize;
  std::vector<bool> used(file->tensors.size(), false);
  nlohmann::ordered_json loaded = nlohmann::ordered_json::array(),
                         kept = nlohmann::ordered_json::array(),
                         skips = nlohmann::ordered_json::array();
  std::string error;
  // A tensor of the file for buffer `index`: absent is fine unless
  // `required`; present, it must have the buffer's dtype and shape.
  auto match = [&](int index, const std::string &name, bool required) -> bool {
    const Buffer &b = m.buffers[index];
    const LoadedTensor *t = file->find(name);
    if (!t) {
      if (required)
        error = std::string("checkpoint '") + path + "' has no tensor '" + name +
                "', a parameter of this model";
      return !required;
    }
    used[t - file->tensors.data()] = true;
    if (!b.storage.empty() && isFloat(t->dtype) && t->shape == b.logicalShape) {
      quantize.push_back({index, t});
      return true;
    }
    if (t->dtype != b.dtype || t->shape != b.shape) {
      error = "tensor '" + name + "' in '" + path + "' is " +
              describeTensor(t->dtype, t->shape) + "; this model expects " +
              describeTensor(b.dtype, b.shape);
      return false;
    }
    plan.push_back({index, t});
    return true;
  };
  for (int p : m.params) {
    const std::string &name = m.buffers[p].name;
    // A pretrained model's state_dict has no LoRA adapters: they keep
    // their values. The scales of an nf4 weight come with its codes (ftc's
    // checkpoints), or from quantizing a float tensor (a state_dict's).
    bool adapter = m.isAdapter(name);
    int owner = scalesOwner(m, p);
    bool derived = owner >= 0 && quantizedFromFloat(quantize, owner);
    if (derived)
      continue;
    if (!match(p, name, !adapter))
      return fail(FTC_ERROR_MISMATCH, error);
    (file->find(name) ? loaded : kept).push_back(name);
  }
  size_t optimizerTensors = 0;
  // The optimizer state and step counter the file lacks (all of them for
  // a state_dict): they start afresh.
  nlohmann::ordered_json missing = nlohmann::ordered_json::array();
  for (int s : m.slots) {
    if (!match(s, "optim." + m.buffers[s].name, false))
      return fail(FTC_ERROR_MISMATCH, error);
    bool present = file->find("optim." + m.buffers[s].name) != nullptr;
    optimizerTensors += present;
    if (!present)
      missing.push_back("optim." + m.buffers[s].name);
  }
  if (m.step >= 0 && !file->find(m.buffers[m.step].name))
    missing.push_back(m.buffers[m.step].name);
  // States absent from the file (a PyTorch state_dict; an fp32 run's
  // checkpoint has no loss scale) start at their initial values.
  for (int s : m.states)
    if (!match(s, m.buffers[s].name, false))
      return fail(FTC_ERROR_MISMATCH, error);
  if (const LoadedTensor *t = file->find("optim.step"); t && m.step < 0) {
    used[t - file->tensors.data()] = true;
    int64_t steps = 0;
    if (ftc_status status = readScalar(*t, path, steps); status != FTC_OK)
      return status;
  }
  std::optional<int64_t> seed;
  if (const LoadedTensor *t = file->find("rng.seed")) {
    used[t - file->tensors.data()] = true;
    if (m.rng >= 0) {
      seed.emplace();
      if (ftc_status status = readScalar(*t, path, *seed); status != FTC_OK)
        return status;
    } else {
      skips.push_back(skipped(t->name, "state", "the dropout seed; this model has no dropout"));
    }
  }
  for (size_t i = 0; i < used.size(); ++i) {
    if (used[i])
      continue;
    const std::string &name = file->tensors[i].name;
    // Optimizer state of a weight this model keeps frozen (a full
    // fine-tune's checkpoint under LoRA): not needed.
    if (std::string owner = untrainedSlotOwner(m, name); !owner.empty()) {
      skips.push_back(skipped(name, "state",
                              "optimizer state of '" + owner + "', which this model does not train"));
      continue;
    }
    // An fp16 run's loss scale, loaded into a step without loss scaling.
    if (name.rfind("grad_scaler.", 0) == 0) {
      skips.push_back(skipped(name, "state", "loss scaling state; this step has no loss scaling"));
      continue;
    }
    return fail(FTC_ERROR_MISMATCH, notPartOfModel(m, name, path));
  }

  // Commit: slots absent from the file (a PyTorch state_dict) start at zero.
  for (int s : m.slots)
    std::memset(state->pointers[s], 0, m.buffers[s].bytes());
  resetStates(m, *state);
  for (auto [index, t] : plan)
    std::memcpy(state->pointers[index], t->data, m.buffers[index].bytes());
  nlohmann::ordered_json quantized = storeQuantized(m, *state, quantize);
  deriveKept(m, *state, kept);
  if (seed)
    state->seed = static_cast<uint64_t>(*seed);
  nlohmann::ordered_json report = {{"action", "load"},     {"path", path},
                                   {"loaded", loaded},     {"kept", kept},
                                   {"skipped", skips},     {"optimizer", optimizerTensors},
                                   {"missing_optimizer", missing},
                                   {"step", stepCount(m, *state)}};
  if (!quantized.empty())
    report["quantized"] = quantized;
  state->report = report.dump();
  return FTC_OK;
}

ftc_status ftc_load_partial(ftc_state *state, const char *path) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current (and newer once written).
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/true);
      status != FTC_OK)
    return status;
  if (!path)
    return fail(FTC_ERROR_ARGUMENT, "the path is null");
  const Model &m = model();
  std::unique_ptr<SafetensorsFile> file;
  if (ftc_status status = readCheckpoint(path, file); status != FTC_OK)
    return status;
  // A sharded optimizer's state is loaded whole, the others' parts dropped
  // after.
  comm::Unsharded whole(*state);

  std::vector<std::pair<int, const LoadedTensor *>> plan;
  std::vector<bool> set(m.buffers.size(), false);
  nlohmann::ordered_json skips = nlohmann::ordered_json::array();
  std::vector<std::pair<int, const LoadedTensor *>> quantize;
  for (const LoadedTensor &t : file->tensors) {
    int p = m.findParam(t.name);
    if (p >= 0 && t.dtype == m.buffers[p].dtype && t.shape == m.buffers[p].shape) {
      plan.push_back({p, &t});
      set[p] = true;
    } else if (p >= 0 && !m.buffers[p].storage.empty() && isFloat(t.dtype) &&
               t.shape == m.buffers[p].logicalShape) {
      quantize.push_back({p, &t});
      set[p] = true;
      for (int part : m.buffers[p].stored)
        set[part] = true;
    } else if (p >= 0) {
      skips.push_back(skipped(t.name, "mismatch", mismatchDetail(t, m.buffers[p])));
    } else if (t.name.rfind("optim.", 0) == 0 || t.name.rfind("grad_scaler.", 0) == 0 ||
               t.name == "rng.seed") {
      skips.push_back(skipped(t.name, "state", "a partial load takes parameters only"));
    } else {
      skips.push_back(skipped(t.name, "unknown", "not part of this model"));
    }
  }
  if (plan.empty() && quantize.empty()) {
    std::string names;
    for (size_t i = 0; i < file->tensors.size() && i < 4; ++i)
      names += (i ? ", '" : "'") + file->tensors[i].name + "'";
    if (file->tensors.size() > 4)
      names += ", ...";
    return fail(FTC_ERROR_MISMATCH,
                "checkpoint '" + std::string(path) + "' has no parameter of this model "
                "with its name, dtype and shape (it holds " +
                    std::to_string(file->tensors.size()) + " tensors" +
                    (names.empty() ? std::string() : ": " + names) + ")");
  }

  // Commit: the parameters that fit; the optimizer starts afresh.
  for (int s : m.slots)
    std::memset(state->pointers[s], 0, m.buffers[s].bytes());
  for (auto [index, t] : plan)
    std::memcpy(state->pointers[index], t->data, m.buffers[index].bytes());
  nlohmann::ordered_json quantized = storeQuantized(m, *state, quantize);
  resetStates(m, *state);
  nlohmann::ordered_json loaded = nlohmann::ordered_json::array(),
                         kept = nlohmann::ordered_json::array();
  for (int p : m.params)
    (set[p] ? loaded : kept).push_back(m.buffers[p].name);
  deriveKept(m, *state, kept);
  nlohmann::ordered_json report = {{"action", "load_partial"}, {"path", path},
                                   {"loaded", loaded},         {"kept", kept},
                                   {"skipped", skips},         {"optimizer", 0},
                                   {"step", 0}};
  if (!quantized.empty())
    report["quantized"] = quantized;
  state->report = report.dump();
  return FTC_OK;
}

const char *ftc_last_report(const ftc_state *state) {
  return checkState(state) == FTC_OK ? state->report.c_str() : "";
}

} // extern "C"
