//===- Lora.cpp - LoRA adapters on matched linear weights -----------------===//
//
// PEFT's LoRA as a rewrite of the training step before autodiff: each
// matched `train.linear` gets two adapter parameters and an extra path
// s * B (A x) added to its output; every other parameter is frozen, so
// autodiff derives no gradient (and no dW product) for it and the optimizer
// keeps no state for it.
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

struct LoraPass : public ftc::impl::LoraBase<LoraPass> {
  using Base::Base;

  // Values are checked as soon as they are parsed: a bad one stops
  // `ftc --lora-rank=0` before any IR is read.
  LogicalResult
  initializeOptions(StringRef options,
                    function_ref<LogicalResult(const Twine &)> errorHandler) override {
    if (failed(Base::initializeOptions(options, errorHandler)))
      return failure();
    return checkOptions(errorHandler);
  }

  SmallVector<llvm::cl::Option *> getOptions() { return ftc::getSiblingOptions(rank); }

  void runOnOperation() override;

private:
  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> fail);
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
    return fail("--lora-" + name + ": expected " + llvm::join(allowed, " or ") +
                ", got '" + value + "'");
  };
  if (failed(oneOf(rslora, "rslora", {"true", "false"})) ||
      failed(oneOf(variant, "variant", {"lora", "dora"})) ||
      failed(oneOf(base, "base", {"fp32", "bf16", "nf4"})))
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
  if (config.getVariant() != "lora")
    return fail("variant '" + config.getVariant() + "' is not supported yet (expected lora)");
  if (config.getBase() != "fp32")
    return fail("base '" + config.getBase() + "' is not supported yet (expected fp32)");
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
    std::string names;
    for (StringRef name : linearWeights)
      names += (names.empty() ? "" : ", ") + name.str();
    return fail("targets '" + config.getTargets() + "' match no linear layer's weight (" +
                (names.empty() ? std::string("the model has none") : names) + ")");
  }

  // Adapters per matched weight, declared after it.
  MLIRContext *ctx = &getContext();
  OpBuilder b(ctx);
  DenseMap<Operation *, std::pair<ParamOp, ParamOp>> adapters;
  DenseSet<Operation *> adapterParams;
  for (Target t : matched) {
    if (adapters.count(t.weight))
      continue;
    RankedTensorType w = t.weight.getTensorType();
    if (w.getRank() != 2)
      return fail("'" + t.weight.getSymName() + "' is not a matrix");
    StringRef prefix = t.weight.getSymName().drop_back(strlen(".weight"));
    Type elem = w.getElementType();
    auto declare = [&](StringRef part, ArrayRef<int64_t> shape,
                       InitializerAttrInterface init) -> ParamOp {
      std::string name = (prefix + "." + part + ".weight").str();
      if (symbols.lookup(name))
        return {};
      b.setInsertionPointAfter(t.weight);
      auto param = ParamOp::create(b, t.weight.getLoc(), b.getStringAttr(name),
                                   TypeAttr::get(RankedTensorType::get(shape, elem)),
                                   init, UnitAttr());
      symbols.insert(param, std::next(Block::iterator(t.weight)));
      adapterParams.insert(param);
      return param;
    };
    ParamOp loraB = declare("lora_B", {w.getDimSize(0), r}, ZerosAttr::get(ctx));
    ParamOp loraA = declare("lora_A", {r, w.getDimSize(1)}, KaimingUniformAttr::get(ctx));
    if (!loraA || !loraB)
      return fail("'" + prefix + "' already has LoRA adapters");
    adapters[t.weight] = {loraA, loraB};
  }

  // Freeze everything else; an adapted weight even if `trainable` names it.
  for (ParamOp param : module.getOps<ParamOp>())
    if (!adapterParams.contains(param) &&
        (adapters.count(param) || config.getTrainable().empty() ||
         !trainableRe.match(param.getSymName())))
      param.setFrozen(true);

  // y = W x + b + s * B (A dropout(x))
  double p = config.getDropout().convertToDouble();
  for (Target t : matched) {
    auto [loraA, loraB] = adapters[t.weight];
    LinearOp linear = t.linear;
    Location loc = linear.getLoc();
    b.setInsertionPointAfter(linear);
    auto x = cast<RankedTensorType>(linear.getInput().getType());
    auto y = cast<RankedTensorType>(linear.getType());
    SmallVector<int64_t> down(x.getShape());
    down.back() = r;
    Value input = linear.getInput();
    if (p > 0)
      input = DropoutOp::create(b, loc, x, input, Value(), b.getF64FloatAttr(p),
                                IntegerAttr());
    Value wA = GetParamOp::create(b, loc, loraA.getTensorType(), loraA.getSymName());
    Value wB = GetParamOp::create(b, loc, loraB.getTensorType(), loraB.getSymName());
    Value ax = LinearOp::create(b, loc, RankedTensorType::get(down, x.getElementType()),
                                input, wA, Value());
    Value bax = LinearOp::create(b, loc, y, ax, wB, Value());
    auto scalarType = RankedTensorType::get({}, y.getElementType());
    Value s = ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(scalarType, b.getFloatAttr(y.getElementType(), config.getScale())));
    Value scaled = MulOp::create(b, loc, y, bax, s);
    Value sum = AddOp::create(b, loc, y, linear.getResult(), scaled);
    linear.getResult().replaceAllUsesExcept(sum, sum.getDefiningOp());
  }
}

} // namespace

SmallVector<llvm::cl::Option *> ftc::getLoraOptions(Pass &pass) {
  return static_cast<LoraPass &>(pass).getOptions();
}
