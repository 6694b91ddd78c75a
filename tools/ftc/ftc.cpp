//===- ftc.cpp - compiles a model's training step to a shared library -----===//
//
//   ftc MODEL.mlir -o step.so [--target=cpu] [--optimizer=adamw|sgd --lr=...]
//                             [--lora-targets=REGEX --lora-rank=R ...]
//                             [--emit=mlir|llvm|obj|so] [--mcpu=NAME]
//                             [--stop-after=STAGE | --start-at=STAGE]
//                             [--insert-pass=STAGE:PIPELINE]
//                             [--load-pass-plugin=LIB --load-dialect-plugin=LIB]
//
// Runs ftc::buildStages, the function `ftc-opt --ftc-cpu` runs
// (`--dump-pipeline` prints it for replay), then LLVM at -O3, then links the
// object with the runtime into step.so.
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CpuCodegen.h"
#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Codegen/CudaRuntimeAbi.h"
#include "ftc/Codegen/Gemm.h"
#include "ftc/Dialect/Train/IR/TrainModel.h"
#include "ftc/Pipelines/Pipelines.h"
#include "ftc/Registration/InitAll.h"
#include "ftc/Support/InputFile.h"
#include "ftc/Support/Plugins.h"
#include "ftc/Transforms/Passes.h"
#include "ftc/Transforms/Remat.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/CallInterfaces.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <deque>

using namespace mlir;
namespace cl = llvm::cl;
namespace train = ftc::train;

namespace {
cl::OptionCategory category("ftc options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.mlir>"), cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file (default: step.so, or "
                                              "stdout for --emit=mlir|llvm and --stop-after)"),
                                cl::value_desc("path"), cl::cat(category));
cl::opt<std::string> target("target",
                            cl::desc("cpu (this host's, or --mcpu's) or cuda (an NVIDIA GPU, "
                                     "--cuda-arch; the host code for this host)"),
                            cl::init("cpu"), cl::cat(category));
enum class Emit { Mlir, Llvm, Obj, So, Ptx };
cl::opt<Emit> emit("emit", cl::desc("What to write"), cl::init(Emit::So),
                   cl::values(clEnumValN(Emit::Mlir, "mlir", "the LLVM-dialect module"),
                              clEnumValN(Emit::Llvm, "llvm", "optimized LLVM IR"),
                              clEnumValN(Emit::Obj, "obj", "an object file"),
                              clEnumValN(Emit::So, "so", "the shared library"),
                              clEnumValN(Emit::Ptx, "ptx",
                                         "the kernels' PTX (--target=cuda)")),
                   cl::cat(category));
cl::opt<std::string> cudaArch("cuda-arch",
                              cl::desc("The NVIDIA GPU the kernels are compiled for "
                                       "(--target=cuda; default: sm_90, H100/H200)"),
                              cl::init("sm_90"), cl::cat(category));
cl::opt<std::string> cudaToolkit(
    "cuda-toolkit",
    cl::desc("The CUDA toolkit: its ptxas compiles the kernels to a cubin, its libdevice "
             "gives them math functions (default: $CUDA_HOME, else /usr/local/cuda); "
             "without ptxas, step.so embeds PTX, which the driver compiles when loading"),
    cl::cat(category));
cl::opt<bool> cudaEmulate(
    "cuda-emulate",
    cl::desc("With --target=cuda: compile the kernels for this CPU instead, each launch run "
             "as loops over its blocks and threads (slow; a test of the GPU mapping without "
             "a GPU)"),
    cl::cat(category));
cl::opt<std::string> cudaProducts(
    "cuda-products",
    cl::desc("With --target=cuda: how the matrix products run, cublaslt (the default: "
             "cuBLASLt on tensor cores, loaded by step.so at run time) or kernels "
             "(generated with the rest; slow, needs no library)"),
    cl::init("cublaslt"), cl::cat(category));
cl::opt<std::string> cudaAttention(
    "cuda-attention",
    cl::desc("With --target=cuda: how 16-bit attention runs, fused (the default: one "
             "tensor-core kernel per pass, the [T, T] scores never in memory) or unfused "
             "(products and softmax kernels, as in fp32)"),
    cl::init("fused"), cl::cat(category));
cl::opt<std::string> cudaBias(
    "cuda-bias",
    cl::desc("With --target=cuda: how a linear layer's bias is added, epilogue (the "
             "default: by cuBLASLt in the product) or kernel (broadcast into the result "
             "by a kernel, then added by the product)"),
    cl::init("epilogue"), cl::cat(category));
cl::opt<std::string> cudaGelu(
    "cuda-gelu",
    cl::desc("With --target=cuda: how a GELU (tanh) after a product, and its gradient, "
             "run: epilogue (the default: by cuBLASLt in the product) or kernel"),
    cl::init("epilogue"), cl::cat(category));
cl::opt<bool> cudaPtxOnly("cuda-ptx-only",
                          cl::desc("Embed PTX in step.so even where ptxas could make a "
                                   "cubin (the driver compiles it when a state is created)"),
                          cl::cat(category));
cl::opt<std::string> mcpu("mcpu", cl::desc("Target CPU (default: this host's, with "
                                           "its features)"),
                          cl::cat(category));
cl::opt<bool> bf16Dot(
    "bf16-dot",
    cl::desc("bf16 products on AVX512_BF16's vdpbf16ps (the target must have it; "
             "default: bf16 widened to f32 after packing, summed with FMAs, faster on "
             "the CPUs measured)"),
    cl::cat(category));
cl::opt<bool> report("report",
                     cl::desc("Print the memory of a step (bytes, by part) and continue"),
                     cl::cat(category));
cl::opt<bool> checkNumerics(
    "check-numerics",
    cl::desc("A debugging step: every op of the forward and backward is checked, and a "
             "step that makes an inf or a NaN fails (FTC_ERROR_NUMERICS) naming the first "
             "op that did and its place in the model file, its state unchanged"),
    cl::cat(category));

cl::opt<std::string> rematPolicy(
    "remat",
    cl::desc("Gradient checkpointing: none (keep every saved value), blocks (recompute "
             "inside each of the model's functions, as torch.utils.checkpoint per block), "
             "sqrt (about sqrt(n) groups of blocks) or a plugin's policy"),
    cl::value_desc("policy"), cl::init("none"), cl::cat(category));
cl::opt<std::string> memoryBudget(
    "memory-budget",
    cl::desc("Recompute what it takes for the planned peak (the report's total) to fit "
             "in this many bytes (also KiB, MiB, GiB), with the fewest recomputed FLOPs"),
    cl::value_desc("bytes"), cl::cat(category));
// Stages and plugins, for compiler researchers (docs/plugins.md).
cl::OptionCategory researchCategory(
    "stages and plugins",
    "The pipeline's named stages (--list-stages): stop there, resume from there, "
    "run passes there; plugins' passes, dialects, remat policies, autocast rules and "
    "tiles (docs/plugins.md).");
cl::opt<bool> listStages("list-stages",
                         cl::desc("Print the pipeline's stages, one line each, and exit"),
                         cl::cat(researchCategory));
// --stop-after is made in main: libLLVM registers one of its own (llc's).
cl::opt<std::string> startAt(
    "start-at",
    cl::desc("The input is IR after this stage (--stop-after's output, edited or not): "
             "run the stages after it"),
    cl::value_desc("stage"), cl::cat(researchCategory));
cl::list<std::string> insertPass(
    "insert-pass",
    cl::desc("Run a textual pass pipeline after a stage, as "
             "--insert-pass='after-autodiff:canonicalize,cse' (repeatable; in order)"),
    cl::value_desc("stage:pipeline"), cl::cat(researchCategory));
cl::opt<std::string> cpuTiles(
    "cpu-tiles",
    cl::desc("Tile sizes of the matrix products: an instruction set's (avx512bf16, avx512, "
             "avx2, generic; default: the target CPU's) or a plugin's"),
    cl::value_desc("name"), cl::cat(researchCategory));
// Read from argv before the command line is parsed (ftc::findPluginFlags);
// declared so that the parser accepts them and --help lists them.
cl::list<std::string> passPlugins("load-pass-plugin",
                                  cl::desc("Load passes (and remat policies, autocast "
                                           "rules, tiles) from a plugin library, as "
                                           "mlir-opt does"),
                                  cl::value_desc("library"), cl::cat(researchCategory));
cl::list<std::string> dialectPlugins("load-dialect-plugin",
                                     cl::desc("Load dialects from a plugin library, as "
                                              "mlir-opt does"),
                                     cl::value_desc("library"), cl::cat(researchCategory));

cl::opt<bool> dumpPipeline("dump-pipeline",
                           cl::desc("Print the MLIR pipeline as an ftc-opt "
                                    "--pass-pipeline string and continue"),
                           cl::cat(category));

// The optimizer and LoRA flags are ftc-optimizer's and ftc-lora's options,
// declared once in Passes.td: ftc makes a flag of each when it starts and
// hands the ones given to the pass as they are
// (PipelineOptions::optimizerOptions, loraOptions).
cl::OptionCategory optimizerCategory(
    "optimizer options",
    "Those of ftc-optimizer (ftc-opt --ftc-optimizer='optimizer=sgd lr=0.1'); "
    "settings not given come from the model's train.optimizer.");
cl::OptionCategory loraCategory(
    "LoRA options",
    "Those of ftc-lora (ftc-opt --ftc-lora='rank=8 targets=c_fc'), as "
    "--lora-<option>; settings not given come from the model's train.lora. "
    "Without --lora-targets or train.lora, no adapters.");

/// One string flag per option of a pass, named `prefix` + the option's name,
/// with its description; the pass parses and checks the values. `switches`
/// may be given without a value, meaning true.
class PassFlags {
public:
  PassFlags(std::unique_ptr<Pass> pass,
            SmallVector<cl::Option *> (*getOptions)(Pass &), StringRef prefix,
            cl::OptionCategory &category, ArrayRef<StringRef> switches = {})
      : pass(std::move(pass)) {
    for (cl::Option *option : getOptions(*this->pass)) {
      names.push_back(option->ArgStr.str());
      flagNames.push_back((prefix + option->ArgStr).str());
      auto flag = std::make_unique<cl::opt<std::string>>(
          StringRef(flagNames.back()), cl::desc(option->HelpStr),
          cl::value_desc("value"), cl::cat(category));
      if (llvm::is_contained(switches, option->ArgStr))
        flag->setValueExpectedFlag(cl::ValueOptional);
      flags.push_back(std::move(flag));
    }
  }

  /// The first flag given, or "".
  std::string firstGiven() const {
    for (const auto &flag : flags)
      if (flag->getNumOccurrences())
        return "--" + flag->ArgStr.str();
    return "";
  }

  /// The flags given, as the pass's options: `lr=0.05 optimizer=sgd`.
  std::string text() const {
    std::string text;
    for (auto [name, flag] : llvm::zip(names, flags))
      if (flag->getNumOccurrences()) {
        std::string value = flag->getValue();
        if (value.empty() && flag->getValueExpectedFlag() == cl::ValueOptional)
          value = "true";
        // Braces keep a value with spaces in one piece (and would be
        // left in one with an unbalanced bracket, a bad regex).
        if (value.find(' ') != std::string::npos)
          value = "{" + value + "}";
        text += (text.empty() ? "" : " ") + name + "=" + value;
      }
    return text;
  }

private:
  // Own the names and descriptions, which cl::opt does not copy.
  std::unique_ptr<Pass> pass;
  std::deque<std::string> flagNames;
  std::vector<std::string> names;
  std::vector<std::unique_ptr<cl::opt<std::string>>> flags;
};

int error(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "ftc") << message << "\n";
  return 1;
}

int error(llvm::Error err) {
  std::string message = llvm::toString(std::move(err));
  return error(message);
}

/// The planned bytes of a step: every buffer of the memory plan.
int64_t plannedTotal(ModuleOp module) {
  int64_t total = 0;
  if (auto memory = module->getAttrOfType<DictionaryAttr>("ftc.memory"))
    for (NamedAttribute field : memory)
      if (field.getName() != "heap_allocations")
        total += cast<IntegerAttr>(field.getValue()).getInt();
  return total;
}

/// The memory of one step as ftc-plan-memory recorded it (`ftc.memory`):
/// every part is allocated once with the state, nothing during a step.
void printReport(ModuleOp module, llvm::raw_ostream &os) {
  auto memory = module->getAttrOfType<DictionaryAttr>("ftc.memory");
  if (!memory) {
    os << "ftc: no memory plan in this pipeline\n";
    return;
  }
  auto bytes = [&](StringRef kind) {
    auto value = memory.getAs<IntegerAttr>(kind);
    return value ? value.getInt() : 0;
  };
  struct Row {
    const char *label, *kind;
  };
  const Row rows[] = {{"parameters", "param"},
                      {"gradients", "grad"},
                      {"optimizer state", "slot"},
                      {"inputs (one batch)", "input"},
                      {"outputs", "output"},
                      {"workspace (temporaries)", "workspace"}};
  // Every buffer counts (the loss, step counter and RNG state too).
  int64_t total = plannedTotal(module);
  os << "memory of one step, in bytes (fixed at compile time):\n";
  for (const Row &row : rows)
    os << llvm::formatv("  {0,-26}{1,16}\n", row.label, bytes(row.kind));
  os << llvm::formatv("  {0,-26}{1,16}\n", "total", total);
  os << "heap allocations during a step: " << bytes("heap_allocations") << "\n";
}

/// --target=cuda: each entry point's kernel launches and cuBLASLt products
/// (at any stage from the kernels' mapping on: gpu.launch ops, then calls
/// of the runtime's launcher), so that what a pass changes in the GPU's
/// work is visible without a GPU.
void printGpuReport(ModuleOp module, llvm::raw_ostream &os) {
  llvm::MapVector<StringRef, std::pair<int64_t, int64_t>> entries;
  module.walk([&](Operation *op) {
    bool launch = isa<gpu::LaunchOp, gpu::LaunchFuncOp>(op), product = false;
    if (auto call = dyn_cast<CallOpInterface>(op))
      if (auto callee = dyn_cast_if_present<SymbolRefAttr>(call.getCallableForCallee())) {
        launch |= callee.getLeafReference() == ftc::cuda::kLaunchSymbol;
        product = callee.getLeafReference() == ftc::gemm::kGemmSymbol;
      }
    if (!launch && !product)
      return;
    auto fn = op->getParentOfType<FunctionOpInterface>();
    StringRef name = fn ? fn.getName() : "?";
    if (name.consume_front("ftc_"))
      name.consume_back("_impl");
    auto &[launches, products] = entries[name];
    launches += launch;
    products += product;
  });
  if (entries.empty())
    return;
  os << "GPU work per entry point (one call):\n";
  for (auto &[name, counts] : entries)
    os << llvm::formatv("  {0,-12}{1,8} kernel launches {2,6} cuBLASLt products\n", name,
                        counts.first, counts.second);
}

/// The precision the step computes in and, for bf16 or fp16, the autocast
/// rules: the type each op computes in.
void printPrecisionReport(ModuleOp module, llvm::raw_ostream &os) {
  auto precision = module->getAttrOfType<StringAttr>("ftc.precision");
  if (!precision) {
    os << "precision: fp32\n";
    return;
  }
  StringRef low = precision.getValue();
  StringRef name = "torch";
  if (auto recorded = module->getAttrOfType<StringAttr>("ftc.autocast_rules"))
    name = recorded.getValue();
  const ftc::AutocastRules *rules = ftc::lookupAutocastRules(name);
  if (!rules || rules->getTable().empty()) {
    os << "precision: " << low << " (autocast rules '" << name << "', decided op by op)\n";
    return;
  }
  os << "precision: " << low << " (autocast rules '" << name
     << "'; ops not listed compute in their operands' type)\n";
  for (const ftc::AutocastRule &rule : rules->getTable()) {
    StringRef type = rule.policy == ftc::AutocastPolicy::Lower  ? low
                     : rule.policy == ftc::AutocastPolicy::Fp32 ? StringRef("fp32")
                                                                : StringRef("widest");
    os << llvm::formatv("  {0,-22}{1,-8}{2}\n", rule.op, type, rule.why);
  }
}

/// "1,234,567".
std::string withCommas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

/// What the step trains, from the model as read (`original`) compiled to
/// train ops: trainable parameters, gradient and optimizer-state bytes and
/// the backward's matrix products; with LoRA, beside full fine-tuning of the
/// same model (compiled again without adapters).
/// The model as read (`original`) compiled to train ops (the
/// `ftc-training-step` pipeline, without recomputation): as asked for, or
/// with full fine-tuning (no LoRA) or in fp32.
FailureOr<OwningOpRef<ModuleOp>> compileStep(ModuleOp original,
                                             const ftc::PipelineOptions &options,
                                             bool lora = true, bool fp32 = false) {
  OwningOpRef<ModuleOp> module = original.clone();
  ftc::PipelineOptions step;
  step.optimizerOptions = options.optimizerOptions.getValue();
  if (lora)
    step.loraOptions = options.loraOptions.getValue();
  else
    (*module)->removeAttr(train::TrainDialect::getLoraAttrName());
  if (fp32) {
    (*module)->removeAttr(train::TrainDialect::getPrecisionAttrName());
  } else {
    step.autocastOptions = options.autocastOptions.getValue();
    step.lossScaleOptions = options.lossScaleOptions.getValue();
  }
  PassManager pm(original.getContext(), ModuleOp::getOperationName());
  if (failed(ftc::buildTrainingStepPipeline(pm, step, [](const Twine &) {
        return failure();
      })) ||
      failed(pm.run(*module)))
    return failure();
  return module;
}

/// What the step (`stepModule`: `original` compiled by compileStep as asked
/// for) trains; see below.
LogicalResult printTrainingReport(ModuleOp original, ModuleOp stepModule,
                                  const ftc::PipelineOptions &options,
                                  llvm::raw_ostream &os) {
  // The summary and LoRA settings of a step compiled otherwise.
  auto compile = [&](bool lora, bool fp32)
      -> FailureOr<std::pair<train::StepSummary, Attribute>> {
    auto module = compileStep(original, options, lora, fp32);
    if (failed(module))
      return failure();
    return std::pair{train::summarizeStep(**module),
                     (**module)->getAttr(train::TrainDialect::getLoraAttrName())};
  };
  train::StepSummary step = train::summarizeStep(stepModule);
  Attribute lora = stepModule->getAttr(train::TrainDialect::getLoraAttrName());
  auto percent = [](int64_t part, int64_t whole) {
    return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
  };
  auto row = [&](StringRef label, const std::string &value, const std::string &full) {
    if (full.empty())
      os << llvm::formatv("  {0,-26}{1,24}\n", label, value);
    else
      os << llvm::formatv("  {0,-26}{1,24}{2,24}\n", label, value, full);
  };
  auto trainable = [&](const train::StepSummary &s) {
    return withCommas(s.trainable) + llvm::formatv(" ({0:f2}%)", percent(s.trainable, s.parameters)).str();
  };
  auto products = [&](const train::StepSummary &s) {
    return llvm::formatv("{0} ({1:f2} GFLOP)", s.backwardProducts, s.backwardFlops / 1e9).str();
  };
  auto bytes = [](int64_t n) { return withCommas(n) + " B"; };
  if (step.weightCopyBytes > 0) {
    // 16-bit compute: what it keeps for the backward, beside fp32's.
    auto fp32 = compile(lora != nullptr, /*fp32=*/true);
    if (failed(fp32))
      return failure();
    const train::StepSummary &wide = fp32->first;
    // Saved: forward values the backward reads (autodiff's saved tensors).
    os << "what a step keeps for the backward (train ops, before fusion), and its weights:\n";
    row("", "this step", "fp32");
    row("saved activations", bytes(step.savedActivationBytes), bytes(wide.savedActivationBytes));
    row("saved 16-bit weights", bytes(step.savedWeightCopyBytes),
        bytes(wide.savedWeightCopyBytes));
    row("16-bit weight copies", bytes(step.weightCopyBytes), bytes(wide.weightCopyBytes));
    row("f32 master weights", bytes(step.storedBytes), bytes(wide.storedBytes));
  }
  if (!lora) {
    os << "training (no LoRA):\n";
    row("trainable parameters", trainable(step), "");
    row("optimizer state", bytes(step.slotBytes), "");
    row("backward products", products(step), "");
    return success();
  }
  auto full = compile(false, /*fp32=*/false);
  if (failed(full))
    return failure();
  train::StepSummary all = full->first;
  auto config = cast<train::LoraAttr>(lora);
  os << llvm::formatv("training with LoRA (rank {0}, alpha {1}, scale {2}, {3}, base {4}):\n",
                      config.getRank(), config.getAlpha().convertToDouble(),
                      config.getScale(), config.getVariant(), config.getBase());
  row("", "this step", "full fine-tuning");
  row("trainable parameters", trainable(step), trainable(all));
  row("parameters (as stored)", bytes(step.storedBytes), bytes(all.storedBytes));
  row("gradients", bytes(step.trainableBytes), bytes(all.trainableBytes));
  row("optimizer state", bytes(step.slotBytes), bytes(all.slotBytes));
  row("backward products", products(step), products(all));
  os << llvm::formatv("  dW products not computed (frozen weights): {0}, {1:f2} GFLOP per step\n",
                      step.frozenProducts, step.frozenFlops / 1e9);
  return success();
}


/// The optimizer and its parameter groups, from the step's updates (train
/// ops): each group's weight decay, learning-rate multiplier and members.
void printOptimizerReport(ModuleOp stepModule, llvm::raw_ostream &os) {
  auto number = [](double x) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%g", x);
    return text;
  };
  struct Group {
    double weightDecay, lrScale;
    SmallVector<std::string> names;
    int64_t elements = 0;
  };
  SmallVector<Group> groups;
  bool clipped = false;
  double maxNorm = 0;
  func::FuncOp step = train::findMarkedFunction(stepModule, train::TrainDialect::getStepAttrName());
  if (!step)
    return;
  step.walk([&](Operation *op) {
    if (auto clip = dyn_cast<train::ClipGradNormOp>(op)) {
      clipped = true;
      maxNorm = clip.getMaxNorm().convertToDouble();
    }
    double wd, scale;
    Value param;
    if (auto adamw = dyn_cast<train::AdamWUpdateOp>(op)) {
      wd = adamw.getConfig().getWeightDecay().convertToDouble();
      scale = adamw.getLrScale().convertToDouble();
      param = adamw.getParam();
    } else if (auto sgd = dyn_cast<train::SGDUpdateOp>(op)) {
      wd = sgd.getConfig().getWeightDecay().convertToDouble();
      scale = sgd.getLrScale().convertToDouble();
      param = sgd.getParam();
    } else {
      return;
    }
    auto read = param.getDefiningOp<train::GetParamOp>();
    std::string name = read ? read.getParam().str() : "?";
    auto *group = llvm::find_if(
        groups, [&](const Group &g) { return g.weightDecay == wd && g.lrScale == scale; });
    if (group == groups.end()) {
      groups.push_back({wd, scale, {}, 0});
      group = std::prev(groups.end());
    }
    group->names.push_back(name);
    group->elements += cast<RankedTensorType>(param.getType()).getNumElements();
  });
  Attribute settings = stepModule->getAttr(train::TrainDialect::getOptimizerAttrName());
  std::string text;
  llvm::raw_string_ostream(text) << settings;
  os << "optimizer: " << text << "; the learning rate is a run-time setting (ftc_set_lr)";
  if (clipped)
    os << "; gradients clipped at global norm " << number(maxNorm);
  os << "\n";
  os << llvm::formatv("  {0,-14}{1,-10}{2,14}  {3}\n", "weight decay", "lr scale", "elements",
                      "parameters");
  for (const Group &g : groups) {
    std::string names;
    for (auto [i, name] : llvm::enumerate(g.names)) {
      if (i == 6) {
        names += llvm::formatv(", ... ({0} more)", g.names.size() - 6).str();
        break;
      }
      names += (i ? ", " : "") + name;
    }
    os << llvm::formatv("  {0,-14}{1,-10}{2,14}  {3}\n", number(g.weightDecay),
                        number(g.lrScale), withCommas(g.elements), names);
  }
}

/// ftc-remat's verdict on the module (train.remat), field by field.
double rematField(ModuleOp module, StringRef name) {
  auto verdict = module->getAttrOfType<DictionaryAttr>(train::TrainDialect::getRematAttrName());
  Attribute value = verdict ? verdict.get(name) : nullptr;
  if (auto i = dyn_cast_or_null<IntegerAttr>(value))
    return static_cast<double>(i.getInt());
  if (auto f = dyn_cast_or_null<FloatAttr>(value))
    return f.getValueAsDouble();
  return 0;
}

/// The memory plan of `model` compiled with ftc-remat's `rematOptions` (as
/// far as the plan): its total and the memory model's peak. Fails quietly
/// (ftc-remat's infeasible budget).
FailureOr<std::pair<int64_t, int64_t>> planWith(ModuleOp model,
                                                 const ftc::PipelineOptions &given,
                                                 const std::string &rematOptions) {
  OwningOpRef<ModuleOp> module = model.clone();
  ftc::PipelineOptions options; // a copy (PipelineOptions cannot be copied)
  ftc::copyPassOptions(given, options);
  options.startAt = given.startAt.getValue();
  options.rematOptions = rematOptions;
  PassManager pm(model.getContext(), ModuleOp::getOperationName());
  ScopedDiagnosticHandler quiet(model.getContext(), [](Diagnostic &) { return success(); });
  if (failed(ftc::buildCpuPipeline(pm, options, [](const Twine &) { return failure(); },
                                   /*untilMemoryPlan=*/true)) ||
      failed(pm.run(*module)))
    return failure();
  return std::pair{plannedTotal(*module),
                   static_cast<int64_t>(rematField(*module, "peak"))};
}

/// --memory-budget: ftc-remat's options for a plan of at most `budget`
/// bytes. Its memory model counts the gradient function's tensors before
/// fusion; the plan has the parameters, gradients and optimizer state
/// besides, and the lowering's own temporaries. So: plan without
/// recomputation, take the difference, ask ftc-remat for the budget less
/// it, and correct by what the plan overshoots until it fits (a few
/// compiles as far as the plan). Fails with the least plan when none fits.
FailureOr<std::string> rematForBudget(ModuleOp model, const ftc::PipelineOptions &options,
                                      int64_t budget) {
  auto none = planWith(model, options, "policy=none");
  if (failed(none)) {
    error("--memory-budget: the model does not compile");
    return failure();
  }
  if (none->first <= budget)
    return std::string("policy=none");
  int64_t modelBudget = budget - (none->first - none->second);
  for (int attempt = 0; attempt < 5 && modelBudget > 0; ++attempt) {
    std::string text = "policy=budget memory-budget=" + std::to_string(modelBudget);
    auto planned = planWith(model, options, text);
    llvm::errs() << "ftc: --memory-budget: ftc-remat's model at " << withCommas(modelBudget)
                 << " B plans "
                 << (succeeded(planned) ? withCommas(planned->first) + " B" : "nothing")
                 << "\n";
    if (failed(planned))
      break; // below what ftc-remat can reach
    if (planned->first <= budget)
      return text;
    modelBudget -= planned->first - budget;
  }
  auto least = planWith(model, options, "policy=blocks");
  if (succeeded(least) && least->first <= budget)
    return std::string("policy=blocks");
  error(llvm::formatv("--memory-budget={0} B is infeasible for this model: the smallest "
                      "feasible budget is {1} B (every block recomputed: --remat=blocks)",
                      budget, succeeded(least) ? least->first : none->first));
  return failure();
}

/// ftc-remat's part of the report: what it recomputes, and the budget sweep
/// of the model (the memory model's peak, shifted by what the plan adds to
/// it in this compile; recomputed FLOPs; the predicted step-time overhead,
/// recomputed FLOPs over the step's).
LogicalResult printRematReport(ModuleOp step, ModuleOp compiled, llvm::raw_ostream &os) {
  std::string policy = "none";
  if (auto verdict = compiled->getAttrOfType<DictionaryAttr>(train::TrainDialect::getRematAttrName()))
    if (auto name = verdict.getAs<StringAttr>("policy"))
      policy = name.getValue().str();
  double stepFlops = rematField(compiled, "step_flops");
  double flops = rematField(compiled, "recompute_flops");
  os << "gradient checkpointing (ftc-remat, policy " << policy << "):\n";
  os << llvm::formatv("  {0,-26}{1,24}\n", "recomputed ops",
                      static_cast<int64_t>(rematField(compiled, "recomputed_ops")));
  os << llvm::formatv("  {0,-26}{1,20:f2} GFLOP ({2:f1}% of the step's {3:f2} GFLOP)\n",
                      "recomputed", flops / 1e9, stepFlops ? 100 * flops / stepFlops : 0,
                      stepFlops / 1e9);
  os << llvm::formatv("  {0,-26}{1,24} B (memory model)\n", "kept for the backward",
                      withCommas(static_cast<int64_t>(rematField(compiled, "kept"))));
  if (double bound = rematField(compiled, "lower_bound_flops"); policy == "budget")
    os << llvm::formatv("  {0,-26}{1,20:f2} GFLOP (optimality gap at most {2:f1}%)\n",
                        "lower bound", bound / 1e9, flops > 0 ? 100 * (flops - bound) / flops : 0);

  // The sweep, on the gradient function of `step` (compiled without
  // recomputation).
  func::FuncOp grad = train::findMarkedFunction(step, train::TrainDialect::getGradientOfAttrName());
  if (!grad)
    return failure();
  bool fusedAttention = false;
  if (auto verdict =
          compiled->getAttrOfType<DictionaryAttr>(train::TrainDialect::getRematAttrName()))
    if (auto fused = verdict.getAs<BoolAttr>("fused_attention"))
      fusedAttention = fused.getValue();
  FailureOr<ftc::remat::StepGraph> graph = ftc::remat::analyzeStep(grad, fusedAttention);
  if (failed(graph))
    return failure();
  ftc::remat::Estimate none = ftc::remat::simulate(*graph, {});
  int64_t offset = plannedTotal(compiled) - static_cast<int64_t>(rematField(compiled, "peak"));
  ftc::remat::BudgetResult least = ftc::remat::scheduleForBudget(*graph, 0);
  os << "budget sweep (--memory-budget; planned peak predicted: the memory model's peak + "
     << withCommas(offset) << " B, what this compile's plan adds to it):\n";
  os << llvm::formatv("  {0,18}{1,20}{2,14}{3,12}{4,10}\n", "budget (B)", "planned peak (B)",
                      "recomputed", "overhead", "gap");
  const int rows = 8;
  for (int i = 0; i < rows; ++i) {
    int64_t peak = none.peakBytes -
                   (none.peakBytes - least.minimumPeak) * static_cast<int64_t>(i) / (rows - 1);
    ftc::remat::BudgetResult result = ftc::remat::scheduleForBudget(*graph, peak);
    if (!result.feasible)
      continue;
    double recomputed = result.estimate.recomputeFlops;
    os << llvm::formatv("  {0,18}{1,20}{2,8:f2} GFLOP{3,11:f1}%{4,9:f1}%\n",
                        withCommas(peak + offset), withCommas(result.estimate.peakBytes + offset),
                        recomputed / 1e9, 100 * recomputed / graph->stepFlops,
                        recomputed > 0 ? 100 * (recomputed - result.lowerBoundFlops) / recomputed
                                       : 0.0);
  }
  return success();
}

/// The stages, one line each.
std::string stageList() {
  std::string text;
  for (const ftc::Stage &stage : ftc::getStages())
    text += llvm::formatv("  {0,-20}{1}\n", stage.name, stage.description).str();
  return text;
}

/// The index of the stage `name` given to `flag`, or an error listing them.
FailureOr<unsigned> stageNamed(StringRef flag, StringRef name) {
  if (std::optional<unsigned> index = ftc::lookupStage(name))
    return *index;
  std::string names;
  for (const ftc::Stage &stage : ftc::getStages())
    names += (names.empty() ? "" : ", ") + stage.name.str();
  error("--" + flag + "=" + name + ": no such stage; the stages are " + names);
  return failure();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  // First: --mlir-print-ir-before/after=PASS take their values from the
  // pass registry as it is when the pass-manager options are created; a
  // plugin's passes are in it by then.
  ftc::registerAllFtcPasses();
  ftc::PluginFlags plugins = ftc::findPluginFlags(argc, argv);
  if (std::string failure = ftc::loadPassPlugins(plugins.passPlugins); !failure.empty())
    return error(failure);
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();
  PassFlags optimizerFlags(ftc::createOptimizer(), ftc::getOptimizerOptions, "",
                           optimizerCategory);
  PassFlags loraFlags(ftc::createLora(), ftc::getLoraOptions, "lora-", loraCategory,
                      {"rslora"});
  PassFlags autocastFlags(ftc::createAutocast(), ftc::getAutocastOptions, "", category);
  PassFlags lossScaleFlags(ftc::createLossScale(), ftc::getLossScaleOptions, "", category);
  // libLLVM's code generator registers a --stop-after (llc's, for its
  // passes), which ftc never sets; ftc's names a stage.
  if (cl::Option *llc = cl::getRegisteredOptions().lookup("stop-after"))
    llc->removeArgument();
  cl::opt<std::string> stopAfter(
      "stop-after",
      cl::desc("Write the IR after this stage (to -o, else stdout) and stop; the file "
               "records the stage and the compile's options for --start-at"),
      cl::value_desc("stage"), cl::cat(researchCategory));
  // --help shows ftc's own options, not the hundreds libLLVM registers
  // (every backend's); MLIR's flags still work and are listed here.
  cl::HideUnrelatedOptions({&category, &optimizerCategory, &loraCategory, &researchCategory});
  cl::ParseCommandLineOptions(
      argc, argv,
      "ftc: compiles a training step\n\n"
      "  Also takes MLIR's pass-manager flags: --mlir-print-ir-after-all,\n"
      "  --mlir-print-ir-before=PASS, --mlir-print-ir-after=PASS, --mlir-timing,\n"
      "  --mlir-pass-pipeline-crash-reproducer=FILE, --mlir-disable-threading,\n"
      "  --mlir-print-op-on-diagnostic (each error followed by the op it is on).\n");

  if (listStages) {
    llvm::outs() << "ftc's stages, in order (--stop-after, --start-at, --insert-pass):\n"
                 << stageList();
    return 0;
  }
  if (inputFile.empty())
    return error("no input file (ftc MODEL.mlir -o step.so; ftc --help)");
  if (target != "cpu" && target != "cuda")
    return error("--target: expected cpu or cuda, got '" + target + "'");
  const bool cuda = target == "cuda";
  if (!cuda && emit == Emit::Ptx)
    return error("--emit=ptx writes the kernels of --target=cuda");
  if (!cuda && (cudaArch.getNumOccurrences() || cudaToolkit.getNumOccurrences() ||
                cudaPtxOnly.getNumOccurrences() || cudaEmulate.getNumOccurrences() ||
                cudaProducts.getNumOccurrences() || cudaAttention.getNumOccurrences() ||
                cudaBias.getNumOccurrences() || cudaGelu.getNumOccurrences()))
    return error("--cuda-arch, --cuda-toolkit, --cuda-ptx-only, --cuda-products, "
                 "--cuda-attention, --cuda-bias, --cuda-gelu and --cuda-emulate configure "
                 "--target=cuda");
  if (cudaProducts != "cublaslt" && cudaProducts != "kernels")
    return error("--cuda-products: expected cublaslt or kernels, got '" + cudaProducts + "'");
  if (cudaAttention != "fused" && cudaAttention != "unfused")
    return error("--cuda-attention: expected fused or unfused, got '" + cudaAttention + "'");
  if (cudaBias != "epilogue" && cudaBias != "kernel")
    return error("--cuda-bias: expected epilogue or kernel, got '" + cudaBias + "'");
  if (cudaGelu != "epilogue" && cudaGelu != "kernel")
    return error("--cuda-gelu: expected epilogue or kernel, got '" + cudaGelu + "'");
  if (cudaEmulate && emit == Emit::Ptx)
    return error("--cuda-emulate compiles the kernels for the CPU: there is no PTX");
  if (cuda && (bf16Dot.getNumOccurrences() || cpuTiles.getNumOccurrences()))
    return error(std::string(bf16Dot.getNumOccurrences() ? "--bf16-dot" : "--cpu-tiles") +
                 " configures the CPU's matrix products; it does not go with --target=cuda");
  if (cuda && !StringRef(cudaArch).starts_with("sm_"))
    return error("--cuda-arch: expected an NVIDIA architecture as sm_90, got '" + cudaArch +
                 "'");

  // The range of stages, and the flags that configure stages outside it.
  const unsigned input = *ftc::lookupStage("input"), end = *ftc::lookupStage("llvm");
  unsigned first = input, last = end;
  if (startAt.getNumOccurrences()) {
    auto index = stageNamed("start-at", startAt);
    if (failed(index))
      return 1;
    first = *index;
  }
  if (stopAfter.getNumOccurrences()) {
    auto index = stageNamed("stop-after", stopAfter);
    if (failed(index))
      return 1;
    last = *index;
    if (emit.getNumOccurrences())
      return error("--stop-after writes MLIR at a stage; it does not go with --emit");
  }
  if (last < first)
    return error("--stop-after=" + stopAfter + " comes before --start-at=" + startAt);
  if (report && last < *ftc::lookupStage("after-memory-plan"))
    return error("--report needs the memory plan (stage after-memory-plan); --stop-after=" +
                 stopAfter + " ends before it");
  struct StagedFlag {
    std::string flag;
    StringRef stage;
  };
  const StagedFlag stagedFlags[] = {
      {loraFlags.firstGiven(), "after-lora"},
      {autocastFlags.firstGiven(), "after-autocast"},
      {rematPolicy.getNumOccurrences() ? "--remat" : "", "after-remat"},
      {memoryBudget.getNumOccurrences() ? "--memory-budget" : "", "after-remat"},
      {optimizerFlags.firstGiven(), "after-optimizer"},
      {lossScaleFlags.firstGiven(), "after-optimizer"},
      {checkNumerics.getNumOccurrences() ? "--check-numerics" : "", "after-optimizer"},
      {bf16Dot.getNumOccurrences() ? "--bf16-dot" : "", "after-tiling"},
      {cpuTiles.getNumOccurrences() ? "--cpu-tiles" : "", "after-tiling"}};
  for (const StagedFlag &flag : stagedFlags)
    if (!flag.flag.empty() && *ftc::lookupStage(flag.stage) <= first)
      return error(flag.flag + " configures stage " + flag.stage +
                   ", which ran before the input (--start-at=" + startAt + ")");
  std::vector<ftc::Insertion> insertions;
  for (const std::string &text : insertPass) {
    auto [name, pipeline] = StringRef(text).split(':');
    if (pipeline.empty())
      return error("--insert-pass=" + text + ": expected STAGE:PIPELINE, as "
                   "after-autodiff:canonicalize");
    auto index = stageNamed("insert-pass", name);
    if (failed(index))
      return 1;
    if (*index < first || *index > last)
      return error("--insert-pass=" + text + ": this compile does not reach stage " + name +
                   " (it runs from " + ftc::getStages()[first].name + " to " +
                   ftc::getStages()[last].name + ")");
    insertions.push_back({*index, pipeline.str()});
  }
  if (outputFile.empty())
    outputFile = (emit == Emit::Mlir || emit == Emit::Llvm || emit == Emit::Ptx ||
                  stopAfter.getNumOccurrences())
                     ? "-"
                     : "step.so";

  DialectRegistry registry;
  ftc::registerAllFtcDialects(registry);
  if (std::string failure = ftc::loadDialectPlugins(plugins.dialectPlugins, registry);
      !failure.empty())
    return error(failure);
  MLIRContext context(registry);
  // An error names its place in the model file and stops there: no dump of
  // the op it is attached to (for a module or function, thousands of lines
  // of generic IR) unless a developer asks for it.
  bool printOp = false;
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    if (arg.consume_front("--mlir-print-op-on-diagnostic") ||
        arg.consume_front("-mlir-print-op-on-diagnostic"))
      printOp = arg.empty() || arg == "=true" || arg == "=1";
  }
  context.printOpOnDiagnostic(printOp);

  // The pipeline first: a bad optimizer flag is reported before the model
  // is read.
  PassManager pm(&context, ModuleOp::getOperationName());
  if (failed(applyPassManagerCLOptions(pm)))
    return 1;
  DefaultTimingManager timing;
  applyDefaultTimingManagerCLOptions(timing);
  TimingScope rootTiming = timing.getRootScope();
  pm.enableTiming(rootTiming);
  auto tm = ftc::createCpuTargetMachine(mcpu);
  if (!tm)
    return error(tm.takeError());
  ftc::PipelineOptions options;
  options.optimizerOptions = optimizerFlags.text();
  options.loraOptions = loraFlags.text();
  options.autocastOptions = autocastFlags.text();
  options.lossScaleOptions = lossScaleFlags.text();
  options.startAt = ftc::getStages()[first].name.str();
  options.stopAfter = ftc::getStages()[last].name.str();
  if (!ftc::remat::lookupRematPolicy(rematPolicy))
    return error("--remat: expected a policy (" + ftc::remat::rematPolicyNames() + "), got '" +
                 rematPolicy + "'");
  std::optional<int64_t> budget;
  if (memoryBudget.getNumOccurrences()) {
    budget = ftc::remat::parseBytes(memoryBudget);
    if (!budget)
      return error("--memory-budget: expected bytes (3000000, 512KiB, 300MiB, 1.5GiB), got '" +
                   memoryBudget + "'");
    if (rematPolicy != "none")
      return error("--memory-budget chooses what to recompute; it does not go with --remat=" +
                   rematPolicy);
  }
  options.rematOptions = "policy=" + rematPolicy;
  options.checkNumerics = checkNumerics;
  if (cuda) {
    options.target = "cuda";
    options.cudaChip = cudaArch.getValue();
    options.cudaEmulate = cudaEmulate;
    options.cudaProducts = cudaProducts.getValue();
    options.cudaAttention = cudaAttention.getValue();
    options.cudaBias = cudaBias.getValue();
    options.cudaGelu = cudaGelu.getValue();
    std::string toolkit = cudaToolkit;
    if (toolkit.empty())
      if (const char *home = std::getenv("CUDA_HOME"))
        toolkit = home;
    if (toolkit.empty())
      toolkit = "/usr/local/cuda";
    if (cudaToolkit.getNumOccurrences() && !llvm::sys::fs::is_directory(toolkit))
      return error("--cuda-toolkit: '" + toolkit + "' is not a directory");
    options.cudaToolkit = toolkit;
    // A cubin where ptxas is there to make one (and PTX is not what is
    // asked for): no compile when a state is created.
    llvm::SmallString<128> ptxas(toolkit);
    llvm::sys::path::append(ptxas, "bin", "ptxas");
    options.cudaFormat = !cudaPtxOnly && emit != Emit::Ptx &&
                                 llvm::sys::fs::can_execute(ptxas)
                             ? "bin"
                             : "isa";
  }
  // The tiles follow the CPU the code is compiled for (--mcpu, else this
  // host), and --dump-pipeline names them, so a replay needs no host.
  if (bf16Dot && !ftc::hasCpuFeature(**tm, "avx512bf16"))
    return error("--bf16-dot: the target CPU (" +
                 (mcpu.empty() ? std::string("this host") : "--mcpu=" + mcpu) +
                 ") has no AVX512_BF16");
  options.cpuIsa = ftc::cpuIsa(**tm, bf16Dot);
  if (cpuTiles.getNumOccurrences()) {
    if (bf16Dot)
      return error("--cpu-tiles chooses the tiles; it does not go with --bf16-dot");
    if (failed(ftc::cpu::tileConfigFor(cpuTiles)))
      return error("--cpu-tiles: expected one of " + ftc::cpu::knownIsas() + ", got '" +
                   cpuTiles + "'");
    options.cpuIsa = cpuTiles.getValue();
  }
  auto optionError = [](const llvm::Twine &message) {
    // Empty when llvm::cl printed it ("for the --lr option: ...").
    if (std::string text = message.str(); !text.empty())
      error(text);
    return failure();
  };
  if (failed(ftc::buildStages(pm, options, optionError, insertions)))
    return 1;

  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> file = openInputFile(inputFile, &message);
  if (!file)
    return error(message);
  if (failed(ftc::checkNotEmpty(*file, context)))
    return 1;
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  // An implicit top-level module points at line 0; diagnostics on it (no
  // loss function, say) read better at the start of the file.
  if (auto loc = dyn_cast<FileLineColLoc>(module->getLoc()); loc && loc.getLine() == 0)
    (*module)->setLoc(FileLineColLoc::get(loc.getFilename(), 1, 1));

  // IR from a later stage: resumed where --start-at says, which must agree
  // with the stage it records (or, unrecorded, not be later than what it
  // holds); without --start-at, one line saying which flag to use.
  auto marked = (*module)->getAttrOfType<StringAttr>(ftc::kStageAttrName);
  std::optional<std::pair<unsigned, std::string>> seen = ftc::detectStage(*module);
  if (first == input && seen)
    return error(llvm::formatv("{0} is IR after stage {1} ({2}), not a model: compile it "
                               "from there with --start-at={1}",
                               inputFile, ftc::getStages()[seen->first].name, seen->second)
                     .str());
  if (first != input && seen && (marked ? seen->first != first : seen->first > first))
    return error(llvm::formatv("{0} is IR after stage {1} ({2}), not after {3}: use "
                               "--start-at={1}",
                               inputFile, ftc::getStages()[seen->first].name, seen->second,
                               startAt)
                     .str());
  // The options recorded by --stop-after, for the flags not given again.
  if (auto recorded = (*module)->getAttrOfType<StringAttr>(ftc::kStageOptionsAttrName)) {
    ftc::PipelineOptions from;
    StringRef text = recorded.getValue();
    text.consume_front("{");
    text.consume_back("}");
    if (failed(from.parseFromString(text)))
      return error(inputFile + ": its " + ftc::kStageOptionsAttrName + " does not parse");
    auto take = [](auto &to, const auto &from, bool given) {
      if (!given)
        to = from.getValue();
    };
    take(options.optimizerOptions, from.optimizerOptions,
         !optimizerFlags.firstGiven().empty());
    take(options.loraOptions, from.loraOptions, !loraFlags.firstGiven().empty());
    take(options.autocastOptions, from.autocastOptions, !autocastFlags.firstGiven().empty());
    take(options.lossScaleOptions, from.lossScaleOptions,
         !lossScaleFlags.firstGiven().empty());
    take(options.rematOptions, from.rematOptions,
         rematPolicy.getNumOccurrences() || memoryBudget.getNumOccurrences());
    take(options.checkNumerics, from.checkNumerics, checkNumerics.getNumOccurrences());
    // The target and its options, unless --target is given again (the
    // host's CPU stays this compile's: the code runs here).
    if (!target.getNumOccurrences())
      ftc::copyTargetOptions(from, options);
    pm.clear();
    if (failed(ftc::buildStages(pm, options, optionError, insertions)))
      return 1;
  }
  (*module)->removeAttr(ftc::kStageAttrName);
  (*module)->removeAttr(ftc::kStageOptionsAttrName);

  // The model as read, for the training part of the report.
  OwningOpRef<ModuleOp> original = report && first == input ? module->clone() : nullptr;
  if (budget) {
    FailureOr<std::string> chosen = rematForBudget(*module, options, *budget);
    if (failed(chosen))
      return 1;
    options.rematOptions = *chosen;
    pm.clear();
    if (failed(ftc::buildStages(pm, options, optionError, insertions)))
      return 1;
  }
  if (dumpPipeline) {
    pm.printAsTextualPipeline(llvm::errs());
    llvm::errs() << "\n";
  }
  if (failed(pm.run(*module)))
    return 1;
  if (report) { // beside the module when that goes to stdout
    llvm::raw_ostream &os = outputFile == "-" ? llvm::errs() : llvm::outs();
    printReport(*module, os);
    printGpuReport(*module, os);
    printPrecisionReport(*module, os);
    if (!original) {
      os << "(what the step trains and recomputes is reported from the model as written, "
            "not with --start-at)\n";
    } else {
      auto step = compileStep(*original, options);
      if (succeeded(step))
        printOptimizerReport(**step, os);
      if (failed(step) || failed(printTrainingReport(*original, **step, options, os)) ||
          failed(printRematReport(**step, *module, os)))
        return 1;
    }
  }

  if (stopAfter.getNumOccurrences()) {
    // With the stage and the options of the passes after it, for
    // --start-at; with the locations, so that errors and --check-numerics
    // name places in the model file after a resume too.
    Builder b(&context);
    (*module)->setAttr(ftc::kStageAttrName, b.getStringAttr(stopAfter));
    ftc::PipelineOptions passOptions;
    ftc::copyPassOptions(options, passOptions);
    std::string text;
    llvm::raw_string_ostream textStream(text);
    passOptions.print(textStream);
    (*module)->setAttr(ftc::kStageOptionsAttrName, b.getStringAttr(text));
    auto out = openOutputFile(outputFile, &message);
    if (!out)
      return error(message);
    module->print(out->os(), OpPrintingFlags().enableDebugInfo(true, /*prettyForm=*/false));
    out->keep();
    return 0;
  }

  if (emit == Emit::Ptx) {
    auto image = module->lookupSymbol<LLVM::GlobalOp>(ftc::cuda::kImageSymbol);
    auto text = image ? dyn_cast_or_null<StringAttr>(image.getValueOrNull()) : nullptr;
    if (!text)
      return error("the compiled module holds no kernels");
    auto out = openOutputFile(outputFile, &message);
    if (!out)
      return error(message);
    out->os() << text.getValue().drop_back(); // the NUL the runtime reads to
    out->keep();
    return 0;
  }

  if (emit == Emit::Mlir) {
    auto out = openOutputFile(outputFile, &message);
    if (!out)
      return error(message);
    module->print(out->os());
    out->keep();
    return 0;
  }

  // The LLVM stages are timed with the MLIR passes: --mlir-timing shows the
  // whole compile.
  llvm::LLVMContext llvmContext;
  TimingScope optimizeTiming = rootTiming.nest("LLVM: translate and optimize (-O3)");
  auto llvmModule = ftc::translateAndOptimize(*module, llvmContext, **tm);
  optimizeTiming.stop();
  if (!llvmModule)
    return error(llvmModule.takeError());

  if (emit == Emit::Llvm) {
    auto out = openOutputFile(outputFile, &message);
    if (!out)
      return error(message);
    (*llvmModule)->print(out->os(), nullptr);
    out->keep();
    return 0;
  }

  // The object: to the output itself, or to a temporary file for linking.
  llvm::SmallString<128> objectPath;
  if (emit == Emit::Obj) {
    objectPath = outputFile;
  } else if (std::error_code ec =
                 llvm::sys::fs::createTemporaryFile("ftc-step", "o", objectPath)) {
    return error("cannot create a temporary object file: " + ec.message());
  }
  {
    TimingScope objectTiming = rootTiming.nest("LLVM: object code");
    auto out = openOutputFile(objectPath, &message);
    if (!out)
      return error(message);
    if (llvm::Error err = ftc::emitObjectFile(**llvmModule, **tm, out->os()))
      return error(std::move(err));
    out->keep();
  }
  if (emit == Emit::Obj)
    return 0;
  TimingScope linkTiming = rootTiming.nest("link (clang, ld.lld)");
  llvm::Error linked =
      ftc::linkSharedLibrary(objectPath, outputFile, ftc::findRuntimeArchive(argv[0]));
  linkTiming.stop();
  llvm::sys::fs::remove(objectPath);
  if (linked)
    return error(std::move(linked));
  return 0;
}
