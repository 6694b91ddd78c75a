//===- ftc-train.cpp - trains with a compiled step.so ---------------------===//
//
//   ftc-train STEP.so (--data fashion-mnist | --data FILE.safetensors |
//                      --data FILE.txt | --data FILE.bin | --synthetic)
//             [--steps N | --epochs N] [--seed S]
//             [--classes LIST] [--examples N] [--val-split F | --val-data FILE]
//             [--vocab bytes|chars] [--eval-every N] [--eval-batches M] [--save-best CKPT]
//             [--init CKPT [--init-partial] | --resume CKPT] [--load-adapters DIR]
//             [--save CKPT] [--save-adapters DIR] [--merge OUT.safetensors]
//             [--lr X] [--lr-schedule constant|linear|cosine] [--warmup-steps N]
//             [--min-lr X] [--decay-steps N] [--log FILE.jsonl] [--plot FILE.svg|.png]
//             [--accumulate K] [--warmup N] [--sample N] [--threads N]
//             [--mpi [--bucket-mb X] [--comm-timeout S] [--shard-optimizer]]
//
// Talks to step.so through ftc.h only (dlopen). Batch i of the run is batch
// i of the data source, counted from the state's step counter, so a resumed
// run sees the batches an uninterrupted one would have. Every output is
// checked for writability before the first step, and written after the
// last.
//
//===----------------------------------------------------------------------===//

#include "Data.h"
#include "Mpi.h"
#include "Nccl.h"
#include "Schedule.h"

#include "ftc.h"

#include "Dtype.h"
#include "Random.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <cerrno>
#include <dlfcn.h>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace ftc::train_tool;

namespace {

constexpr const char *usage =
    "usage: ftc-train STEP.so (--data fashion-mnist | --data FILE.safetensors |\n"
    "                 --data FILE.txt | --data FILE.bin | --synthetic)\n"
    "                 [--steps N | --epochs N] [--seed S]\n"
    "                 [--classes LIST] [--examples N] [--val-split F | --val-data FILE]\n"
    "                 [--vocab bytes|chars] [--eval-every N] [--eval-batches M] [--save-best CKPT]\n"
    "                 [--init CKPT [--init-partial] | --resume CKPT] [--load-adapters DIR]\n"
    "                 [--save CKPT] [--save-adapters DIR] [--merge OUT.safetensors]\n"
    "                 [--lr X] [--lr-schedule constant|linear|cosine] [--warmup-steps N]\n"
    "                 [--min-lr X] [--decay-steps N] [--log FILE.jsonl] [--plot FILE.svg|.png]\n"
    "                 [--accumulate K] [--warmup N] [--sample N] [--threads N]\n"
    "                 [--mpi [--bucket-mb X] [--comm-timeout S] [--shard-optimizer]]\n"
    "  --classes LIST       fashion-mnist: train and test on these classes only, e.g.\n"
    "                       0-4 or 0,2,7-9 (labels unchanged: each below the model's\n"
    "                       number of classes)\n"
    "  --examples N         fashion-mnist: train on the first N training examples (of\n"
    "                       those classes); an epoch is N / batch steps\n"
    "  --val-split F        text: do not train on the last fraction F of the tokens (e.g.\n"
    "                       0.1), nanoGPT's split (--holdout is the same); the validation\n"
    "                       loss is printed before and after training\n"
    "  --val-data FILE      text: validate on another file (same vocabulary) instead\n"
    "  --vocab KIND         text: bytes (the default: 256 ids) or chars, the sorted set\n"
    "                       of the UTF-8 characters of --data, saved beside each\n"
    "                       checkpoint as CKPT.vocab.json and read back from the\n"
    "                       --init or --resume checkpoint's\n"
    "  --eval-every N       the validation loss every N steps (and in --log)\n"
    "  --eval-batches M     evaluate on the first M batches of the validation text\n"
    "                       (default: all of it)\n"
    "  --save-best CKPT     a checkpoint at each evaluation that beats the best so far\n"
    "  --init CKPT          parameters from an ftc checkpoint or a PyTorch state_dict\n"
    "                       (safetensors); a LoRA step's adapters may be absent\n"
    "  --init-partial       with --init: load the tensors whose name, dtype and shape\n"
    "                       fit, keep the other parameters initialized, list the rest\n"
    "  --resume CKPT        parameters, optimizer state and step counter\n"
    "  --load-adapters DIR  LoRA adapters in PEFT's layout (adapter_model.safetensors,\n"
    "                       adapter_config.json), after --init\n"
    "  --save CKPT          a checkpoint after training (for --resume)\n"
    "  --save-adapters DIR  the LoRA adapters after training, in PEFT's layout\n"
    "  --merge OUT          the base model with the adapters folded in, a state_dict\n"
    "  --lr X               the peak learning rate (default: the one compiled, ftc --lr)\n"
    "  --lr-schedule KIND   constant (default), linear or cosine decay to --min-lr\n"
    "  --warmup-steps N     a linear warmup first: update s takes lr * (s + 1) / (N + 1)\n"
    "  --min-lr X           where linear and cosine decay end (default 0)\n"
    "  --decay-steps N      the update count where the decay reaches --min-lr (default:\n"
    "                       the end of this run); the schedule follows the step counter,\n"
    "                       so --resume continues it exactly\n"
    "  --log FILE.jsonl     one JSON object per step: step, loss, lr, grad_norm (a step\n"
    "                       compiled with --clip-grad-norm), time_ms; appended to with\n"
    "                       --resume\n"
    "  --plot FILE          the loss curves (training, validation) and the learning rate\n"
    "                       drawn by gnuplot at the end, as .svg or .png\n"
    "  --accumulate K       each step: K batches' gradients summed, one update from their\n"
    "                       mean (a K times larger batch); step s reads batches\n"
    "                       sK to sK + K - 1\n"
    "  --warmup N           steps left out of the median step time (default 0)\n"
    "  --mpi                data parallel, one process per rank under mpirun -np N: each\n"
    "                       rank trains on its own batches (step s, batch k of rank r\n"
    "                       reads batch (sK + k)N + r: a global batch N times larger),\n"
    "                       the gradients averaged over the ranks (MPI_Allreduce) while\n"
    "                       the backward runs; rank 0 prints and writes every file.\n"
    "                       A CUDA step.so: one GPU per rank (FTC_CUDA_DEVICE, default\n"
    "                       the local rank), the gradients summed by NCCL (libnccl.so.2,\n"
    "                       or FTC_LIBNCCL) on the GPU\n"
    "  --bucket-mb X        --mpi: gradients summed in buckets of about X MiB (default 1)\n"
    "  --comm-timeout S     --mpi: a rank waiting S seconds for the others (default 300)\n"
    "                       ends the job with an error\n"
    "  --shard-optimizer    --mpi, CPU: ZeRO stage 1: each rank keeps and updates the\n"
    "                       optimizer state of about 1/N of the parameters, which\n"
    "                       are then all-gathered; checkpoints are written whole\n";

/// The process's resident set now (/proc/self/statm), in bytes.
int64_t residentBytes() {
  long pages = 0, resident = 0;
  if (FILE *f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

/// The largest resident set the process has had (VmHWM), in bytes. Not
/// getrusage's ru_maxrss: Linux keeps that across exec, so under a parent
/// that had grown large (a Python test loading PyTorch) it is the parent's.
int64_t peakResidentBytes() {
  long kib = 0;
  if (FILE *f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmHWM: %ld kB", &kib) == 1)
        break;
    std::fclose(f);
  }
  return static_cast<int64_t>(kib) * 1024;
}

/// Under --mpi: the job's communicator, which an error on any rank ends.
Mpi *activeMpi = nullptr;

[[noreturn]] void die(const std::string &message) {
  if (activeMpi)
    activeMpi->abort(message);
  fmt::print(stderr, "ftc-train: error: {}\n", message);
  std::exit(1);
}

/// The functions of the C ABI ftc-train uses.
#define FTC_TRAIN_API(X)                                                       \
  X(ftc_abi_version) X(ftc_num_inputs) X(ftc_input_info) X(ftc_num_outputs)    \
  X(ftc_output_info) X(ftc_num_params) X(ftc_create) X(ftc_destroy)            \
  X(ftc_step) X(ftc_eval) X(ftc_output_data) X(ftc_step_count) X(ftc_save)     \
  X(ftc_load) X(ftc_reset_optimizer) X(ftc_set_training) X(ftc_last_error)  \
  X(ftc_set_num_threads) X(ftc_buffer_bytes) X(ftc_param_info) X(ftc_param_data)

/// Later additions, resolved when present: a step.so built before them
/// still trains, and fails only when asked for what it lacks.
#define FTC_TRAIN_OPTIONAL_API(X)                                              \
  X(ftc_load_partial) X(ftc_last_report) X(ftc_save_adapters)                  \
  X(ftc_load_adapters) X(ftc_save_merged) X(ftc_check_save) X(ftc_loss_scale)     \
  X(ftc_skipped_steps) X(ftc_set_lr) X(ftc_get_lr) X(ftc_grad_norm) X(ftc_zero_grad) \
  X(ftc_accumulate_grad) X(ftc_apply) X(ftc_set_comm) X(ftc_shard_optimizer) X(ftc_optimizer_bytes) \
  X(ftc_device_stream)

/// The C ABI of a step.so, resolved with dlsym.
struct Api {
#define FTC_DECLARE(name) decltype(&::name) name = nullptr;
  FTC_TRAIN_API(FTC_DECLARE)
  FTC_TRAIN_OPTIONAL_API(FTC_DECLARE)
#undef FTC_DECLARE
  std::string path;

  explicit Api(const std::string &path) {
    // A bare name is a file here, not a library to search for.
    std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    void *lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      die(fmt::format("cannot load '{}': {}", path, dlerror()));
    auto get = [&](auto &fn, const char *name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (!fn)
        die(fmt::format("'{}' is not an ftc step library: it lacks {}", path, name));
    };
#define FTC_RESOLVE(name) get(name, #name);
    FTC_TRAIN_API(FTC_RESOLVE)
#undef FTC_RESOLVE
#define FTC_RESOLVE_OPTIONAL(name)                                             \
  name = reinterpret_cast<decltype(name)>(dlsym(lib, #name));
    FTC_TRAIN_OPTIONAL_API(FTC_RESOLVE_OPTIONAL)
#undef FTC_RESOLVE_OPTIONAL
    this->path = path;
    if (ftc_abi_version() != FTC_ABI_VERSION)
      die(fmt::format("'{}' has ABI version {}; this ftc-train speaks {}", path,
                      ftc_abi_version(), FTC_ABI_VERSION));
  }

  void check(ftc_status status, const std::string &what) const {
    if (status != FTC_OK)
      die(fmt::format("{}: {}", what, ftc_last_error()));
  }

  /// An optional entry `fn` that `flag` needs.
  template <typename Fn> Fn need(Fn fn, const char *name, const std::string &flag) const {
    if (!fn)
      die(fmt::format("{}: '{}' lacks {}; compile it again with this ftc", flag, path, name));
    return fn;
  }
};

struct Options {
  std::string library, data, init, resume, save, loadAdapters, saveAdapters, merge;
  bool synthetic = false, initPartial = false;
  int64_t steps = -1, epochs = -1, warmup = 0, sample = 0, threads = 0;
  FashionMnistSubset subset; // --classes, --examples
  std::string classesText;
  double holdout = 0.0;
  uint64_t seed = 0;
  // Validation and the vocabulary of text.
  std::string valData, vocab = "bytes", saveBest;
  int64_t evalEvery = 0, evalBatches = 0;
  int64_t accumulate = 1;
  // Data parallelism.
  bool mpi = false, shardOptimizer = false;
  double bucketMb = 1.0, commTimeout = 300.0;
  // The learning-rate schedule (nan and -1: not given).
  double lr = std::nan(""), minLr = std::nan("");
  std::string lrSchedule, log, plot;
  int64_t warmupSteps = -1, decaySteps = -1;
  /// Whether the run sets the learning rate itself (needs ftc_set_lr).
  bool schedules() const {
    return !std::isnan(lr) || !lrSchedule.empty() || warmupSteps >= 0 || !std::isnan(minLr) ||
           decaySteps >= 0;
  }
};

int64_t parseCount(const std::string &flag, const std::string &value) {
  char *end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end || n < 0)
    die(fmt::format("{} needs a non-negative integer, got '{}'", flag, value));
  return n;
}

/// --classes: class numbers and ranges, "0-4" or "0,2,7-9", sorted and
/// without repeats.
std::vector<int32_t> parseClasses(const std::string &value) {
  auto bad = [&]() {
    die(fmt::format("--classes needs class numbers and ranges like 0-4 or 0,2,7-9, got '{}'",
                    value));
  };
  auto number = [&](const std::string &text) {
    if (text.empty() || text.size() > 6 ||
        text.find_first_not_of("0123456789") != std::string::npos)
      bad();
    return static_cast<int32_t>(std::stol(text));
  };
  std::vector<int32_t> classes;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    std::string item = value.substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
    size_t dash = item.find('-');
    int32_t low = number(item.substr(0, dash));
    int32_t high = dash == std::string::npos ? low : number(item.substr(dash + 1));
    if (high < low)
      die(fmt::format("--classes: the range {} runs backwards", item));
    if (high >= FashionMnist::numClasses)
      die(fmt::format("--classes {}: Fashion-MNIST's classes are 0-{}", high,
                      FashionMnist::numClasses - 1));
    for (int32_t c = low; c <= high; ++c)
      classes.push_back(c);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  return classes;
}

/// --lr, --min-lr: a finite non-negative number.
double parseRate(const std::string &flag, const std::string &value) {
  char *end = nullptr;
  double x = std::strtod(value.c_str(), &end);
  if (value.empty() || *end || !(x >= 0.0) || !std::isfinite(x))
    die(fmt::format("{} needs a learning rate (a number >= 0, e.g. 1e-3), got '{}'", flag,
                    value));
  return x;
}

/// --holdout: a fraction strictly between 0 and 1.
double parseFraction(const std::string &flag, const std::string &value) {
  char *end = nullptr;
  double f = std::strtod(value.c_str(), &end);
  if (value.empty() || *end || !(f > 0.0 && f < 1.0))
    die(fmt::format("{} needs a fraction of the text between 0 and 1 (e.g. 0.1), got '{}'",
                    flag, value));
  return f;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i], value;
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", usage);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      if (!o.library.empty())
        die(fmt::format("unexpected argument '{}'\n{}", arg, usage));
      o.library = arg;
      continue;
    }
    size_t eq = arg.find('=');
    bool hasValue = eq != std::string::npos;
    if (hasValue) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto next = [&]() -> std::string {
      if (hasValue)
        return value;
      if (i + 1 >= args.size())
        die(fmt::format("{} needs a value\n{}", arg, usage));
      return args[++i];
    };
    if (arg == "--data") o.data = next();
    else if (arg == "--synthetic") o.synthetic = true;
    else if (arg == "--steps") o.steps = parseCount(arg, next());
    else if (arg == "--epochs") o.epochs = parseCount(arg, next());
    else if (arg == "--seed") o.seed = static_cast<uint64_t>(parseCount(arg, next()));
    else if (arg == "--classes") {
      o.classesText = next();
      o.subset.classes = parseClasses(o.classesText);
    }
    else if (arg == "--examples") {
      o.subset.examples = parseCount(arg, next());
      if (o.subset.examples == 0)
        die("--examples needs at least one example");
    }
    else if (arg == "--holdout" || arg == "--val-split") o.holdout = parseFraction(arg, next());
    else if (arg == "--val-data") o.valData = next();
    else if (arg == "--vocab") {
      o.vocab = next();
      if (o.vocab != "bytes" && o.vocab != "chars")
        die(fmt::format("--vocab needs bytes or chars, got '{}'", o.vocab));
    }
    else if (arg == "--eval-every") {
      o.evalEvery = parseCount(arg, next());
      if (o.evalEvery == 0)
        die("--eval-every needs at least 1 step");
    }
    else if (arg == "--eval-batches") {
      o.evalBatches = parseCount(arg, next());
      if (o.evalBatches == 0)
        die("--eval-batches needs at least 1 batch");
    }
    else if (arg == "--save-best") o.saveBest = next();
    else if (arg == "--accumulate") {
      o.accumulate = parseCount(arg, next());
      if (o.accumulate == 0)
        die("--accumulate needs at least 1 batch per step");
    }
    else if (arg == "--init") o.init = next();
    else if (arg == "--init-partial") o.initPartial = true;
    else if (arg == "--load-adapters") o.loadAdapters = next();
    else if (arg == "--save-adapters") o.saveAdapters = next();
    else if (arg == "--merge") o.merge = next();
    else if (arg == "--resume") o.resume = next();
    else if (arg == "--save") o.save = next();
    else if (arg == "--warmup") o.warmup = parseCount(arg, next());
    else if (arg == "--lr") o.lr = parseRate(arg, next());
    else if (arg == "--min-lr") o.minLr = parseRate(arg, next());
    else if (arg == "--lr-schedule") {
      o.lrSchedule = next();
      Schedule::Kind kind;
      if (!parseScheduleKind(o.lrSchedule, kind))
        die(fmt::format("--lr-schedule needs constant, linear or cosine, got '{}'",
                        o.lrSchedule));
    }
    else if (arg == "--warmup-steps") o.warmupSteps = parseCount(arg, next());
    else if (arg == "--decay-steps") o.decaySteps = parseCount(arg, next());
    else if (arg == "--log") o.log = next();
    else if (arg == "--plot") {
      o.plot = next();
      std::string ext = o.plot.size() > 4 ? o.plot.substr(o.plot.size() - 4) : "";
      if (ext != ".svg" && ext != ".png")
        die(fmt::format("--plot writes .svg or .png, got '{}'", o.plot));
    }
    else if (arg == "--sample") o.sample = parseCount(arg, next());
    else if (arg == "--mpi") o.mpi = true;
    else if (arg == "--shard-optimizer") o.shardOptimizer = true;
    else if (arg == "--bucket-mb" || arg == "--comm-timeout") {
      std::string text = next();
      char *end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(v > 0) || !std::isfinite(v))
        die(fmt::format("{} needs a positive number, got '{}'", arg, text));
      (arg == "--bucket-mb" ? o.bucketMb : o.commTimeout) = v;
    }
    else if (arg == "--threads") {
      o.threads = parseCount(arg, next());
      if (o.threads == 0)
        die("--threads needs at least 1 thread");
    }
    else die(fmt::format("unknown option '{}'\n{}", arg, usage));
  }
  if (o.library.empty())
    die(fmt::format("no step library given\n{}", usage));
  if (o.synthetic == !o.data.empty())
    die("give exactly one of --data and --synthetic");
  if (o.steps >= 0 && o.epochs >= 0)
    die("give --steps or --epochs, not both");
  if (!o.init.empty() && !o.resume.empty())
    die("give --init or --resume, not both");
  if ((!o.classesText.empty() || o.subset.examples >= 0) && o.data != "fashion-mnist")
    die(fmt::format("{} selects Fashion-MNIST examples: it needs --data fashion-mnist",
                    o.classesText.empty() ? "--examples" : "--classes"));
  if (o.initPartial && o.init.empty())
    die("--init-partial needs --init CKPT");
  // The optimizer state of a resumed run belongs to the adapters it saved.
  if (!o.loadAdapters.empty() && !o.resume.empty())
    die("give --load-adapters with --init (or alone), not with --resume");
  if (o.holdout > 0 && !o.valData.empty())
    die("give --val-split or --val-data, not both");
  bool validating = o.holdout > 0 || !o.valData.empty();
  if (!validating && (o.evalEvery > 0 || o.evalBatches > 0 || !o.saveBest.empty()))
    die(fmt::format("{} evaluates on validation text: give --val-split F or --val-data FILE",
                    o.evalEvery > 0 ? "--eval-every" : o.evalBatches > 0 ? "--eval-batches"
                                                                         : "--save-best"));
  if (!o.saveBest.empty() && o.evalEvery == 0)
    die("--save-best keeps the checkpoint of the best evaluation: give --eval-every N");
  if (!o.mpi)
    for (const char *flag : {"--bucket-mb", "--comm-timeout", "--shard-optimizer"})
      for (int i = 1; i < argc; ++i)
        if (std::string(argv[i]).rfind(flag, 0) == 0)
          die(fmt::format("{} sets up data parallelism: it needs --mpi", flag));
  bool decaying = o.lrSchedule == "linear" || o.lrSchedule == "cosine";
  if (!decaying && (!std::isnan(o.minLr) || o.decaySteps >= 0))
    die(fmt::format("{} sets where a decay ends: it needs --lr-schedule=linear or cosine",
                    std::isnan(o.minLr) ? "--decay-steps" : "--min-lr"));
  return o;
}

/// "a, b, c" for a few names, "a, b, c, ... (N more)" for many.
std::string someNames(const std::vector<std::string> &names, size_t shown = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < shown; ++i)
    out += (i ? ", " : "") + names[i];
  if (names.size() > shown)
    out += fmt::format(", ... ({} more)", names.size() - shown);
  return out;
}

std::string plural(size_t n, const char *word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

/// The JSON of ftc_last_report.
nlohmann::json lastReport(const Api &api, ftc_state *state) {
  const char *text = api.ftc_last_report ? api.ftc_last_report(state) : "";
  nlohmann::json report = nlohmann::json::parse(text ? text : "", nullptr, false);
  return report.is_object() ? report : nlohmann::json::object();
}

std::vector<std::string> names(const nlohmann::json &list) {
  std::vector<std::string> out;
  for (const auto &entry : list)
    out.push_back(entry.is_string() ? entry.get<std::string>()
                                    : entry.value("name", std::string()));
  return out;
}

/// A load's summary from its report: what came from the file, what was
/// left at its initial value (named; the LoRA adapters called so), what of
/// the file was skipped and why. Optimizer state is only counted: --init
/// starts a fresh optimizer anyway.
void printLoad(const std::string &flag, const nlohmann::json &report) {
  std::vector<std::string> loaded = names(report.value("loaded", nlohmann::json::array())),
                           kept = names(report.value("kept", nlohmann::json::array()));
  bool init = flag == "--init";
  std::string line = fmt::format("{}: loaded {} from {}", flag, plural(loaded.size(), "parameter"),
                                 report.value("path", std::string()));
  if (!init)
    line += fmt::format(" ({})", someNames(loaded));
  if (init && !kept.empty()) {
    bool adapters = true;
    for (const std::string &name : kept) {
      bool adapter = false;
      for (const char *suffix : {".lora_A.weight", ".lora_B.weight", ".lora_magnitude_vector"})
        adapter = adapter || (name.size() > std::strlen(suffix) &&
                              name.compare(name.size() - std::strlen(suffix),
                                           std::string::npos, suffix) == 0);
      adapters = adapters && adapter;
    }
    line += fmt::format("; initialized {} ({}{})", kept.size(),
                        adapters ? "the LoRA adapters: " : "", someNames(kept));
  }
  fmt::print("{}\n", line);
  std::vector<std::string> converted, skipped;
  size_t state = 0;
  for (const auto &c : report.value("converted", nlohmann::json::array()))
    converted.push_back(fmt::format("{} from {}", c.value("name", std::string()),
                                    c.value("from", std::string())));
  for (const auto &s : report.value("skipped", nlohmann::json::array())) {
    if (s.value("reason", std::string()) == "state")
      ++state;
    else
      skipped.push_back(fmt::format("{} ({})", s.value("name", std::string()),
                                    s.value("detail", std::string())));
  }
  if (!converted.empty())
    fmt::print("{}: converted {} to the model's dtype: {}\n", flag,
               plural(converted.size(), "tensor"), someNames(converted));
  if (!skipped.empty())
    fmt::print("{}: skipped {} of the file: {}\n", flag, plural(skipped.size(), "tensor"),
               someNames(skipped, 8));
  if (state > 0)
    fmt::print("{}: did not take the file's optimizer state ({})\n", flag,
               plural(state, "tensor"));
}

/// Fails now, before any step, where an output could not be written later.
void checkOutputs(const Api &api, const Options &o) {
  struct Output {
    const std::string &path;
    const char *flag, *kind;
  };
  for (Output out : {Output{o.save, "--save", "checkpoint"},
                     Output{o.saveBest, "--save-best", "checkpoint"},
                     Output{o.saveAdapters, "--save-adapters", "adapters"},
                     Output{o.merge, "--merge", "merged"}}) {
    if (out.path.empty())
      continue;
    // A step.so older than the check still saves checkpoints.
    if (!api.ftc_check_save && out.kind == std::string("checkpoint"))
      continue;
    auto check = api.need(api.ftc_check_save, "ftc_check_save", out.flag);
    api.check(check(out.kind, out.path.c_str()), out.flag);
  }
}

/// The outputs after training: the LoRA adapters, the merged model.
void saveOutputs(const Api &api, ftc_state *state, const Options &o) {
  if (!o.saveAdapters.empty()) {
    auto save = api.need(api.ftc_save_adapters, "ftc_save_adapters", "--save-adapters");
    api.check(save(state, o.saveAdapters.c_str()),
              fmt::format("saving adapters to '{}'", o.saveAdapters));
    nlohmann::json report = lastReport(api, state);
    std::vector<std::string> written = names(report.value("written", nlohmann::json::array()));
    std::vector<std::string> kept = names(report.value("modules_to_save", nlohmann::json::array()));
    fmt::print("saved adapters to {} ({} in adapter_model.safetensors{}, adapter_config.json)\n",
               o.saveAdapters, plural(written.size(), "tensor"),
               kept.empty() ? std::string()
                            : fmt::format(" with modules_to_save {}", someNames(kept)));
  }
  if (!o.merge.empty()) {
    auto merge = api.need(api.ftc_save_merged, "ftc_save_merged", "--merge");
    api.check(merge(state, o.merge.c_str()), fmt::format("merging into '{}'", o.merge));
    nlohmann::json report = lastReport(api, state);
    const auto &modules = report.value("merged", nlohmann::json::array());
    std::string largest;
    double maxChange = -1.0;
    std::vector<std::string> each;
    for (const auto &m : modules) {
      double change = m.value("max_abs_change", 0.0);
      each.push_back(fmt::format("{} {:.3g}", m.value("module", std::string()), change));
      if (change > maxChange) {
        maxChange = change;
        largest = m.value("module", std::string());
      }
    }
    fmt::print("merged {} into {}: max |W' - W| {:.3g}{}\n",
               plural(modules.size(), "adapted module"), o.merge, std::max(maxChange, 0.0),
               modules.size() <= 4 ? fmt::format(" ({})", someNames(each))
                                   : fmt::format(" (in {})", largest));
    // An nf4 base: the merged f32 weights are the trained model's; stored
    // back as nf4 (PEFT's merge into a 4-bit layer) they would change.
    double requantization = -1.0;
    for (const auto &m : modules)
      requantization = std::max(requantization, m.value("nf4_requantization_error", -1.0));
    if (requantization >= 0)
      fmt::print("the nf4 base was merged from its dequantized weights (the trained model, "
                 "exact in f32); requantized to nf4 the merged weights would move by up to "
                 "{:.3g}, {:.1f}% of the adapters' largest change\n",
                 requantization, maxChange > 0 ? 100.0 * requantization / maxChange : 0.0);
  }
}

/// What --plot draws: each step's loss and learning rate, each
/// evaluation's validation loss.
struct History {
  std::vector<std::pair<int64_t, double>> loss, lr, val;
};

/// Whether `program` is an executable file in a directory of $PATH.
bool onPath(const std::string &program) {
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (size_t start = 0; start <= dirs.size();) {
    size_t colon = dirs.find(':', start);
    std::string dir = dirs.substr(start, colon == std::string::npos ? std::string::npos
                                                                   : colon - start);
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0)
      return true;
    if (colon == std::string::npos)
      break;
    start = colon + 1;
  }
  return false;
}

/// The loss curves as gnuplot draws them (svg or png by the extension),
/// written to a temporary beside `path` and renamed over it.
void plotHistory(const History &h, const std::string &path, const std::string &title) {
  std::string temporary = path + ".tmp" + path.substr(path.size() - 4);
  FILE *gnuplot = popen("gnuplot", "w");
  if (!gnuplot)
    die(fmt::format("--plot: cannot run gnuplot: {}", std::strerror(errno)));
  bool svg = path.substr(path.size() - 4) == ".svg";
  auto quoted = [](const std::string &text) {
    std::string out = "'";
    for (char c : text)
      out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  fmt::print(gnuplot, "set terminal {} size 900,540 {}\n", svg ? "svg" : "pngcairo",
             svg ? "dynamic background rgb 'white'" : "background rgb 'white'");
  fmt::print(gnuplot, "set output {}\n", quoted(temporary));
  fmt::print(gnuplot, "set title {} noenhanced\nset xlabel 'step'\nset ylabel 'loss'\n",
             quoted(title));
  fmt::print(gnuplot, "set grid\nset key top right\n");
  bool lr = !h.lr.empty();
  if (lr)
    fmt::print(gnuplot, "set y2label 'learning rate'\nset y2tics\nset ytics nomirror\n"
                        "set format y2 '%.0e'\n");
  auto block = [&](const char *name, const std::vector<std::pair<int64_t, double>> &points) {
    fmt::print(gnuplot, "${} << EOD\n", name);
    for (auto [step, value] : points)
      if (std::isfinite(value))
        fmt::print(gnuplot, "{} {:.9g}\n", step, value);
    fmt::print(gnuplot, "EOD\n");
  };
  block("train", h.loss);
  block("val", h.val);
  block("lr", h.lr);
  std::string plot = "plot $train using 1:2 with lines lw 1 lc rgb '#1f77b4' title 'training loss'";
  if (!h.val.empty())
    plot += ", $val using 1:2 with linespoints lw 2 pt 7 lc rgb '#d62728' title 'validation loss'";
  if (lr)
    plot += ", $lr using 1:2 axes x1y2 with lines dt 2 lc rgb '#7f7f7f' title 'learning rate'";
  fmt::print(gnuplot, "{}\n", plot);
  int status = pclose(gnuplot);
  if (status != 0 || std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    die(fmt::format("--plot: gnuplot could not write '{}' (exit status {})", path, status));
  }
}

std::atomic<bool> interrupted{false};

std::string formatDuration(double seconds) {
  auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

/// The progress line: redrawn in place on a terminal, a plain line every
/// twentieth of the run (and at the end) otherwise.
class Progress {
public:
  /// `total` steps from step `first` (a resumed run's step counter): the
  /// line counts from there.
  Progress(int64_t first, int64_t total, int64_t examplesPerStep)
      : first(first), total(total), examples(examplesPerStep), tty(isatty(STDOUT_FILENO)),
        start(std::chrono::steady_clock::now()) {}

  /// `done` steps of this run taken; `extra` ends the line (the loss scale, say).
  void update(int64_t done, double loss, const std::string &extra = "") {
    double elapsed = secondsSince(start);
    bool last = done == total;
    if (tty) {
      if (!last && elapsed - lastDraw < 0.1)
        return;
    } else if (!last && done % std::max<int64_t>(1, total / 20) != 0) {
      return;
    }
    lastDraw = elapsed;
    double rate = done * examples / std::max(elapsed, 1e-9);
    double eta = done ? elapsed / done * (total - done) : 0.0;
    // Three digits for slow steps (gpt2-small on a CPU: 0.0075 examples/s).
    std::string rateText =
        rate >= 100 ? fmt::format("{:.0f}", rate) : fmt::format("{:.3g}", rate);
    std::string line = fmt::format("step {}/{}  loss {:.4f}  {} examples/s  ETA {}{}",
                                   first + done, first + total, loss, rateText,
                                   formatDuration(eta), extra);
    if (tty)
      fmt::print("\r\033[K{}{}", line, last ? "\n" : "");
    else
      fmt::print("{}\n", line);
    std::fflush(stdout);
  }

  /// A line of its own between progress lines (on a terminal, over the
  /// one being redrawn).
  void print(const std::string &line) {
    fmt::print("{}{}\n", tty ? "\r\033[K" : "", line);
    std::fflush(stdout);
  }

  static double secondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

private:
  int64_t first, total, examples;
  bool tty;
  std::chrono::steady_clock::time_point start;
  double lastDraw = -1.0;
};

std::vector<Input> modelInputs(const Api &api) {
  std::vector<Input> inputs;
  for (int32_t i = 0; i < api.ftc_num_inputs(); ++i) {
    ftc_tensor_info info;
    api.check(api.ftc_input_info(i, &info), "reading the model's inputs");
    Input in;
    in.name = info.name;
    in.dtype = info.dtype;
    in.shape.assign(info.shape, info.shape + info.rank);
    in.numel = info.numel;
    in.high = info.high;
    in.data.resize(static_cast<size_t>(info.numel) * ftc::runtime::dtypeBytes(info.dtype));
    inputs.push_back(std::move(in));
  }
  if (inputs.empty() || inputs[0].shape.empty())
    die("the model's inputs have no batch dimension");
  return inputs;
}

/// Test accuracy (from an output named "logits") and mean loss on
/// Fashion-MNIST's test split.
void evaluate(const Api &api, ftc_state *state, const FashionMnist &data,
              std::vector<Input> &inputs, const std::vector<const void *> &pointers) {
  int logits = -1;
  ftc_tensor_info info{};
  for (int32_t i = 0; i < api.ftc_num_outputs(); ++i) {
    api.check(api.ftc_output_info(i, &info), "reading the model's outputs");
    if (std::string(info.name) == "logits" && info.rank == 2 && info.dtype == FTC_F32)
      logits = i;
  }
  int64_t correct = 0, fullBatches = 0;
  double lossSum = 0.0;
  for (int64_t b = 0; b < data.testBatches(); ++b) {
    int64_t real = data.fillTest(b, inputs);
    double loss;
    api.check(api.ftc_eval(state, pointers.data(), &loss), "evaluating");
    if (real == inputs[0].shape[0]) {
      lossSum += loss;
      ++fullBatches;
    }
    if (logits < 0)
      continue;
    api.check(api.ftc_output_info(logits, &info), "reading the model's outputs");
    const float *z = static_cast<const float *>(api.ftc_output_data(state, logits));
    int64_t classes = info.shape[1];
    for (int64_t r = 0; r < real; ++r) {
      const float *row = z + r * classes;
      int64_t best = std::max_element(row, row + classes) - row;
      correct += best == data.testLabel(b * inputs[0].shape[0] + r);
    }
  }
  fmt::print("test loss {:.4f} ({} full batches)\n", lossSum / std::max<int64_t>(1, fullBatches),
             fullBatches);
  std::string of = data.subsetted() ? fmt::format(" ({} test examples of {})", data.testCount(),
                                                  data.describeClasses())
                                    : std::string();
  if (logits >= 0)
    fmt::print("accuracy {:.2f}%{}\n", 100.0 * correct / data.testCount(), of);
  else
    fmt::print("accuracy: the model has no 'logits' output\n");
}

/// The mean loss over the held-out tail of the text, in full batches (the
/// caller turns dropout off).
double heldOutLoss(const Api &api, ftc_state *state, const TokenStream &text,
                   std::vector<Input> &inputs, const std::vector<const void *> &pointers,
                   int64_t batches) {
  double sum = 0.0;
  for (int64_t b = 0; b < batches; ++b) {
    text.fillHeldOut(b, inputs);
    double loss;
    api.check(api.ftc_eval(state, pointers.data(), &loss), "evaluating the held-out text");
    sum += loss;
  }
  return sum / static_cast<double>(batches);
}

/// Generates `count` tokens after a window of the text, one eval per token:
/// the model's `logits` output at the window's last position, softmax at
/// temperature 0.8, drawn with the run's seed. Prints bytes as text.
/// The output --sample reads: `logits` [B, T, V] in f32. Dies, naming
/// what is missing, where the run could not sample (checked before the
/// first step).
int sampleOutput(const Api &api, const TokenStream *text, ftc_tensor_info &info) {
  if (!text)
    die("--sample needs text data (--data FILE.txt or FILE.bin)");
  for (int32_t i = 0; i < api.ftc_num_outputs(); ++i) {
    api.check(api.ftc_output_info(i, &info), "reading the model's outputs");
    if (std::string(info.name) == "logits" && info.rank == 3 && info.dtype == FTC_F32)
      return i;
  }
  die("--sample needs a model with a 'logits' output [B, T, V] (see examples/gpt2-bytes.mlir)");
}

void sample(const Api &api, ftc_state *state, const TokenStream &text,
            std::vector<Input> &inputs, const std::vector<const void *> &pointers,
            int64_t count, uint64_t seed) {
  ftc_tensor_info info{};
  int logits = sampleOutput(api, &text, info);
  int64_t context = info.shape[1], vocab = info.shape[2];
  const std::vector<uint16_t> &data = text.tokens();
  ftc::runtime::Generator gen(seed, "sample");
  // A prompt from the text trained on (all of it without --holdout).
  size_t start = gen.next() % static_cast<size_t>(text.trainingTokens() - context);
  std::vector<int64_t> window(data.begin() + start, data.begin() + start + context);
  std::string prompt;
  for (int64_t id : window)
    prompt += text.decode(static_cast<uint16_t>(id));
  fmt::print("sample, after \"{}\":\n", prompt);
  Input *tokens = nullptr;
  for (Input &in : inputs)
    if (in.name == "tokens")
      tokens = &in;
  if (!tokens)
    tokens = &inputs[0];
  std::string out;
  for (int64_t n = 0; n < count; ++n) {
    for (int64_t t = 0; t < context; ++t)
      ftc::runtime::storeElement(tokens->dtype, tokens->data.data(), t, static_cast<double>(window[t]));
    double loss;
    api.check(api.ftc_eval(state, pointers.data(), &loss), "sampling");
    const float *z = static_cast<const float *>(api.ftc_output_data(state, logits)) +
                     (context - 1) * vocab;
    float top = *std::max_element(z, z + vocab);
    std::vector<double> p(vocab);
    double total = 0.0;
    for (int64_t v = 0; v < vocab; ++v)
      total += p[v] = std::exp((z[v] - top) / 0.8);
    double u = gen.uniform() * total;
    int64_t pick = 0;
    for (; pick < vocab - 1 && (u -= p[pick]) > 0; ++pick) {
    }
    out += text.decode(static_cast<uint16_t>(pick));
    window.erase(window.begin());
    window.push_back(pick);
  }
  fmt::print("{}\n", out);
}

} // namespace

/// A hash of every parameter's bytes (FNV-1a): equal on every rank of a
/// data-parallel run.
uint64_t parameterHash(const Api &api, ftc_state *state) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (int32_t i = 0; i < api.ftc_num_params(); ++i) {
    ftc_tensor_info info;
    api.check(api.ftc_param_info(i, &info), "reading the parameters");
    const auto *bytes = static_cast<const unsigned char *>(api.ftc_param_data(state, i));
    if (!bytes)
      die(fmt::format("reading parameter '{}': {}", info.name, api.ftc_last_error()));
    size_t n = static_cast<size_t>(info.numel) * ftc::runtime::dtypeBytes(info.dtype);
    for (size_t k = 0; k < n; ++k)
      hash = (hash ^ bytes[k]) * 0x100000001b3ull;
  }
  return hash;
}

/// Dies unless every rank holds the same parameters, bit for bit.
void checkIdentical(const Api &api, ftc_state *state, Mpi &mpi, const std::string &when) {
  std::vector<uint64_t> hashes = mpi.allGather(parameterHash(api, state));
  for (size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0])
      die(fmt::format("the parameters of rank {} differ from rank 0's {} (hashes {:016x} and "
                      "{:016x})",
                      r, when, hashes[r], hashes[0]));
}

int main(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  // --mpi: one process per rank; rank 0 prints and writes the files.
  std::unique_ptr<Mpi> mpi;
  std::unique_ptr<Nccl> nccl; // a CUDA step's communicator (freed before MPI)
  int64_t rank = 0, ranks = 1;
  if (o.mpi) {
    mpi = Mpi::start(&argc, &argv, o.commTimeout);
    activeMpi = mpi.get();
    rank = mpi->rank();
    ranks = mpi->size();
    // One GPU per rank: a CUDA step.so opens the GPU numbered as this
    // rank's place on its machine (unless FTC_CUDA_DEVICE says otherwise).
    if (!std::getenv("FTC_CUDA_DEVICE"))
      for (const char *local : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
        if (const char *value = std::getenv(local)) {
          setenv("FTC_CUDA_DEVICE", value, 1);
          break;
        }
    if (rank != 0 && !std::freopen("/dev/null", "w", stdout))
      die("cannot send the output of ranks other than 0 to /dev/null");
  }
  bool writer = rank == 0;
  if (!o.plot.empty() && !onPath("gnuplot"))
    die("--plot draws with gnuplot, which is not on PATH (Debian: apt install gnuplot-nox)");
  Api api(o.library);
  if (writer)
    checkOutputs(api, o);
  std::vector<Input> inputs = modelInputs(api);
  std::vector<const void *> pointers;
  for (Input &in : inputs)
    pointers.push_back(in.data.data());

  std::unique_ptr<Batches> data;
  FashionMnist *mnist = nullptr;
  TokenStream *text = nullptr;
  bool textData = !o.synthetic && o.data != "fashion-mnist" &&
                  !(o.data.size() > 12 && o.data.substr(o.data.size() - 12) == ".safetensors");
  // --vocab=chars: the checkpoint's vocabulary when it has one (the ids it
  // was trained with), else the text's.
  std::unique_ptr<Vocabulary> vocabulary;
  if (o.vocab == "chars") {
    if (!textData || (o.data.size() > 4 && o.data.substr(o.data.size() - 4) == ".bin"))
      die("--vocab=chars needs a text file (--data FILE.txt)");
    std::string from = !o.resume.empty() ? o.resume : o.init;
    try {
      if (!from.empty() && access((from + ".vocab.json").c_str(), F_OK) == 0) {
        vocabulary = std::make_unique<Vocabulary>(Vocabulary::load(from + ".vocab.json"));
        fmt::print("vocabulary: {} characters from {}.vocab.json\n", vocabulary->chars.size(),
                   from);
      } else {
        vocabulary = std::make_unique<Vocabulary>(Vocabulary::fromFile(o.data));
        fmt::print("vocabulary: the {} characters of {}\n", vocabulary->chars.size(), o.data);
      }
    } catch (const std::exception &e) {
      die(e.what());
    }
  }
  if (!o.valData.empty() && !textData)
    die("--val-data needs text data (--data FILE.txt or FILE.bin)");
  try {
    if (o.synthetic) {
      data = std::make_unique<Synthetic>(inputs, o.seed);
    } else if (o.data == "fashion-mnist") {
      auto m = std::make_unique<FashionMnist>(inputs, o.seed, "/usr/share/datasets/fashion-mnist",
                                              o.subset);
      mnist = m.get();
      data = std::move(m);
    } else if (o.data.size() > 12 && o.data.substr(o.data.size() - 12) == ".safetensors") {
      auto batches = std::make_unique<SafetensorsBatches>(inputs, o.data);
      for (const std::string &conversion : batches->conversions())
        fmt::print("--data: converting input {}\n", conversion);
      data = std::move(batches);
    } else {
      // Anything else is text (bytes) or, for .bin, llm.c's uint16 tokens.
      auto t = std::make_unique<TokenStream>(inputs, o.data, o.seed, o.holdout, vocabulary.get(),
                                             o.valData);
      text = t.get();
      data = std::move(t);
    }
  } catch (const std::exception &e) {
    die(e.what());
  }
  if (o.holdout > 0 && !text)
    die("--val-split needs text data (--data FILE.txt or FILE.bin)");
  bool validating = text && (o.holdout > 0 || !o.valData.empty());
  int64_t evalBatches = 0;
  if (validating)
    evalBatches = o.evalBatches > 0 ? std::min(o.evalBatches, text->heldOutBatches())
                                    : text->heldOutBatches();
  // Each checkpoint of a character model carries its vocabulary.
  auto saveVocabulary = [&](const std::string &checkpoint) {
    if (!vocabulary || !writer)
      return;
    try {
      vocabulary->save(checkpoint + ".vocab.json");
    } catch (const std::exception &e) {
      die(e.what());
    }
  };
  if (o.sample > 0) {
    ftc_tensor_info info{};
    sampleOutput(api, text, info);
  }

  int64_t steps = o.steps;
  if (o.epochs >= 0) {
    if (data->batchesPerEpoch() == 0)
      die("--epochs needs a finite data set; use --steps with --synthetic");
    steps = o.epochs * data->batchesPerEpoch() / (o.accumulate * ranks);
  }
  if (steps < 0)
    steps = data->batchesPerEpoch()
                ? std::max<int64_t>(1, data->batchesPerEpoch() / (o.accumulate * ranks))
                : 100;

  // The process's resident memory before the state exists: what the state
  // and the steps add is measured from here (max RSS at the end).
  int64_t residentBefore = residentBytes();
  ftc_state *state = nullptr;
  api.check(api.ftc_create(o.seed, &state), "creating the state");
  if (o.threads > 0)
    api.check(api.ftc_set_num_threads(static_cast<int32_t>(o.threads)), "--threads");
  if (!o.init.empty()) {
    if (o.initPartial)
      api.check(api.need(api.ftc_load_partial, "ftc_load_partial", "--init-partial")(
                    state, o.init.c_str()),
                "--init");
    else
      api.check(api.ftc_load(state, o.init.c_str()), "--init");
    api.ftc_reset_optimizer(state);
    if (api.ftc_last_report)
      printLoad("--init", lastReport(api, state));
  }
  if (!o.resume.empty()) {
    api.check(api.ftc_load(state, o.resume.c_str()), "--resume");
    // A parameters-only file would resume at step 0 with a fresh
    // optimizer: that is --init, said so.
    std::vector<std::string> missing =
        names(lastReport(api, state).value("missing_optimizer", nlohmann::json::array()));
    if (!missing.empty())
      die(fmt::format("--resume: '{}' lacks the optimizer state and step counter of this "
                      "step ({}: {}); it holds parameters only (a state_dict?). Use --init "
                      "to start from them with a fresh optimizer at step 0",
                      o.resume, plural(missing.size(), "tensor"), someNames(missing, 3)));
  }
  if (!o.loadAdapters.empty()) {
    auto load = api.need(api.ftc_load_adapters, "ftc_load_adapters", "--load-adapters");
    api.check(load(state, o.loadAdapters.c_str()), "--load-adapters");
    printLoad("--load-adapters", lastReport(api, state));
  }

  if (mpi) {
    auto attach = api.need(api.ftc_set_comm, "ftc_set_comm", "--mpi");
    // A CUDA step's gradients are GPU memory: NCCL sums them on its stream.
    const ftc_comm *table = mpi->comm();
    if (void *stream = api.ftc_device_stream ? api.ftc_device_stream(state) : nullptr) {
      std::string error;
      nccl = Nccl::create(
          mpi->rank(), mpi->size(), stream,
          [&](void *data, size_t bytes) { mpi->broadcast(data, bytes); }, error);
      if (!nccl)
        mpi->abort("--mpi: " + error);
      table = nccl->comm();
    }
    api.check(attach(state, table, static_cast<int64_t>(o.bucketMb * 1048576.0)), "--mpi");
    checkIdentical(api, state, *mpi,
                   "at the start (is every rank given the same --seed, --init or --resume?)");
    if (o.shardOptimizer) {
      api.check(api.need(api.ftc_shard_optimizer, "ftc_shard_optimizer",
                         "--shard-optimizer")(state),
                "--shard-optimizer");
      int64_t mine = api.ftc_optimizer_bytes(state);
      std::vector<uint64_t> all = mpi->allGather(static_cast<uint64_t>(mine));
      uint64_t largest = *std::max_element(all.begin(), all.end()), total = 0;
      for (uint64_t b : all)
        total += b;
      fmt::print("sharded optimizer: rank 0 keeps {} B of the optimizer state's {} B, the "
                 "largest part {} B ({:.3f} of it; 1/{} is {:.3f})\n",
                 mine, total, largest, static_cast<double>(largest) / static_cast<double>(total),
                 ranks, 1.0 / static_cast<double>(ranks));
    }
  }
  // With a sharded optimizer saving is collective: every rank calls
  // ftc_save, rank 0 writes.
  bool saves = writer || o.shardOptimizer;

  // Ctrl-C or SIGTERM: the step under way finishes, then the outputs are
  // saved as after the last step. A second signal stops at once (the files
  // are written to temporaries and renamed: none is left half-written).
  for (int signal : {SIGINT, SIGTERM})
    std::signal(signal, [](int number) {
      interrupted = true;
      std::signal(number, SIG_DFL);
    });
  int64_t batch = inputs[0].shape[0];
  int64_t first = api.ftc_step_count(state);
  // The learning rate: the compiled one, or a schedule set before each step.
  std::optional<Schedule> schedule;
  if (o.schedules()) {
    api.need(api.ftc_set_lr, "ftc_set_lr", o.lrSchedule.empty() ? "--lr" : "--lr-schedule");
    Schedule s;
    if (!o.lrSchedule.empty())
      parseScheduleKind(o.lrSchedule, s.kind);
    s.peak = std::isnan(o.lr) ? api.ftc_get_lr(state) : o.lr;
    s.floor = std::isnan(o.minLr) ? 0.0 : o.minLr;
    s.warmup = std::max<int64_t>(o.warmupSteps, 0);
    s.decayEnd = o.decaySteps >= 0 ? o.decaySteps : first + steps;
    if (s.kind != Schedule::Kind::Constant && s.decayEnd <= s.warmup)
      die(fmt::format("the decay ends at step {} ({}), not after the {} warmup steps: "
                      "give a larger --decay-steps",
                      s.decayEnd, o.decaySteps >= 0 ? "--decay-steps" : "the end of this run",
                      s.warmup));
    fmt::print("learning rate: {}\n", s.describe());
    schedule = s;
  }
  bool clipped = api.ftc_grad_norm && api.ftc_grad_norm(state) >= 0;
  std::FILE *log = nullptr;
  if (!o.log.empty() && writer) {
    log = std::fopen(o.log.c_str(), o.resume.empty() ? "w" : "a");
    if (!log)
      die(fmt::format("--log: cannot write '{}': {}", o.log, std::strerror(errno)));
  }
  fmt::print("memory: parameters {} B, gradients {} B, optimizer state {} B, workspace {} B "
             "(allocated once)\n",
             api.ftc_buffer_bytes("param"), api.ftc_buffer_bytes("grad"),
             api.ftc_buffer_bytes("slot"), api.ftc_buffer_bytes("workspace"));
  if (mnist && mnist->subsetted())
    fmt::print("fashion-mnist: {}, {} of {} training examples, {} test examples\n",
               mnist->describeClasses(), mnist->trainCount(), mnist->trainAvailable(),
               mnist->testCount());
  double heldOutBefore = 0.0;
  if (validating) {
    if (o.valData.empty())
      fmt::print("held out: the last {} of {} tokens ({:g}%), evaluated as {} batches of {} "
                 "windows ({} predicted tokens)\n",
                 text->heldOutTokens(), text->tokens().size(), 100.0 * o.holdout, evalBatches,
                 batch, text->heldOutPredictions() / text->heldOutBatches() * evalBatches);
    else
      fmt::print("validation: {} tokens of {}, evaluated as {} batches of {} windows\n",
                 text->heldOutTokens(), o.valData, evalBatches, batch);
    api.ftc_set_training(state, 0);
    heldOutBefore = heldOutLoss(api, state, *text, inputs, pointers, evalBatches);
    api.ftc_set_training(state, 1);
    if (steps > 0)
      fmt::print("validation loss {:.4f} before training\n", heldOutBefore);
  }
  int64_t micro = o.accumulate;
  if (micro > 1) {
    api.need(api.ftc_apply, "ftc_apply", "--accumulate");
    api.need(api.ftc_accumulate_grad, "ftc_accumulate_grad", "--accumulate");
  }
  if (steps > 0)
    fmt::print("training {} steps of {} examples from step {}{}{}{}\n", steps,
               batch * micro * ranks, first,
               mpi ? fmt::format(" on {} ranks", ranks) : std::string(),
               micro > 1 || mpi ? fmt::format(" ({} batches of {}{})", micro * ranks, batch,
                                              micro > 1 ? " accumulated" : "")
                                : std::string(),
               data->batchesPerEpoch()
                   ? fmt::format(" ({} per epoch)", data->batchesPerEpoch() / (micro * ranks))
                   : std::string());
  std::fflush(stdout); // a log read through a pipe sees the run start
  Progress progress(first, steps, batch * micro * ranks);
  // Dynamic loss scaling (fp16): the scale and the steps it skipped.
  bool scaled = api.ftc_loss_scale && api.ftc_loss_scale(state) > 0;
  auto scaling = [&] {
    if (!scaled)
      return std::string();
    return fmt::format("  scale {:g}  skipped {}", api.ftc_loss_scale(state),
                       api.ftc_skipped_steps(state));
  };
  auto progressExtra = [&](double lr) {
    // A step.so from before run-time learning rates cannot say its own.
    std::string extra = lr >= 0 ? fmt::format("  lr {:.3e}", lr) : std::string();
    if (clipped)
      extra += fmt::format("  norm {:.3g}", api.ftc_grad_norm(state));
    return extra + scaling();
  };
  std::vector<double> times;
  std::vector<CommStats> commSteps; // --mpi: each timed step's all-reduces
  int64_t done = 0;
  History history;
  if (validating)
    history.val.push_back({first, heldOutBefore});
  double trainLosses = 0.0, bestVal = std::numeric_limits<double>::infinity();
  int64_t trainCount = 0;
  auto runStart = std::chrono::steady_clock::now();
  for (; done < steps; ++done) {
    // Every rank stops after the same step (mpirun passes a Ctrl-C on to
    // each of them, not necessarily during the same step).
    if (mpi ? mpi->max(interrupted ? 1 : 0) != 0 : interrupted.load()) {
      interrupted = true;
      break;
    }
    double lr = schedule ? schedule->at(api.ftc_step_count(state))
                         : (api.ftc_get_lr ? api.ftc_get_lr(state) : -1.0);
    if (schedule)
      api.check(api.ftc_set_lr(state, lr), "setting the learning rate");
    std::string what = fmt::format("step {}", first + done + 1);
    double loss = 0.0;
    CommStats commBefore = mpi ? mpi->stats() : CommStats{};
    auto t0 = std::chrono::steady_clock::now();
    if (micro == 1) {
      data->fill((first + done) * ranks + rank, inputs);
      auto f0 = std::chrono::steady_clock::now();
      api.check(api.ftc_step(state, pointers.data(), &loss), what);
      t0 = f0; // the step alone, as before accumulation existed
    } else {
      // K batches (sK ... sK + K - 1), their gradients summed; the update
      // from the mean; the loss their mean.
      api.check(api.ftc_zero_grad(state), what);
      for (int64_t k = 0; k < micro; ++k) {
        data->fill(((first + done) * micro + k) * ranks + rank, inputs);
        double part;
        api.check(api.ftc_accumulate_grad(state, pointers.data(), &part),
                  fmt::format("{}, batch {} of {}", what, k + 1, micro));
        loss += part / static_cast<double>(micro);
      }
      api.check(api.ftc_apply(state, 1.0 / static_cast<double>(micro)), what);
      if (mpi) // the mean over the ranks (ftc_step's own loss already is)
        loss = mpi->sum(loss) / static_cast<double>(ranks);
    }
    double ms = Progress::secondsSince(t0) * 1e3;
    if (done >= o.warmup) {
      times.push_back(ms);
      if (mpi) {
        CommStats now = mpi->stats();
        commSteps.push_back({now.reductions - commBefore.reductions, now.bytes - commBefore.bytes,
                             now.reduceSeconds - commBefore.reduceSeconds,
                             now.exposedSeconds - commBefore.exposedSeconds});
      }
    }
    if (log) {
      nlohmann::ordered_json entry = {{"step", first + done + 1}, {"loss", loss}};
      if (lr >= 0)
        entry["lr"] = lr;
      if (clipped)
        entry["grad_norm"] = api.ftc_grad_norm(state);
      if (scaled)
        entry["loss_scale"] = api.ftc_loss_scale(state);
      entry["time_ms"] = ms;
      entry["elapsed_s"] = Progress::secondsSince(runStart);
      // NaN and inf are not JSON: null.
      for (auto &field : entry.items())
        if (field.value().is_number_float() && !std::isfinite(field.value().get<double>()))
          field.value() = nullptr;
      fmt::print(log, "{}\n", entry.dump());
      std::fflush(log);
    }
    if (!std::isfinite(loss)) {
      progress.update(done + 1, loss, progressExtra(lr));
      fmt::print(stderr, "ftc-train: error: the loss is {} at step {}\n",
                 std::isnan(loss) ? std::string("NaN") : fmt::format("{}", loss),
                 first + done + 1);
      for (const std::string *out : {&o.save, &o.saveAdapters, &o.merge})
        if (!out->empty())
          fmt::print(stderr, "ftc-train: not saving '{}': the parameters are no longer finite\n",
                     *out);
      return 1;
    }
    progress.update(done + 1, loss, progressExtra(lr));
    history.loss.push_back({first + done + 1, loss});
    if (lr >= 0)
      history.lr.push_back({first + done + 1, lr});
    trainLosses += loss;
    ++trainCount;
    int64_t stepNumber = first + done + 1;
    if (o.evalEvery > 0 && stepNumber % o.evalEvery == 0) {
      api.ftc_set_training(state, 0);
      double val = heldOutLoss(api, state, *text, inputs, pointers, evalBatches);
      api.ftc_set_training(state, 1);
      double trainMean = trainLosses / static_cast<double>(trainCount);
      history.val.push_back({stepNumber, val});
      progress.print(fmt::format("step {}: validation loss {:.4f}, training loss {:.4f} (the "
                                 "mean of the last {})",
                                 stepNumber, val, trainMean, plural(trainCount, "step")));
      if (log) {
        nlohmann::ordered_json entry = {{"step", stepNumber}, {"val_loss", val},
                                        {"train_loss", trainMean}};
        if (!std::isfinite(val))
          entry["val_loss"] = nullptr;
        fmt::print(log, "{}\n", entry.dump());
        std::fflush(log);
      }
      trainLosses = 0.0;
      trainCount = 0;
      if (!o.saveBest.empty() && val < bestVal && saves) {
        bestVal = val;
        api.check(api.ftc_save(state, o.saveBest.c_str()),
                  fmt::format("saving '{}'", o.saveBest));
        saveVocabulary(o.saveBest);
        progress.print(fmt::format("saved {} (step {}, the best validation loss so far)",
                                   o.saveBest, stepNumber));
      }
    }
  }
  if (log)
    std::fclose(log);
  if (interrupted)
    fmt::print("\ninterrupted after {}{}\n", plural(done, "step"),
               o.save.empty() && o.saveAdapters.empty() && o.merge.empty() ? "" : "; saving");
  if (!times.empty()) {
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    fmt::print("median step {:.2f} ms\n", times[times.size() / 2]);
  }
  if (done > 0) {
    // The plan (every buffer of the state, fixed at compile time) beside
    // what the process grew by: the state, plus code pages first touched
    // and the threads' stacks.
    int64_t planned = api.ftc_buffer_bytes("all");
    int64_t measured = peakResidentBytes() - residentBefore;
    fmt::print("peak memory: planned {} B (the state's buffers), measured {} B (max resident "
               "set growth since before ftc_create; {:+.1f}%)\n",
               planned, measured, planned ? 100.0 * (measured - planned) / planned : 0.0);
  }
  if (scaled && api.ftc_skipped_steps(state) > 0)
    fmt::print("loss scaling skipped {} of {} (an inf or NaN gradient); the scale is now {:g}\n",
               api.ftc_skipped_steps(state), plural(done, "step"), api.ftc_loss_scale(state));
  if (mpi && done > 0) {
    checkIdentical(api, state, *mpi, "after training");
    // The timed steps' all-reduces (the comm thread's time, which includes
    // waiting for the slowest rank) and the part the step waited for.
    std::string cost;
    if (nccl) {
      // NCCL's sums run on the step's stream: the step's time includes them.
      cost = "; the gradients summed by NCCL on the GPU's stream after the backward";
    } else if (!commSteps.empty()) {
      auto median = [&](double CommStats::*field) {
        std::vector<double> v;
        for (const CommStats &c : commSteps)
          v.push_back(c.*field * 1e3);
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
      };
      double reduce = 0.0, exposed = 0.0;
      for (const CommStats &c : commSteps)
        reduce += c.reduceSeconds, exposed += c.exposedSeconds;
      const CommStats &last = commSteps.back();
      cost = fmt::format("; per step: {} all-reduces of {:.2f} MiB in all, median {:.2f} ms of "
                         "all-reduce, {:.2f} ms of it not hidden behind the backward ({:.0f}% "
                         "overlapped)",
                         last.reductions, static_cast<double>(last.bytes) / 1048576.0,
                         median(&CommStats::reduceSeconds), median(&CommStats::exposedSeconds),
                         reduce > 0 ? 100.0 * std::max(0.0, 1.0 - exposed / reduce) : 0.0);
    }
    fmt::print("data parallel on {} ranks: parameters bit-identical on every rank{}\n", ranks,
               cost);
  }
  if (!o.save.empty() && saves) {
    api.check(api.ftc_save(state, o.save.c_str()), fmt::format("saving '{}'", o.save));
    saveVocabulary(o.save);
    fmt::print("saved {} (step {}{})\n", o.save, api.ftc_step_count(state),
               vocabulary ? fmt::format(", its vocabulary as {}.vocab.json", o.save) : "");
  }
  if (writer)
    saveOutputs(api, state, o);
  // Evaluation and sampling run the model as PyTorch's model.eval() does:
  // no dropout.
  api.ftc_set_training(state, 0);
  if (mnist && !interrupted)
    evaluate(api, state, *mnist, inputs, pointers);
  if (validating && !interrupted) {
    if (done > 0)
      fmt::print("validation loss {:.4f} after {} (before: {:.4f})\n",
                 heldOutLoss(api, state, *text, inputs, pointers, evalBatches),
                 plural(done, "step"), heldOutBefore);
    else
      fmt::print("validation loss {:.4f}\n", heldOutBefore);
  }
  if (o.sample > 0 && !interrupted)
    sample(api, state, *text, inputs, pointers, o.sample, o.seed);
  if (!o.plot.empty() && done > 0 && writer) {
    std::string name = o.library.substr(o.library.find_last_of('/') + 1);
    plotHistory(history, o.plot,
                fmt::format("{} on {} (steps {}-{})", name,
                            o.synthetic ? std::string("synthetic data")
                                        : o.data.substr(o.data.find_last_of('/') + 1),
                            first + 1, first + done));
    fmt::print("plotted the loss curves to {}\n", o.plot);
  }
  api.ftc_destroy(state);
  return interrupted ? 130 : 0;
}
