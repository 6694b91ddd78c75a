//===- ftc-train.cpp - trains with a compiled step.so ---------------------===//
//
//   ftc-train STEP.so (--data fashion-mnist | --data FILE.safetensors |
//                      --data FILE.txt | --data FILE.bin | --synthetic)
//             [--steps N | --epochs N] [--seed S] [--init CKPT | --resume CKPT]
//             [--save CKPT] [--warmup N] [--sample N]
//
// Talks to step.so through ftc.h only (dlopen). Batch i of the run is batch
// i of the data source, counted from the state's step counter, so a resumed
// run sees the batches an uninterrupted one would have.
//
//===----------------------------------------------------------------------===//

#include "Data.h"

#include "ftc.h"

#include "Dtype.h"
#include "Random.h"

#include <fmt/core.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <dlfcn.h>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace ftc::train_tool;

namespace {

constexpr const char *usage =
    "usage: ftc-train STEP.so (--data fashion-mnist | --data FILE.safetensors |\n"
    "                 --data FILE.txt | --data FILE.bin | --synthetic)\n"
    "                 [--steps N | --epochs N] [--seed S] [--init CKPT | --resume CKPT]\n"
    "                 [--save CKPT] [--warmup N] [--sample N] [--threads N]\n";

[[noreturn]] void die(const std::string &message) {
  fmt::print(stderr, "ftc-train: error: {}\n", message);
  std::exit(1);
}

/// The functions of the C ABI ftc-train uses.
#define FTC_TRAIN_API(X)                                                       \
  X(ftc_abi_version) X(ftc_num_inputs) X(ftc_input_info) X(ftc_num_outputs)    \
  X(ftc_output_info) X(ftc_num_params) X(ftc_create) X(ftc_destroy)            \
  X(ftc_step) X(ftc_eval) X(ftc_output_data) X(ftc_step_count) X(ftc_save)     \
  X(ftc_load) X(ftc_reset_optimizer) X(ftc_set_training) X(ftc_last_error)  \
  X(ftc_set_num_threads) X(ftc_buffer_bytes)

/// The C ABI of a step.so, resolved with dlsym.
struct Api {
#define FTC_DECLARE(name) decltype(&::name) name = nullptr;
  FTC_TRAIN_API(FTC_DECLARE)
#undef FTC_DECLARE

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
    if (ftc_abi_version() != FTC_ABI_VERSION)
      die(fmt::format("'{}' has ABI version {}; this ftc-train speaks {}", path,
                      ftc_abi_version(), FTC_ABI_VERSION));
  }

  void check(ftc_status status, const std::string &what) const {
    if (status != FTC_OK)
      die(fmt::format("{}: {}", what, ftc_last_error()));
  }
};

struct Options {
  std::string library, data, init, resume, save;
  bool synthetic = false;
  int64_t steps = -1, epochs = -1, warmup = 0, sample = 0, threads = 0;
  uint64_t seed = 0;
};

int64_t parseCount(const std::string &flag, const std::string &value) {
  char *end = nullptr;
  long long n = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end || n < 0)
    die(fmt::format("{} needs a non-negative integer, got '{}'", flag, value));
  return n;
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
    else if (arg == "--init") o.init = next();
    else if (arg == "--resume") o.resume = next();
    else if (arg == "--save") o.save = next();
    else if (arg == "--warmup") o.warmup = parseCount(arg, next());
    else if (arg == "--sample") o.sample = parseCount(arg, next());
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
  return o;
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
  Progress(int64_t total, int64_t examplesPerStep)
      : total(total), examples(examplesPerStep), tty(isatty(STDOUT_FILENO)),
        start(std::chrono::steady_clock::now()) {}

  void update(int64_t done, double loss) {
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
    std::string line = fmt::format("step {}/{}  loss {:.4f}  {} examples/s  ETA {}", done,
                                   total, loss, rateText, formatDuration(eta));
    if (tty)
      fmt::print("\r\033[K{}{}", line, last ? "\n" : "");
    else
      fmt::print("{}\n", line);
    std::fflush(stdout);
  }

  static double secondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

private:
  int64_t total, examples;
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
  if (logits >= 0)
    fmt::print("accuracy {:.2f}%\n", 100.0 * correct / data.testCount());
  else
    fmt::print("accuracy: the model has no 'logits' output\n");
}

/// Generates `count` tokens after a window of the text, one eval per token:
/// the model's `logits` output at the window's last position, softmax at
/// temperature 0.8, drawn with the run's seed. Prints bytes as text.
void sample(const Api &api, ftc_state *state, const TokenStream &text,
            std::vector<Input> &inputs, const std::vector<const void *> &pointers,
            int64_t count, uint64_t seed) {
  int logits = -1;
  ftc_tensor_info info{};
  for (int32_t i = 0; i < api.ftc_num_outputs() && logits < 0; ++i) {
    api.check(api.ftc_output_info(i, &info), "reading the model's outputs");
    if (std::string(info.name) == "logits" && info.rank == 3 && info.dtype == FTC_F32)
      logits = i;
  }
  if (logits < 0)
    die("--sample needs a model with a 'logits' output [B, T, V] (see examples/gpt2-bytes.mlir)");
  int64_t context = info.shape[1], vocab = info.shape[2];
  const std::vector<uint16_t> &data = text.tokens();
  ftc::runtime::Generator gen(seed, "sample");
  size_t start = gen.next() % (data.size() - static_cast<size_t>(context));
  std::vector<int64_t> window(data.begin() + start, data.begin() + start + context);
  std::string prompt(window.begin(), window.end());
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
    out.push_back(static_cast<char>(pick));
    window.erase(window.begin());
    window.push_back(pick);
  }
  fmt::print("{}\n", out);
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  Api api(o.library);
  std::vector<Input> inputs = modelInputs(api);
  std::vector<const void *> pointers;
  for (Input &in : inputs)
    pointers.push_back(in.data.data());

  std::unique_ptr<Batches> data;
  FashionMnist *mnist = nullptr;
  TokenStream *text = nullptr;
  try {
    if (o.synthetic) {
      data = std::make_unique<Synthetic>(inputs, o.seed);
    } else if (o.data == "fashion-mnist") {
      auto m = std::make_unique<FashionMnist>(inputs, o.seed, "/usr/share/datasets/fashion-mnist");
      mnist = m.get();
      data = std::move(m);
    } else if (o.data.size() > 12 && o.data.substr(o.data.size() - 12) == ".safetensors") {
      data = std::make_unique<SafetensorsBatches>(inputs, o.data);
    } else {
      // Anything else is text (bytes) or, for .bin, llm.c's uint16 tokens.
      auto t = std::make_unique<TokenStream>(inputs, o.data, o.seed);
      text = t.get();
      data = std::move(t);
    }
  } catch (const std::exception &e) {
    die(e.what());
  }

  int64_t steps = o.steps;
  if (o.epochs >= 0) {
    if (data->batchesPerEpoch() == 0)
      die("--epochs needs a finite data set; use --steps with --synthetic");
    steps = o.epochs * data->batchesPerEpoch();
  }
  if (steps < 0)
    steps = data->batchesPerEpoch() ? data->batchesPerEpoch() : 100;

  ftc_state *state = nullptr;
  api.check(api.ftc_create(o.seed, &state), "creating the state");
  if (o.threads > 0)
    api.check(api.ftc_set_num_threads(static_cast<int32_t>(o.threads)), "--threads");
  if (!o.init.empty()) {
    api.check(api.ftc_load(state, o.init.c_str()), "--init");
    api.ftc_reset_optimizer(state);
  }
  if (!o.resume.empty())
    api.check(api.ftc_load(state, o.resume.c_str()), "--resume");

  std::signal(SIGINT, [](int) { interrupted = true; });
  int64_t batch = inputs[0].shape[0];
  int64_t first = api.ftc_step_count(state);
  fmt::print("memory: parameters {} B, gradients {} B, optimizer state {} B, workspace {} B "
             "(allocated once)\n",
             api.ftc_buffer_bytes("param"), api.ftc_buffer_bytes("grad"),
             api.ftc_buffer_bytes("slot"), api.ftc_buffer_bytes("workspace"));
  if (steps > 0)
    fmt::print("training {} steps of {} examples from step {}{}\n", steps, batch, first,
               data->batchesPerEpoch() ? fmt::format(" ({} per epoch)", data->batchesPerEpoch())
                                       : std::string());
  Progress progress(steps, batch);
  std::vector<double> times;
  int64_t done = 0;
  for (; done < steps && !interrupted; ++done) {
    data->fill(first + done, inputs);
    auto t0 = std::chrono::steady_clock::now();
    double loss;
    api.check(api.ftc_step(state, pointers.data(), &loss),
              fmt::format("step {}", first + done + 1));
    if (done >= o.warmup)
      times.push_back(Progress::secondsSince(t0) * 1e3);
    if (!std::isfinite(loss)) {
      progress.update(done + 1, loss);
      fmt::print(stderr, "ftc-train: error: the loss is {} at step {}\n",
                 std::isnan(loss) ? std::string("NaN") : fmt::format("{}", loss),
                 first + done + 1);
      if (!o.save.empty())
        fmt::print(stderr, "ftc-train: not saving '{}': the parameters are no longer finite\n",
                   o.save);
      return 1;
    }
    progress.update(done + 1, loss);
  }
  if (interrupted)
    fmt::print("\ninterrupted after {} steps\n", done);
  if (!times.empty()) {
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    fmt::print("median step {:.2f} ms\n", times[times.size() / 2]);
  }
  if (!o.save.empty()) {
    api.check(api.ftc_save(state, o.save.c_str()), fmt::format("saving '{}'", o.save));
    fmt::print("saved {} (step {})\n", o.save, api.ftc_step_count(state));
  }
  // Evaluation and sampling run the model as PyTorch's model.eval() does:
  // no dropout.
  api.ftc_set_training(state, 0);
  if (mnist && !interrupted)
    evaluate(api, state, *mnist, inputs, pointers);
  if (o.sample > 0) {
    if (!text)
      die("--sample needs text data (--data FILE.txt or FILE.bin)");
    if (!interrupted)
      sample(api, state, *text, inputs, pointers, o.sample, o.seed);
  }
  api.ftc_destroy(state);
  return interrupted ? 130 : 0;
}
