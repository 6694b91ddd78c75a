//===- Adapters.cpp - LoRA adapters in PEFT's files, and merging ----------===//
//
// A LoRA step's adapters as PEFT's `save_pretrained` lays them out, so that
// `PeftModel.from_pretrained(base, DIR)` loads what ftc trained and ftc
// loads what PEFT trained:
//
//   DIR/adapter_model.safetensors   base_model.model.<M>.lora_A.weight   [r, in]
//                                   base_model.model.<M>.lora_B.weight   [out, r]
//                                   base_model.model.<M>.lora_magnitude_vector [out] (DoRA)
//                                   base_model.model.<N>.<leaf>  every parameter of
//                                     a module N in modules_to_save
//   DIR/adapter_config.json         LoraConfig's fields (peft_type "LORA", r,
//                                   lora_alpha, target_modules, ...), sorted,
//                                   indented by 2, as PeftConfig writes them
//
// (peft/utils/save_and_load.py: get_peft_model_state_dict drops the adapter
// name "default" from `...lora_A.default.weight`; LoraModel keeps DoRA's key
// without ".weight"; a ModulesToSaveWrapper saves its copy's state_dict under
// the module's own name. peft/config.py: save_pretrained writes the config
// with json.dumps(indent=2, sort_keys=True); PeftModel.save_pretrained sets
// inference_mode to true in the file.)
//
// Merging folds the adapters into the base weights: W' = W + s B A, or with
// DoRA W' = m * (W + s B A) / ||W + s B A||_row, computed in double.
//
//===----------------------------------------------------------------------===//

#include "ftc.h"

#include "Comm.h"

#include "Checkpoint.h"
#include "Cuda.h"
#include "Model.h"
#include "Quantize.h"
#include "Safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace ftc::runtime;

namespace {

/// What PEFT puts before a parameter's name in an adapter file: its
/// PeftModel wraps the base model as `base_model.model`.
constexpr const char *peftPrefix = "base_model.model.";
constexpr const char *weightsFile = "adapter_model.safetensors";
constexpr const char *configFile = "adapter_config.json";

std::string joinPath(const std::string &dir, const char *file) {
  return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
}

/// The module a parameter belongs to: "h.0.mlp.c_fc" for
/// "h.0.mlp.c_fc.weight"; empty for a top-level parameter.
std::string moduleOf(const std::string &param) {
  size_t dot = param.rfind('.');
  return dot == std::string::npos ? std::string() : param.substr(0, dot);
}

bool startsWith(const std::string &s, const std::string &prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string noAdapters() {
  return "this step.so has no LoRA adapters (compile the model with ftc --lora-targets=REGEX)";
}

std::string adaptedList(const Lora &lora) {
  std::string out;
  for (const std::string &m : lora.modules)
    out += (out.empty() ? "" : ", ") + m;
  return out;
}

/// The parameters an adapter file holds, in the model's order, and the
/// modules PEFT would save whole (modules_to_save): those of the trained
/// parameters that are not adapters. Fails for a trained parameter PEFT's
/// format cannot hold.
struct AdapterContents {
  std::vector<int> params;
  std::vector<std::string> modulesToSave;
};

bool planAdapterFile(const Model &m, AdapterContents &out, std::string &error) {
  const Lora &lora = *m.lora;
  auto adapted = [&](const std::string &module) {
    return std::find(lora.modules.begin(), lora.modules.end(), module) != lora.modules.end();
  };
  for (int p : m.params) {
    const Buffer &b = m.buffers[p];
    if (!b.trainable || m.isAdapter(b.name))
      continue;
    std::string module = moduleOf(b.name);
    if (module.empty()) {
      error = "parameter '" + b.name + "' is trained but belongs to no module: PEFT's "
              "modules_to_save names modules, so an adapter file cannot hold it (save a "
              "full checkpoint instead)";
      return false;
    }
    if (adapted(module)) {
      error = "parameter '" + b.name + "' is trained and belongs to the adapted module '" +
              module + "': PEFT saves such a parameter only with bias 'lora_only' or "
              "'all', which ftc does not write (save a full checkpoint instead)";
      return false;
    }
    for (const std::string &a : lora.modules)
      if (startsWith(a, module + ".")) {
        error = "parameter '" + b.name + "' is trained and its module '" + module +
                "' holds the adapted module '" + a + "': PEFT cannot save it whole "
                "(modules_to_save) beside adapters (save a full checkpoint instead)";
        return false;
      }
    if (std::find(out.modulesToSave.begin(), out.modulesToSave.end(), module) ==
        out.modulesToSave.end())
      out.modulesToSave.push_back(module);
  }
  for (int p : m.params) {
    const std::string &name = m.buffers[p].name;
    bool whole = false;
    for (const std::string &module : out.modulesToSave)
      whole = whole || startsWith(name, module + ".");
    if (m.isAdapter(name) || whole)
      out.params.push_back(p);
  }
  return true;
}

/// PEFT's target_modules: the adapted modules by name. A list entry also
/// selects every module whose name ends with "." + entry, so where another
/// module's name would be caught too, a regex that PEFT matches against
/// whole names (re.fullmatch) names exactly the adapted ones.
nlohmann::json targetModules(const Model &m) {
  const Lora &lora = *m.lora;
  std::vector<std::string> modules;
  for (int p : m.params)
    for (std::string name = m.buffers[p].name; !(name = moduleOf(name)).empty();)
      if (std::find(modules.begin(), modules.end(), name) == modules.end())
        modules.push_back(name);
  bool ambiguous = false;
  for (const std::string &target : lora.modules)
    for (const std::string &other : modules)
      if (endsWith(other, "." + target) &&
          std::find(lora.modules.begin(), lora.modules.end(), other) == lora.modules.end())
        ambiguous = true;
  if (!ambiguous)
    return lora.modules;
  std::string regex;
  for (const std::string &target : lora.modules) {
    regex += regex.empty() ? "" : "|";
    for (char c : target) {
      if (std::strchr(".^$*+?()[]{}|\\", c))
        regex += '\\';
      regex += c;
    }
  }
  return regex;
}

/// adapter_config.json: LoraConfig's fields with the values of this step,
/// the rest at PEFT's defaults.
std::string adapterConfig(const Model &m, const AdapterContents &contents) {
  const Lora &lora = *m.lora;
  nlohmann::json config; // sorted keys, as PeftConfig.save_pretrained
  config["peft_type"] = "LORA";
  config["task_type"] = nullptr;
  config["base_model_name_or_path"] = nullptr;
  config["revision"] = nullptr;
  config["auto_mapping"] = nullptr;
  config["inference_mode"] = true;
  config["r"] = lora.r;
  if (lora.alpha == std::floor(lora.alpha) && std::fabs(lora.alpha) < 9.0e15)
    config["lora_alpha"] = static_cast<int64_t>(lora.alpha);
  else
    config["lora_alpha"] = lora.alpha;
  config["lora_dropout"] = lora.dropout;
  config["target_modules"] = targetModules(m);
  config["exclude_modules"] = nullptr;
  config["use_rslora"] = lora.rslora;
  config["use_dora"] = lora.dora;
  config["bias"] = "none";
  config["lora_bias"] = false;
  config["fan_in_fan_out"] = false;
  config["init_lora_weights"] = true;
  config["modules_to_save"] = contents.modulesToSave.empty()
                                  ? nlohmann::json(nullptr)
                                  : nlohmann::json(contents.modulesToSave);
  config["rank_pattern"] = nlohmann::json::object();
  config["alpha_pattern"] = nlohmann::json::object();
  config["layers_to_transform"] = nullptr;
  config["layers_pattern"] = nullptr;
  config["layer_replication"] = nullptr;
  config["loftq_config"] = nlohmann::json::object();
  config["megatron_config"] = nullptr;
  config["megatron_core"] = "megatron.core";
  return config.dump(2);
}

/// A writable directory: created if missing, then probed with a file.
bool checkDirectory(const std::string &dir, std::string &error) {
  if (!makeDirectories(dir, error))
    return false;
  return probeWritable(dir, error);
}

bool readText(const std::string &path, std::string &text, std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  text = s.str();
  return true;
}

std::string jsonNumber(double v) {
  return nlohmann::json(v == std::floor(v) && std::fabs(v) < 9.0e15
                            ? nlohmann::json(static_cast<int64_t>(v))
                            : nlohmann::json(v))
      .dump();
}

/// The fields of an adapter_config.json that change what the adapters
/// compute must equal the step's; absent fields take PEFT's defaults.
ftc_status checkConfig(const Lora &lora, const nlohmann::json &config,
                       const std::string &path) {
  auto bad = [&](ftc_status status, const std::string &what) {
    return fail(status, "'" + path + "': " + what);
  };
  auto get = [&](const char *field, nlohmann::json fallback) {
    return config.contains(field) ? config[field] : fallback;
  };
  nlohmann::json type = get("peft_type", nullptr);
  if (!type.is_string())
    return bad(FTC_ERROR_FORMAT, "peft_type is missing: not a PEFT adapter config");
  if (type != "LORA")
    return bad(FTC_ERROR_MISMATCH, "peft_type is " + type.dump() + "; ftc reads LORA adapters");
  nlohmann::json r = get("r", 8);
  if (!r.is_number_integer())
    return bad(FTC_ERROR_FORMAT, "r must be an integer, got " + r.dump());
  if (r.get<int64_t>() != lora.r)
    return bad(FTC_ERROR_MISMATCH, "r is " + r.dump() + "; this step.so was compiled with r = " +
                                       std::to_string(lora.r) + " (ftc --lora-rank)");
  nlohmann::json alpha = get("lora_alpha", 8);
  if (!alpha.is_number())
    return bad(FTC_ERROR_FORMAT, "lora_alpha must be a number, got " + alpha.dump());
  if (std::fabs(alpha.get<double>() - lora.alpha) > 1e-9 * std::max(1.0, std::fabs(lora.alpha)))
    return bad(FTC_ERROR_MISMATCH, "lora_alpha is " + alpha.dump() +
                                       "; this step.so was compiled with lora_alpha = " +
                                       jsonNumber(lora.alpha) + " (ftc --lora-alpha)");
  struct Flag {
    const char *field;
    bool compiled;
    const char *option;
  };
  for (Flag f : {Flag{"use_rslora", lora.rslora, "ftc --lora-rslora"},
                 Flag{"use_dora", lora.dora, "ftc --lora-variant=dora"}}) {
    nlohmann::json v = get(f.field, false);
    if (!v.is_boolean())
      return bad(FTC_ERROR_FORMAT, std::string(f.field) + " must be true or false, got " + v.dump());
    if (v.get<bool>() != f.compiled)
      return bad(FTC_ERROR_MISMATCH, std::string(f.field) + " is " + v.dump() +
                                         "; this step.so was compiled with " + f.field + " " +
                                         (f.compiled ? "true" : "false") + " (" + f.option + ")");
  }
  for (const char *field : {"rank_pattern", "alpha_pattern"}) {
    nlohmann::json v = get(field, nlohmann::json::object());
    if (!v.is_null() && !(v.is_object() && v.empty()))
      return bad(FTC_ERROR_MISMATCH, std::string(field) + " is " + v.dump() +
                                         ": ftc compiles one r and lora_alpha for every module");
  }
  if (nlohmann::json v = get("fan_in_fan_out", false); v != false)
    return bad(FTC_ERROR_MISMATCH, "fan_in_fan_out is " + v.dump() +
                                       ": ftc's weights are [out, in] (nn.Linear)");
  if (nlohmann::json v = get("bias", "none"); v != "none")
    return bad(FTC_ERROR_MISMATCH, "bias is " + v.dump() + ": ftc reads bias \"none\" only");
  nlohmann::json keep = get("modules_to_save", nullptr);
  if (!keep.is_null() && !keep.is_array())
    return bad(FTC_ERROR_FORMAT, "modules_to_save must be a list, got " + keep.dump());
  for (const auto &name : keep.is_array() ? keep : nlohmann::json::array())
    if (!name.is_string())
      return bad(FTC_ERROR_FORMAT, "modules_to_save must name modules, got " + name.dump());
  return FTC_OK;
}

bool isFloat(ftc_dtype dtype) {
  return dtype == FTC_F32 || dtype == FTC_F64 || dtype == FTC_F16 || dtype == FTC_BF16;
}

} // namespace

extern "C" {

ftc_status ftc_check_save(const char *kind, const char *path) {
  if (!kind || !path)
    return fail(FTC_ERROR_ARGUMENT, "kind or path is null");
  const Model &m = model();
  std::string what = kind, error;
  if (what == "adapters" || what == "merged") {
    if (!m.lora)
      return fail(FTC_ERROR_UNSUPPORTED, noAdapters());
    if (what == "adapters") {
      AdapterContents contents;
      if (!planAdapterFile(m, contents, error))
        return fail(FTC_ERROR_UNSUPPORTED, error);
      if (!checkDirectory(path, error))
        return fail(FTC_ERROR_IO, error);
      return FTC_OK;
    }
  } else if (what != "checkpoint") {
    return fail(FTC_ERROR_ARGUMENT, "unknown kind '" + what +
                                        "' (expected checkpoint, adapters or merged)");
  }
  std::string file = path;
  size_t slash = file.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
  if (!probeWritable(dir, error))
    return fail(FTC_ERROR_IO, error);
  return FTC_OK;
}

ftc_status ftc_save_adapters(const ftc_state *state, const char *dir) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current.
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/false);
      status != FTC_OK)
    return status;
  if (!dir)
    return fail(FTC_ERROR_ARGUMENT, "the directory is null");
  const Model &m = model();
  if (!m.lora)
    return fail(FTC_ERROR_UNSUPPORTED, noAdapters());
  AdapterContents contents;
  std::string error;
  if (!planAdapterFile(m, contents, error))
    return fail(FTC_ERROR_UNSUPPORTED, error);
  std::vector<TensorView> tensors;
  nlohmann::ordered_json written = nlohmann::ordered_json::array();
  for (int p : contents.params) {
    const Buffer &b = m.buffers[p];
    tensors.push_back({peftPrefix + b.name, b.dtype, b.shape, state->pointers[p], b.bytes()});
    written.push_back(peftPrefix + b.name);
  }
  std::string weights = joinPath(dir, weightsFile), config = joinPath(dir, configFile);
  StagedFiles files;
  if (!makeDirectories(dir, error) || !files.addSafetensors(weights, tensors, error) ||
      !files.addText(config, adapterConfig(m, contents), error) || !files.commit(error))
    return fail(FTC_ERROR_IO, error);
  nlohmann::ordered_json report = {{"action", "save_adapters"},
                                   {"path", dir},
                                   {"files", {weights, config}},
                                   {"written", written},
                                   {"modules_to_save", contents.modulesToSave}};
  state->report = report.dump();
  return FTC_OK;
}

ftc_status ftc_load_adapters(ftc_state *state, const char *dir) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current (and newer once written).
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/true);
      status != FTC_OK)
    return status;
  // A sharded optimizer: the state of the loaded parameters is zeroed
  // whole, the others' parts dropped after.
  comm::Unsharded whole(*state);
  if (!dir)
    return fail(FTC_ERROR_ARGUMENT, "the directory is null");
  const Model &m = model();
  if (!m.lora)
    return fail(FTC_ERROR_UNSUPPORTED, noAdapters());
  const Lora &lora = *m.lora;
  std::string configPath = joinPath(dir, configFile), weightsPath = joinPath(dir, weightsFile);
  std::string text, error;
  if (!readText(configPath, text, error))
    return fail(FTC_ERROR_IO, error);
  nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded() || !config.is_object())
    return fail(FTC_ERROR_FORMAT, "'" + configPath + "' is not a JSON object");
  if (ftc_status status = checkConfig(lora, config, configPath); status != FTC_OK)
    return status;
  std::vector<std::string> modulesToSave;
  if (config.contains("modules_to_save") && config["modules_to_save"].is_array())
    modulesToSave = config["modules_to_save"].get<std::vector<std::string>>();
  for (const std::string &module : modulesToSave) {
    bool found = false;
    for (int p : m.params)
      found = found || endsWith(moduleOf(m.buffers[p].name), module);
    if (!found)
      return fail(FTC_ERROR_MISMATCH, "'" + configPath + "': modules_to_save names '" +
                                          module + "', which no parameter of this model belongs to");
  }
  ftc_status status = FTC_OK;
  std::unique_ptr<SafetensorsFile> file = readSafetensors(weightsPath, error, status);
  if (!file)
    return fail(status, error);

  // Every tensor of the file names an adapter of this step or a parameter
  // of a module in modules_to_save, with the parameter's shape.
  std::vector<std::pair<int, const LoadedTensor *>> plan;
  std::vector<bool> set(m.buffers.size(), false);
  nlohmann::ordered_json converted = nlohmann::ordered_json::array();
  for (const LoadedTensor &t : file->tensors) {
    std::string name = startsWith(t.name, peftPrefix) ? t.name.substr(std::strlen(peftPrefix))
                                                      : t.name;
    int p = m.findParam(name);
    bool saved = false;
    for (const std::string &module : modulesToSave)
      saved = saved || (p >= 0 && endsWith(moduleOf(name), module));
    if (p < 0 || !(m.isAdapter(name) || saved)) {
      std::string message = "tensor '" + t.name + "' in '" + weightsPath + "' is ";
      if (name.find(".lora_") != std::string::npos)
        message += "a LoRA adapter this step.so does not have: it adapts " + adaptedList(lora) +
                   " (ftc --lora-targets='" + lora.targets + "')";
      else
        message += "neither a LoRA adapter of this model nor a parameter of a module in "
                   "modules_to_save";
      return fail(FTC_ERROR_MISMATCH, message);
    }
    const Buffer &b = m.buffers[p];
    if (t.shape != b.shape || !isFloat(t.dtype) || !isFloat(b.dtype))
      return fail(FTC_ERROR_MISMATCH, "tensor '" + t.name + "' in '" + weightsPath + "' is " +
                                          describeTensor(t.dtype, t.shape) +
                                          "; this model expects " +
                                          describeTensor(b.dtype, b.shape));
    if (t.dtype != b.dtype)
      converted.push_back({{"name", b.name}, {"from", dtypeName(t.dtype)}});
    plan.push_back({p, &t});
    set[p] = true;
  }
  for (int p : m.params)
    if (m.isAdapter(m.buffers[p].name) && !set[p])
      return fail(FTC_ERROR_MISMATCH,
                  "'" + weightsPath + "' has no tensor '" + peftPrefix + m.buffers[p].name +
                      "' (this step.so adapts " + adaptedList(lora) + ")");

  // Commit; the optimizer state of what was replaced starts afresh.
  for (auto [index, t] : plan) {
    const Buffer &b = m.buffers[index];
    if (t->dtype == b.dtype) {
      std::memcpy(state->pointers[index], t->data, b.bytes());
    } else {
      // Through an aligned copy: a file's tensors need not be aligned.
      std::vector<double> source((t->bytes + sizeof(double) - 1) / sizeof(double));
      std::memcpy(source.data(), t->data, t->bytes);
      for (int64_t i = 0; i < b.numel; ++i)
        storeElement(b.dtype, state->pointers[index], i, loadElement(t->dtype, source.data(), i));
    }
    for (int s : m.slots)
      if (m.buffers[s].of == b.name)
        std::memset(state->pointers[s], 0, m.buffers[s].bytes());
  }
  nlohmann::ordered_json loaded = nlohmann::ordered_json::array(),
                         kept = nlohmann::ordered_json::array();
  for (int p : m.params)
    (set[p] ? loaded : kept).push_back(m.buffers[p].name);
  nlohmann::ordered_json report = {{"action", "load_adapters"},
                                   {"path", dir},
                                   {"loaded", loaded},
                                   {"kept", kept},
                                   {"skipped", nlohmann::ordered_json::array()},
                                   {"converted", converted},
                                   {"optimizer", 0},
                                   {"step", stepCount(m, *state)}};
  state->report = report.dump();
  return FTC_OK;
}

ftc_status ftc_save_merged(const ftc_state *state, const char *path) {
  if (ftc_status status = checkState(state); status != FTC_OK)
    return status;
  // The host's copy of every buffer, current.
  if (ftc_status status = cuda::hostAccessAll(*state, /*write=*/false);
      status != FTC_OK)
    return status;
  if (!path)
    return fail(FTC_ERROR_ARGUMENT, "the path is null");
  const Model &m = model();
  if (!m.lora)
    return fail(FTC_ERROR_UNSUPPORTED, noAdapters());
  const Lora &lora = *m.lora;
  // A stored base (QLoRA's nf4, bf16) is merged from its dequantized
  // values, the weights the step trained with, so the merged f32 model is
  // the trained one up to f32 rounding. Stored back as nf4 it would not be:
  // the report gives what requantizing would change (PEFT's merge into a
  // 4-bit layer requantizes).

  struct Merged {
    std::string module;
    int weight = -1;
    std::vector<float> values;
    double maxChange = 0.0, maxWeight = 0.0;
    double requantization = -1.0; // nf4 bases: max |nf4(W') - W'|
  };
  std::vector<Merged> merged;
  auto value = [&](int index, int64_t i) {
    return loadElement(m.buffers[index].dtype, state->pointers[index], i);
  };
  for (const std::string &module : lora.modules) {
    Merged out;
    out.module = module;
    out.weight = m.findParam(module + ".weight");
    int a = m.findParam(module + adapterSuffixes[0]), b = m.findParam(module + adapterSuffixes[1]);
    int magnitude = m.findParam(module + adapterSuffixes[2]);
    if (out.weight < 0 || a < 0 || b < 0)
      return fail(FTC_ERROR_FORMAT, "the model description adapts '" + module +
                                        "', but this step.so lacks its weight or adapters");
    const Buffer &w = m.buffers[out.weight];
    const std::vector<int64_t> &shape = logicalShape(w);
    int64_t rows = shape.at(0), cols = shape.at(1), r = m.buffers[a].shape.at(0);
    std::vector<float> base = logicalValues(m, *state, out.weight);
    std::vector<double> row(cols);
    out.values.resize(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i) {
      // V = W + s B A, one output row at a time.
      for (int64_t j = 0; j < cols; ++j)
        row[j] = 0.0;
      for (int64_t k = 0; k < r; ++k) {
        double bik = value(b, i * r + k);
        for (int64_t j = 0; j < cols; ++j)
          row[j] += bik * value(a, k * cols + j);
      }
      double norm = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        row[j] = base[i * cols + j] + lora.scaling * row[j];
        norm += row[j] * row[j];
      }
      // DoRA: the row's direction at the learned magnitude.
      double factor = magnitude >= 0 ? value(magnitude, i) / std::sqrt(norm) : 1.0;
      for (int64_t j = 0; j < cols; ++j) {
        double original = base[i * cols + j];
        float v = static_cast<float>(factor * row[j]);
        if (!std::isfinite(v))
          return fail(FTC_ERROR_ARGUMENT, "the merged weight of '" + module + "' is not finite "
                                          "(row " + std::to_string(i) + ")");
        out.values[i * cols + j] = v;
        out.maxChange = std::max(out.maxChange, std::fabs(static_cast<double>(v) - original));
        out.maxWeight = std::max(out.maxWeight, std::fabs(original));
      }
    }
    if (w.storage == "nf4") {
      int64_t n = static_cast<int64_t>(out.values.size());
      std::vector<uint8_t> codes(static_cast<size_t>(n / 2));
      std::vector<float> scales(static_cast<size_t>((n + kNf4Block - 1) / kNf4Block));
      std::vector<float> back(out.values.size());
      quantizeNf4(out.values.data(), n, codes.data(), scales.data());
      dequantizeNf4(codes.data(), scales.data(), n, back.data());
      out.requantization = 0.0;
      for (int64_t i = 0; i < n; ++i)
        out.requantization = std::max(
            out.requantization, std::fabs(static_cast<double>(back[i]) - out.values[i]));
    }
    merged.push_back(std::move(out));
  }

  // The base model's parameters, in its order: adapted weights merged, the
  // adapters left out.
  // Stored frozen weights without adapters are written dequantized; their
  // nf4 scales are not tensors of the base model.
  std::vector<TensorView> tensors;
  std::vector<std::vector<float>> dequantized;
  dequantized.reserve(m.params.size());
  nlohmann::ordered_json written = nlohmann::ordered_json::array();
  for (int p : m.params) {
    const Buffer &b = m.buffers[p];
    bool scales = !b.scalesOf.empty();
    if (m.isAdapter(b.name) || scales)
      continue;
    auto it = std::find_if(merged.begin(), merged.end(),
                           [&](const Merged &x) { return x.weight == p; });
    if (it != merged.end()) {
      tensors.push_back({b.name, FTC_F32, logicalShape(b), it->values.data(),
                         it->values.size() * sizeof(float)});
    } else if (!b.storage.empty()) {
      dequantized.push_back(logicalValues(m, *state, p));
      tensors.push_back({b.name, FTC_F32, b.logicalShape, dequantized.back().data(),
                         dequantized.back().size() * sizeof(float)});
    } else {
      tensors.push_back({b.name, b.dtype, b.shape, state->pointers[p], b.bytes()});
    }
    written.push_back(b.name);
  }
  std::string error;
  if (!writeSafetensors(path, tensors, error))
    return fail(FTC_ERROR_IO, error);
  nlohmann::ordered_json modules = nlohmann::ordered_json::array();
  double maxChange = 0.0;
  for (const Merged &x : merged) {
    modules.push_back({{"module", x.module},
                       {"weight", m.buffers[x.weight].name},
                       {"max_abs_change", x.maxChange},
                       {"max_abs_weight", x.maxWeight}});
    if (x.requantization >= 0)
      modules.back()["nf4_requantization_error"] = x.requantization;
    maxChange = std::max(maxChange, x.maxChange);
  }
  nlohmann::ordered_json report = {{"action", "save_merged"},
                                   {"path", path},
                                   {"written", written},
                                   {"merged", modules},
                                   {"max_abs_change", maxChange}};
  state->report = report.dump();
  return FTC_OK;
}

} // extern "C"
