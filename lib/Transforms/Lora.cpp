//===- Lora.cpp - LoRA adapters on matched linear weights -----------------===//
//
// PEFT's LoRA as a rewrite of the training step before autodiff: each
// matched `train.linear` gets two adapter parameters and an extra path
// s * B (A x) added to its output (DoRA: also a magnitude that rescales each
// output row by m / ||W + s B A||, the norm held); every other parameter is
// frozen, so autodiff derives no gradient (and no dW product) for it and the
// optimizer keeps no state for it. QLoRA's bases are frozen linear weights
// marked with a `storage` that ftc-bind-abi and the runtime implement.
//
//===----------------------------------------------------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace ftc {
#define GEN_PASS_DEF_LORA
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

/// A linear layer whose weight is the parameter `weight`.
struct Target {
  LinearOp linear;
  ParamOp weight;
};

bool given(double option) { return !std::isnan(option); }

// Values are checked as soon as they are parsed: a bad one stops
// `ftc --lora-rank=0` before any IR is read.
struct LoraPass
    : public ftc::CheckedOptionsPass<LoraPass, ftc::impl::LoraBase<LoraPass>> {
  using CheckedOptionsPass::CheckedOptionsPass;

  SmallVector<llvm::cl::Option *> getOptions() { return ftc::getSiblingOptions(rank); }

  void runOnOperation() override;
  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> fail);

private:
  bool anyGiven() {
    return rank != -1 || given(alpha) || !targets.empty() || given(dropout) ||
           !rslora.empty() || !variant.empty() || !base.empty() || !trainable.empty();
  }
  FailureOr<LoraAttr> resolveSettings(ModuleOp module);
};

/// The checks that need no module. Messages name the option as `ftc` does
/// (`--lora-rank`).
LogicalResult LoraPass::checkOptions(function_ref<LogicalResult(const Twine &)> fail) {
  auto number = [](double v) {
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%g", v);
    return text;
  };
  if (rank != -1 && rank < 1)
    return fail("--lora-rank: expected a positive integer, got " + Twine(rank));
  if (given(alpha) && !(alpha >= 0 && std::isfinite(alpha)))
    return fail("--lora-alpha: expected a non-negative number, got " + number(alpha));
  if (given(dropout) && !(dropout >= 0 && dropout < 1))
    return fail("--lora-dropout: expected a probability in [0, 1), got " + number(dropout));
  auto oneOf = [&](const std::string &value, StringRef name,
                   ArrayRef<StringRef> allowed) -> LogicalResult {
    if (value.empty() || llvm::is_contained(allowed, value))
      return success();
    std::string list = llvm::join(allowed.drop_back(), ", ");
    list += (allowed.size() > 2 ? ", or " : " or ") + allowed.back().str();
    return fail("--lora-" + name + ": expected " + list + ", got '" + value + "'");
  };
  if (failed(oneOf(rslora, "rslora", {"true", "false"})) ||
      failed(oneOf(variant, "variant", {"lora", "dora"})) ||
      failed(oneOf(base, "base", {"fp32", "bf16", "nf4", "nf4-dq"})))
    return failure();
  std::string error;
  for (auto [name, pattern] : {std::pair<StringRef, const std::string &>{"targets", targets},
                               {"trainable", trainable}})
    if (!pattern.empty() && !llvm::Regex(pattern).isValid(error))
      return fail("--lora-" + name + ": invalid regular expression '" + pattern +
                  "': " + error);
  return success();
}

/// The module's `train.lora`, then the options given; null when neither
/// asks for adapters.
FailureOr<LoraAttr> LoraPass::resolveSettings(ModuleOp module) {
  auto current = module->getAttrOfType<LoraAttr>(TrainDialect::getLoraAttrName());
  if (Attribute attr = module->getAttr(TrainDialect::getLoraAttrName()); attr && !current)
    return module.emitError() << "train.lora must be a #train.lora, got " << attr;
  if (!current && !anyGiven())
    return LoraAttr();
  auto pickString = [&](const std::string &option, StringRef fromModule,
                        StringRef fallback) -> std::string {
    if (!option.empty())
      return option;
    return (current ? fromModule : fallback).str();
  };
  int64_t r = rank != -1 ? rank : current ? current.getRank() : 8;
  // Without alpha anywhere the scale is 1 (alpha = rank), PEFT's default.
  double a = given(alpha) ? alpha.getValue()
             : current    ? current.getAlpha().convertToDouble()
                          : static_cast<double>(r);
  double p = given(dropout) ? dropout.getValue()
             : current ? current.getDropout().convertToDouble() : 0.0;
  bool rs = !rslora.empty() ? rslora == "true" : current && current.getRslora();
  std::string t = pickString(targets, current ? current.getTargets() : "", "");
  if (t.empty())
    return module.emitError()
           << "ftc-lora: which linear weights get adapters? Give --lora-targets=REGEX "
              "(ftc-opt: targets=REGEX), e.g. 'attn\\.c_attn|mlp\\.c_fc'";
  auto emit = [&] { return module.emitError(); };
  std::string v = pickString(variant, current ? current.getVariant() : "", "lora");
  std::string storage = pickString(base, current ? current.getBase() : "", "fp32");
  std::string train = pickString(trainable, current ? current.getTrainable() : "", "");
  LoraAttr attr = LoraAttr::getChecked(emit, module.getContext(), r, APFloat(a),
                                       StringRef(t), APFloat(p), rs, StringRef(v),
                                       StringRef(storage), StringRef(train));
  if (!attr)
    return failure();
  return attr;
}

/// The adapted layer's output, replacing `t.linear`'s. LoRA:
///   y = W x + b + s * B (A dropout(x))
/// DoRA, as PEFT computes it, with g = m / stop_gradient(||W + s B A||) per
/// output row:
///   y = (W x + b) + (g - 1) * W dropout(x) + g * s * B (A dropout(x))
/// which without dropout is g * (W x + s B A x) + b.
void rewrite(OpBuilder &b, Target t, ParamOp loraA, ParamOp loraB, ParamOp magnitude,
             double scale, double dropout) {
  LinearOp linear = t.linear;
  Location loc = linear.getLoc();
  b.setInsertionPointAfter(linear);
  auto x = cast<RankedTensorType>(linear.getInput().getType());
  auto y = cast<RankedTensorType>(linear.getType());
  Type elem = y.getElementType();
  auto scalar = [&](double v) -> Value {
    auto type = RankedTensorType::get({}, elem);
    return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(elem, v)));
  };
  auto read = [&](ParamOp param) -> Value {
    return GetParamOp::create(b, loc, param.getTensorType(), param.getSymName());
  };
  Value input = linear.getInput();
  if (dropout > 0)
    input = DropoutOp::create(b, loc, x, input, Value(), b.getF64FloatAttr(dropout),
                              IntegerAttr());
  Value wA = read(loraA), wB = read(loraB);
  SmallVector<int64_t> down(x.getShape());
  down.back() = cast<RankedTensorType>(wA.getType()).getDimSize(0);
  Value ax = LinearOp::create(b, loc, RankedTensorType::get(down, elem), input, wA, Value());
  Value bax = LinearOp::create(b, loc, y, ax, wB, Value());
  Value lora = MulOp::create(b, loc, y, bax, scalar(scale));
  if (!magnitude) {
    Value out = AddOp::create(b, loc, y, linear.getResult(), lora);
    linear.getResult().replaceAllUsesExcept(out, out.getDefiningOp());
    return;
  }

  // DoRA: W x without the bias, which it does not rescale.
  Value w = linear.getWeight();
  Value wx = LinearOp::create(b, loc, y, linear.getInput(), w, Value());
  Value result = linear.getBias() ? AddOp::create(b, loc, wx, linear.getBias()).getResult() : wx;
  Value wxd = dropout > 0 ? LinearOp::create(b, loc, y, input, w, Value()).getResult() : wx;
  // ||W + s B A|| per output row, held.
  auto wType = cast<RankedTensorType>(w.getType());
  Value ba = MatmulOp::create(b, loc, wType, wB, wA, false, false);
  Value merged = AddOp::create(b, loc, wType, w, MulOp::create(b, loc, wType, ba, scalar(scale)));
  Value squares = MulOp::create(b, loc, wType, merged, merged);
  Value norm = SqrtOp::create(b, loc, SumOp::create(b, loc, squares, ArrayRef<int64_t>{1}));
  norm = StopGradientOp::create(b, loc, norm);
  Value g = DivOp::create(b, loc, read(magnitude), norm);
  Value gMinus1 = SubOp::create(b, loc, g, scalar(1.0));
  Value out = AddOp::create(
      b, loc, y, AddOp::create(b, loc, y, result, MulOp::create(b, loc, y, wxd, gMinus1)),
      MulOp::create(b, loc, y, lora, g));
  linear.getResult().replaceAllUsesWith(out);
  linear.erase();
}

void LoraPass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) {
    module.emitError() << "ftc-lora: " << message;
    signalPassFailure();
  };
  // Passes made from LoraOptions skip initializeOptions.
  if (failed(checkOptions([&](const Twine &message) {
        fail(message);
        return failure();
      })))
    return;
  FailureOr<LoraAttr> settings = resolveSettings(module);
  if (failed(settings))
    return signalPassFailure();
  if (!*settings)
    return;
  LoraAttr config = *settings;
  module->setAttr(TrainDialect::getLoraAttrName(), config);
  int64_t r = config.getRank();
  llvm::Regex targetRe(config.getTargets()), trainableRe(config.getTrainable());

  // The linear layers whose weight is a matched `<module>.weight`.
  SymbolTable symbols(module);
  SmallVector<Target> matched;
  SetVector<StringRef> linearWeights;
  module.walk([&](LinearOp linear) {
    auto get = linear.getWeight().getDefiningOp<GetParamOp>();
    if (!get)
      return;
    auto param = symbols.lookup<ParamOp>(get.getParam());
    if (!param)
      return;
    StringRef name = param.getSymName();
    linearWeights.insert(name);
    if (name.ends_with(".weight") && targetRe.match(name))
      matched.push_back({linear, param});
  });
  if (matched.empty()) {
    // A few names, then how many more: the message stays one readable line.
    std::string names;
    size_t shown = 0;
    for (StringRef name : linearWeights)
      if (shown++ < 8)
        names += (names.empty() ? "" : ", ") + name.str();
    if (linearWeights.size() > 8)
      names += ", ... (" + std::to_string(linearWeights.size() - 8) + " more)";
    // Matched but not named `<module>.weight`: say what the name lacks.
    bool unnamed = llvm::any_of(linearWeights, [&](StringRef name) {
      return !name.ends_with(".weight") && targetRe.match(name);
    });
    return fail("targets '" + config.getTargets() + "' match no linear layer's weight (" +
                (names.empty() ? std::string("the model has none") : names) + ")" +
                (unnamed ? "; adapters go on weights named <module>.weight, as PEFT's modules' "
                           "(rename the parameter)"
                         : ""));
  }

  // Adapters per matched weight, declared after it.
  MLIRContext *ctx = &getContext();
  OpBuilder b(ctx);
  struct Adapters {
    ParamOp a, b, magnitude;
  };
  bool dora = config.getVariant() == "dora";
  DenseMap<Operation *, Adapters> adapters;
  DenseSet<Operation *> adapterParams;
  for (Target t : matched) {
    if (adapters.count(t.weight))
      continue;
    RankedTensorType w = t.weight.getTensorType();
    if (w.getRank() != 2)
      return fail("'" + t.weight.getSymName() + "' is not a matrix");
    StringRef prefix = t.weight.getSymName().drop_back(strlen(".weight"));
    Type elem = w.getElementType();
    auto declare = [&](StringRef name, RankedTensorType type,
                       InitializerAttrInterface init) -> ParamOp {
      if (symbols.lookup(name))
        return {};
      b.setInsertionPointAfter(t.weight);
      auto param = ParamOp::create(b, t.weight.getLoc(), b.getStringAttr(name),
                                   TypeAttr::get(type), init, UnitAttr(), StringAttr());
      symbols.insert(param, std::next(Block::iterator(t.weight)));
      adapterParams.insert(param);
      return param;
    };
    // Declared in reverse, each right after W: W, A, B, magnitude.
    Adapters added;
    if (dora) {
      // PEFT's DoRA magnitude: `lora_magnitude_vector` in its adapter files.
      added.magnitude = declare((prefix + ".lora_magnitude_vector").str(),
                                RankedTensorType::get({w.getDimSize(0)}, elem),
                                RowNormAttr::get(ctx, SymbolRefAttr::get(t.weight)));
      if (!added.magnitude)
        return fail("'" + prefix + "' already has a DoRA magnitude");
    }
    added.b = declare((prefix + ".lora_B.weight").str(),
                      RankedTensorType::get({w.getDimSize(0), r}, elem), ZerosAttr::get(ctx));
    added.a = declare((prefix + ".lora_A.weight").str(),
                      RankedTensorType::get({r, w.getDimSize(1)}, elem),
                      KaimingUniformAttr::get(ctx));
    if (!added.a || !added.b)
      return fail("'" + prefix + "' already has LoRA adapters");
    adapters[t.weight] = added;
  }

  // Freeze everything else; an adapted weight even if `trainable` names it.
  for (ParamOp param : module.getOps<ParamOp>())
    if (!adapterParams.contains(param) &&
        (adapters.count(param) || config.getTrainable().empty() ||
         !trainableRe.match(param.getSymName())))
      param.setFrozen(true);

  // QLoRA: the frozen base's linear weights stored as `base` says (as
  // bitsandbytes replaces every nn.Linear): those read only as a
  // train.linear's weight. Embeddings, norms and biases stay f32.
  if (config.getBase() != "fp32") {
    DenseMap<StringRef, bool> linearOnly;
    module.walk([&](GetParamOp read) {
      bool asWeight = llvm::all_of(read->getUses(), [](OpOperand &use) {
        auto linear = dyn_cast<LinearOp>(use.getOwner());
        return linear && use.get() == linear.getWeight() && use.getOperandNumber() == 1;
      });
      auto [it, inserted] = linearOnly.try_emplace(read.getParam(), asWeight);
      if (!inserted)
        it->second &= asWeight;
    });
    StringAttr storage = b.getStringAttr(config.getBase());
    for (ParamOp param : module.getOps<ParamOp>())
      if (param.getFrozen() && linearOnly.lookup(param.getSymName()) &&
          param.getTensorType().getElementType().isF32() &&
          param.getTensorType().getNumElements() % 2 == 0)
        param.setStorageAttr(storage);
  }

  double p = config.getDropout().convertToDouble();
  for (Target t : matched)
    rewrite(b, t, adapters[t.weight].a, adapters[t.weight].b,
            adapters[t.weight].magnitude, config.getScale(), p);
}

} // namespace

SmallVector<llvm::cl::Option *> ftc::getLoraOptions(Pass &pass) {
  return static_cast<LoraPass &>(pass).getOptions();
}
