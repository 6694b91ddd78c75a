//===- Optimizer.cpp - the training step: gradients, then the update ------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Regex.h"

#include <cmath>

namespace ftc {
#define GEN_PASS_DEF_OPTIMIZER
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;
using llvm::APFloat;

namespace {

// Values are checked as soon as they are parsed: a bad one stops
// `ftc-opt --ftc-optimizer='lr=-1'` and `ftc --lr=-1` before any IR is read.
struct OptimizerPass
    : public ftc::CheckedOptionsPass<OptimizerPass, ftc::impl::OptimizerBase<OptimizerPass>> {
  using CheckedOptionsPass::CheckedOptionsPass;
  void runOnOperation() override;
  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> fail);
  FailureOr<Attribute> resolveSettings(ModuleOp module);
  SmallVector<llvm::cl::Option *> getOptions();
};

bool given(double option) { return !std::isnan(option); }

/// One `REGEX=FACTOR` of --lr-scale.
struct LrScale {
  std::string pattern;
  double factor;
};

/// --lr-scale's entries in order, or the message saying what is wrong.
FailureOr<SmallVector<LrScale>> parseLrScales(StringRef text, std::string &error) {
  SmallVector<LrScale> scales;
  SmallVector<StringRef> items;
  text.split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [pattern, factorText] = item.rsplit('=');
    double factor = 0;
    std::string regexError;
    if (factorText.empty() || pattern.empty() || factorText.getAsDouble(factor) ||
        !(factor >= 0) || !std::isfinite(factor)) {
      error = ("--lr-scale: expected REGEX=FACTOR with a non-negative factor, got '" + item +
               "'").str();
      return failure();
    }
    if (!llvm::Regex(pattern).isValid(regexError)) {
      error = ("--lr-scale: '" + pattern + "' is not a regex: " + regexError).str();
      return failure();
    }
    scales.push_back({pattern.str(), factor});
  }
  return scales;
}

/// Whether --decay-params selects parameter `name` of type `type`.
bool decays(StringRef which, StringRef name, Type type) {
  if (which.empty() || which == "all")
    return true;
  if (which == "none")
    return false;
  if (which == "matrices")
    return cast<RankedTensorType>(type).getRank() >= 2;
  return llvm::Regex(which).match(name);
}

/// The option's value when it was given, else the current value.
APFloat pick(double option, const APFloat &current) {
  return given(option) ? APFloat(option) : current;
}

/// The checks that need no module. Messages name the option as `ftc` and
/// llvm::cl do (`--lr`).
LogicalResult
OptimizerPass::checkOptions(function_ref<LogicalResult(const Twine &)> fail) {
  std::string kind = optimizer;
  if (!kind.empty() && kind != "adamw" && kind != "sgd")
    return fail("--optimizer: expected adamw or sgd, got '" + kind + "'");
  for (Option<double> *number :
       {&lr, &beta1, &beta2, &eps, &weightDecay, &momentum, &dampening}) {
    if (!(*number < 0)) // nan, not given, compares false
      continue;
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%g", number->getValue());
    return fail("--" + number->ArgStr +
                ": expected a non-negative number, got " + text);
  }
  std::string useNesterov = nesterov;
  if (!useNesterov.empty() && useNesterov != "true" && useNesterov != "false")
    return fail("--nesterov: expected true or false, got '" + useNesterov + "'");
  if (clipGradNorm <= 0) { // nan (not given) compares false; inf is allowed
    std::string text;
    llvm::raw_string_ostream(text) << llvm::format("%g", clipGradNorm.getValue());
    return fail("--clip-grad-norm: expected a positive bound, got " + text);
  }
  std::string which = decayParams, error;
  if (!which.empty() && which != "all" && which != "none" && which != "matrices" &&
      !llvm::Regex(which).isValid(error))
    return fail("--decay-params: expected all, matrices, none or a regex; '" + which +
                "' is not a regex: " + error);
  if (failed(parseLrScales(lrScale, error)))
    return fail(error);
  return success();
}

SmallVector<llvm::cl::Option *> OptimizerPass::getOptions() {
  return ftc::getSiblingOptions(optimizer);
}

FailureOr<Attribute> OptimizerPass::resolveSettings(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  Attribute current = module->getAttr(TrainDialect::getOptimizerAttrName());
  std::string kind = optimizer;
  if (kind.empty())
    kind = isa_and_nonnull<SGDAttr>(current) ? "sgd" : "adamw";
  auto emit = [&] { return module.emitError(); };
  if (kind == "adamw") {
    if (!nesterov.empty() || given(momentum) || given(dampening))
      return module.emitError() << "momentum, dampening and nesterov are SGD "
                                   "settings; the optimizer is adamw";
    auto base = dyn_cast_or_null<AdamWAttr>(current);
    if (!base)
      base = AdamWAttr::get(ctx, APFloat(1e-3), APFloat(0.9), APFloat(0.999),
                            APFloat(1e-8), APFloat(0.01));
    Attribute attr = AdamWAttr::getChecked(
        emit, ctx, pick(lr, base.getLr()), pick(beta1, base.getBeta1()),
        pick(beta2, base.getBeta2()), pick(eps, base.getEps()),
        pick(weightDecay, base.getWeightDecay()));
    if (!attr)
      return failure();
    return attr;
  }
  assert(kind == "sgd" && "checkOptions allows adamw and sgd only");
  if (given(beta1) || given(beta2) || given(eps))
    return module.emitError() << "beta1, beta2 and eps are AdamW settings; "
                                 "the optimizer is sgd";
  auto base = dyn_cast_or_null<SGDAttr>(current);
  if (!base)
    base = SGDAttr::get(ctx, APFloat(1e-2), APFloat(0.0), APFloat(0.0),
                        APFloat(0.0), false);
  bool useNesterov = nesterov.empty() ? base.getNesterov() : nesterov == "true";
  Attribute attr = SGDAttr::getChecked(
      emit, ctx, pick(lr, base.getLr()), pick(momentum, base.getMomentum()),
      pick(dampening, base.getDampening()),
      pick(weightDecay, base.getWeightDecay()), useNesterov);
  if (!attr)
    return failure();
  return attr;
}

void OptimizerPass::runOnOperation() {
  ModuleOp module = getOperation();
  func::FuncOp grad =
      findMarkedFunction(module, TrainDialect::getGradientOfAttrName());
  if (!grad) {
    module.emitError() << "ftc-optimizer needs the gradient function; run "
                          "ftc-autodiff first";
    return signalPassFailure();
  }
  // Passes made from OptimizerOptions skip initializeOptions.
  auto fail = [&](const Twine &message) { return module.emitError(message); };
  if (failed(checkOptions(fail)))
    return signalPassFailure();
  FailureOr<Attribute> settings = resolveSettings(module);
  if (failed(settings))
    return signalPassFailure();
  module->setAttr(TrainDialect::getOptimizerAttrName(), *settings);
  auto ctx = [&] { return module.getContext(); };
  auto adamw = dyn_cast<AdamWAttr>(*settings);
  auto sgd = dyn_cast<SGDAttr>(*settings);
  bool momentum = sgd && !sgd.getMomentum().isZero();

  SymbolTable symbols(module);
  OpBuilder b(module.getContext());
  Location loc = grad.getLoc();
  auto gradReturn = cast<func::ReturnOp>(grad.getBody().front().getTerminator());
  auto paramNames = grad->getAttrOfType<ArrayAttr>(TrainDialect::getGradParamsAttrName());

  // The training state that belongs to no parameter, after the last
  // parameter: the number of updates taken; the learning rate and the
  // gradients' multiplier in `apply`, settings the caller sets; the norm
  // clipping measures, reported.
  auto countType = RankedTensorType::get({}, b.getI64Type());
  auto f64Type = RankedTensorType::get({}, b.getF64Type());
  Operation *lastParam = nullptr;
  for (Operation &op : module.getBody()->getOperations())
    if (isa<ParamOp>(op))
      lastParam = &op;
  b.setInsertionPoint(lastParam ? lastParam->getNextNode() : grad.getOperation());
  auto state = [&](StringRef name, Type type, TypedAttr init, StringRef role) {
    auto op = StateOp::create(b, loc, b.getStringAttr(name), TypeAttr::get(type), init,
                              b.getStringAttr(role));
    symbols.insert(op);
    return op;
  };
  StateOp counter = state(kStepCounterName, countType, b.getI64IntegerAttr(0), "saved");
  double initialLr = adamw ? adamw.getLr().convertToDouble() : sgd.getLr().convertToDouble();
  StateOp lrState = state(kLearningRateName, f64Type, b.getF64FloatAttr(initialLr), "setting");
  bool clip = given(clipGradNorm);
  if (clip)
    state(kGradNormName, f64Type, b.getF64FloatAttr(0.0), "report");
  StateOp gradScale = state(kGradScaleName, f64Type, b.getF64FloatAttr(1.0), "setting");

  // Each trained parameter's group and optimizer state (`<param>.<state>`,
  // beside it).
  std::string error;
  SmallVector<LrScale> lrScales = *parseLrScales(lrScale, error); // checked above
  struct Trained {
    ParamOp param;
    Attribute config;
    double lrScale = 1.0;
    SmallVector<SlotOp> slots;
    StateOp owned; // optim.owned.<param>: whether apply updates it
  };
  SmallVector<Trained> trained;
  for (FlatSymbolRefAttr name : paramNames.getAsRange<FlatSymbolRefAttr>()) {
    Trained t;
    t.param = symbols.lookup<ParamOp>(name.getValue());
    Type type = t.param.getType();
    bool decay = decays(decayParams, name.getValue(), type);
    for (const LrScale &entry : lrScales)
      if (llvm::Regex(entry.pattern).match(name.getValue())) {
        t.lrScale = entry.factor;
        break;
      }
    if (adamw)
      t.config = decay ? adamw
                       : AdamWAttr::get(ctx(), adamw.getLr(), adamw.getBeta1(),
                                        adamw.getBeta2(), adamw.getEps(), APFloat(0.0));
    else
      t.config = decay ? sgd
                       : SGDAttr::get(ctx(), sgd.getLr(), sgd.getMomentum(), sgd.getDampening(),
                                      APFloat(0.0), sgd.getNesterov());
    SmallVector<StringRef> kinds;
    if (adamw)
      kinds = {"exp_avg_sq", "exp_avg"};
    else if (momentum)
      kinds = {"momentum_buffer"};
    for (StringRef kind : kinds) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfter(t.param);
      auto slot = SlotOp::create(b, t.param.getLoc(),
                                 b.getStringAttr(name.getValue() + "." + kind), name,
                                 TypeAttr::get(type));
      symbols.insert(slot, std::next(Block::iterator(t.param)));
      t.slots.push_back(slot);
    }
    if (adamw) // exp_avg, exp_avg_sq
      std::swap(t.slots[0], t.slots[1]);
    if (guardUpdates)
      t.owned = state((kOwnedName + "." + name.getValue()).str(), countType,
                      b.getI64IntegerAttr(1), "setting");
    trained.push_back(std::move(t));
  }

  // The update of every trained parameter from `grads` (in their order) at
  // b's insertion point, numbered t = n + 1, the counter advanced: torch's
  // clip_grad_norm_ over all of them first, then one AdamW or SGD update
  // each, written back; with `guarded`, each under its flag in
  // optim.owned (the parameter and its state as they were without it).
  auto emitUpdates = [&](ValueRange grads, bool guarded) {
    Value count = GetParamOp::create(b, loc, countType, counter.getSymName());
    Value t = AdvanceStepOp::create(b, loc, count, Value());
    Value lr = GetParamOp::create(b, loc, f64Type, lrState.getSymName());
    Value coef;
    if (clip && !grads.empty()) {
      auto norm = ClipGradNormOp::create(b, loc, grads, b.getF64FloatAttr(clipGradNorm));
      SetParamOp::create(b, loc, kGradNormName, norm.getNorm());
      coef = norm.getCoef();
    }
    for (auto [trainedEntry, grad] : llvm::zip(trained, grads)) {
      // Named, not structured bindings: the update's lambda captures them.
      Trained &entry = trainedEntry;
      Value g = grad;
      StringRef name = entry.param.getSymName();
      Type type = entry.param.getType();
      auto read = [&](StringRef sym) { return GetParamOp::create(b, loc, type, sym).getResult(); };
      // The parameter, then its optimizer state, read and written back.
      SmallVector<StringRef> syms{name};
      for (SlotOp slot : entry.slots)
        syms.push_back(slot.getSymName());
      SmallVector<Value> values;
      for (StringRef sym : syms)
        values.push_back(read(sym));
      FloatAttr scale = b.getF64FloatAttr(entry.lrScale);
      auto update = [&](OpBuilder &ub) -> SmallVector<Value> {
        Value p = values[0];
        if (adamw) {
          auto op = AdamWUpdateOp::create(ub, loc, p, g, values[1], values[2], t, lr, coef,
                                          Value(), cast<AdamWAttr>(entry.config), scale);
          return {op.getNewParam(), op.getNewExpAvg(), op.getNewExpAvgSq()};
        }
        if (momentum) {
          auto op = SGDUpdateOp::create(ub, loc, TypeRange{type, type}, p, g, values[1], t, lr,
                                        coef, Value(), cast<SGDAttr>(entry.config), scale);
          return {op.getNewParam(), op.getNewMomentumBuffer()};
        }
        auto op = SGDUpdateOp::create(ub, loc, TypeRange{type}, p, g, Value(), t, lr, coef,
                                      Value(), cast<SGDAttr>(entry.config), scale);
        return {op.getNewParam()};
      };
      SmallVector<Value> results;
      if (!guarded) {
        results = update(b);
      } else {
        Value flag = tensor::ExtractOp::create(
            b, loc, GetParamOp::create(b, loc, countType, entry.owned.getSymName()),
            ValueRange{});
        Value zero = arith::ConstantIntOp::create(b, loc, b.getI64Type(), 0);
        Value mine = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, flag, zero);
        auto guard = scf::IfOp::create(
            b, loc, mine,
            [&](OpBuilder &tb, Location) { scf::YieldOp::create(tb, loc, update(tb)); },
            [&](OpBuilder &eb, Location) { scf::YieldOp::create(eb, loc, values); });
        results.assign(guard.getResults().begin(), guard.getResults().end());
      }
      for (auto [sym, v] : llvm::zip(syms, results))
        SetParamOp::create(b, loc, sym, v);
    }
    SetParamOp::create(b, loc, counter.getSymName(), t);
  };
  auto cloneGradBody = [&](func::FuncOp into, IRMapping &mapping) {
    for (auto [from, to] : llvm::zip(grad.getArguments(), into.getArguments()))
      mapping.map(from, to);
    for (Operation &op : grad.getBody().front().without_terminator())
      b.clone(op, mapping);
  };
  auto newFunction = [&](StringRef name, FunctionType type, StringRef marker) {
    auto func = func::FuncOp::create(b, loc, name, type);
    func->setAttr(marker, b.getUnitAttr());
    symbols.insert(func);
    if (marker != TrainDialect::getApplyAttrName()) // apply takes no batch
      for (unsigned i = 0; i < grad.getNumArguments(); ++i)
        func.setArgAttrs(i, grad.getArgAttrDict(i));
    b.setInsertionPointToStart(func.addEntryBlock());
    return func;
  };
  SmallVector<Type> gradTypes(grad.getFunctionType().getResults().drop_front());

  // @step: the gradient function's body, then the updates; returns the loss.
  b.setInsertionPointAfter(grad);
  func::FuncOp step = newFunction(
      "step", b.getFunctionType(grad.getArgumentTypes(), grad.getFunctionType().getResult(0)),
      TrainDialect::getStepAttrName());
  {
    IRMapping mapping;
    cloneGradBody(step, mapping);
    SmallVector<Value> grads;
    for (Value g : gradReturn.getOperands().drop_front())
      grads.push_back(mapping.lookup(g));
    emitUpdates(grads, /*guarded=*/false);
    func::ReturnOp::create(b, loc, mapping.lookup(gradReturn.getOperand(0)));
  }

  // @accumulate: the gradient function with running sums, one per
  // gradient: returns the loss and each sum plus this batch's gradient,
  // added where the gradient is computed, so that each sum is final as
  // early as the backward allows (data parallelism starts summing it over
  // the ranks then: ftc-grad-ready-hooks).
  b.setInsertionPointAfter(step);
  SmallVector<Type> accumulateInputs(grad.getArgumentTypes());
  accumulateInputs.append(gradTypes);
  func::FuncOp accumulate =
      newFunction("accumulate",
                  b.getFunctionType(accumulateInputs, grad.getFunctionType().getResults()),
                  TrainDialect::getAccumulateAttrName());
  accumulate->setAttr(TrainDialect::getGradParamsAttrName(), paramNames);
  {
    IRMapping mapping;
    cloneGradBody(accumulate, mapping);
    SmallVector<Value> results{mapping.lookup(gradReturn.getOperand(0))};
    Block *body = b.getInsertionBlock();
    for (auto [i, g] : llvm::enumerate(gradReturn.getOperands().drop_front())) {
      OpBuilder::InsertionGuard guard(b);
      Value sum = accumulate.getArgument(grad.getNumArguments() + i);
      Value gradient = mapping.lookup(g);
      if (Operation *producer = gradient.getDefiningOp())
        b.setInsertionPointAfter(producer);
      else
        b.setInsertionPointToStart(body);
      results.push_back(AddOp::create(b, loc, sum.getType(), sum, gradient));
    }
    func::ReturnOp::create(b, loc, results);
  }

  // @apply: the updates from given gradients times the setting
  // optim.grad_scale (1/K after K accumulated batches).
  b.setInsertionPointAfter(accumulate);
  func::FuncOp apply = newFunction("apply", b.getFunctionType(gradTypes, {}),
                                   TrainDialect::getApplyAttrName());
  {
    Value scale = GetParamOp::create(b, loc, f64Type, gradScale.getSymName());
    SmallVector<Value> grads;
    for (BlockArgument g : apply.getArguments()) {
      auto type = cast<RankedTensorType>(g.getType());
      Value factor = scale;
      if (type.getElementType() != b.getF64Type())
        factor = CastOp::create(b, loc, RankedTensorType::get({}, type.getElementType()), scale);
      grads.push_back(MulOp::create(b, loc, type, g, factor));
    }
    emitUpdates(grads, /*guarded=*/guardUpdates);
    func::ReturnOp::create(b, loc);
  }
}

} // namespace

// Pass options are llvm::cl options of a subcommand of their own (the pass's
// PassOptions), whose map holds every one of them.
SmallVector<llvm::cl::Option *> ftc::getSiblingOptions(llvm::cl::Option &member) {
  SmallVector<llvm::cl::Option *> options;
  for (auto &entry : (*member.Subs.begin())->OptionsMap)
    options.push_back(entry.second);
  llvm::sort(options, [](llvm::cl::Option *a, llvm::cl::Option *b) {
    return a->ArgStr < b->ArgStr;
  });
  return options;
}

SmallVector<llvm::cl::Option *> ftc::getOptimizerOptions(Pass &pass) {
  return cast<OptimizerPass>(pass).getOptions();
}
