//===- LossScale.cpp - dynamic loss scaling inside the step ---------------===//
//
// GradScaler as a rewrite of the gradient function and the step that
// ftc-optimizer built: the backward is seeded with the scale, the gradients
// are unscaled, and one finiteness flag decides in the step whether the
// updates apply and how the scale moves. The scale and its growth tracker
// are train.states, so the whole decision stays inside the compiled step.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"

#include <cmath>

namespace ftc {
#define GEN_PASS_DEF_LOSSSCALE
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

struct LossScalePass
    : public ftc::CheckedOptionsPass<LossScalePass, ftc::impl::LossScaleBase<LossScalePass>> {
  using CheckedOptionsPass::CheckedOptionsPass;
  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> fail);
  SmallVector<llvm::cl::Option *> getOptions() { return ftc::getSiblingOptions(mode); }
  void runOnOperation() override;

  /// The scale read at the start of `func` and its reciprocal.
  struct Scale {
    Value scale, inverse;
  };
  FailureOr<Scale> seedWithScale(func::FuncOp func);
  /// `g / scale` in g's type.
  Value unscale(OpBuilder &b, Location loc, Value g, const Scale &scale);
  LogicalResult rewriteStep(func::FuncOp step, const Scale &scale);
};

std::string number(double value) {
  std::string text;
  llvm::raw_string_ostream(text) << llvm::format("%g", value);
  return text;
}

// GradScaler's own checks (growth_factor > 1, backoff_factor < 1), and a
// finite positive scale.
LogicalResult
LossScalePass::checkOptions(function_ref<LogicalResult(const Twine &)> fail) {
  std::string kind = mode;
  if (!kind.empty() && kind != "dynamic" && kind != "none")
    return fail("--loss-scale: expected dynamic or none, got '" + kind + "'");
  if (!(initScale > 0) || !std::isfinite(initScale))
    return fail("--loss-scale-init: expected a finite positive number, got " +
                number(initScale));
  if (!(growthFactor > 1) || !std::isfinite(growthFactor))
    return fail("--loss-scale-growth-factor: expected a number greater than 1, got " +
                number(growthFactor));
  if (!(backoffFactor > 0 && backoffFactor < 1))
    return fail("--loss-scale-backoff-factor: expected a number between 0 and 1, got " +
                number(backoffFactor));
  if (growthInterval < 1)
    return fail("--loss-scale-growth-interval: expected a positive integer, got " +
                std::to_string(growthInterval));
  return success();
}

FailureOr<LossScalePass::Scale> LossScalePass::seedWithScale(func::FuncOp func) {
  FillOp seed;
  func.walk([&](FillOp fill) {
    if (fill->hasAttr(TrainDialect::getLossSeedAttrName()))
      seed = fill;
  });
  if (!seed)
    return func.emitError() << "ftc-loss-scale found no backward seed (a train.fill "
                               "marked train.loss_seed) in @"
                            << func.getSymName() << "; run ftc-autodiff first";
  auto lossType = cast<RankedTensorType>(seed.getType());
  if (lossType.getRank() != 0)
    return seed.emitError() << "the loss must be a scalar to be scaled";
  OpBuilder b(seed);
  Location loc = seed.getLoc();
  auto f32 = RankedTensorType::get({}, b.getF32Type());
  Value scale = GetParamOp::create(b, loc, f32, kLossScaleName);
  // Where the backward starts, for those who look for it (ftc --report).
  scale.getDefiningOp()->setAttr(TrainDialect::getLossSeedAttrName(), b.getUnitAttr());
  Value seedValue = scale;
  if (lossType != f32)
    seedValue = CastOp::create(b, loc, lossType, scale);
  // 1 / scale in f32: exact for the powers of two the scale moves between.
  Value one = FillOp::create(b, loc, f32, b.getF64FloatAttr(1.0));
  Value inverse = DivOp::create(b, loc, f32, one, scale);
  seed.replaceAllUsesWith(seedValue);
  seed.erase();
  return Scale{scale, inverse};
}

Value LossScalePass::unscale(OpBuilder &b, Location loc, Value g, const Scale &scale) {
  auto type = cast<RankedTensorType>(g.getType());
  Value inverse = scale.inverse;
  if (type.getElementType() != b.getF32Type())
    inverse = CastOp::create(b, loc, RankedTensorType::get({}, type.getElementType()),
                             inverse);
  return MulOp::create(b, loc, type, g, inverse);
}

LogicalResult LossScalePass::rewriteStep(func::FuncOp step, const Scale &scale) {
  SmallVector<Operation *> updates;
  step.walk([&](Operation *op) {
    if (isa<AdamWUpdateOp, SGDUpdateOp>(op))
      updates.push_back(op);
  });
  SetParamOp counterWrite;
  step.walk([&](SetParamOp set) {
    if (set.getParam() == kStepCounterName)
      counterWrite = set;
  });
  auto advance = counterWrite ? counterWrite.getValue().getDefiningOp<AdvanceStepOp>()
                              : AdvanceStepOp();
  if (!advance)
    return step.emitError() << "ftc-loss-scale needs the step counter that "
                               "ftc-optimizer advances; run ftc-optimizer first";
  if (updates.empty())
    return step.emitError() << "ftc-loss-scale found no optimizer update in the step";

  // Unscaled gradients, once each, before the first update (or the
  // clipping, which measures them unscaled, as after GradScaler.unscale_);
  // one flag.
  ClipGradNormOp clip;
  step.walk([&](ClipGradNormOp op) { clip = op; });
  // (Before the first update's op in the step's block: an update may be
  // nested, under apply's optim.owned flag.)
  OpBuilder b(clip ? clip.getOperation()
                   : step.getBody().front().findAncestorOpInBlock(*updates.front()));
  Location loc = step.getLoc();
  llvm::MapVector<Value, Value> unscaled;
  for (Operation *update : updates) {
    Value g = update->getOperand(1); // both updates: (param, grad, ...)
    if (!unscaled.count(g))
      unscaled[g] = unscale(b, update->getLoc(), g, scale);
  }
  SmallVector<Value> grads;
  for (auto &entry : unscaled)
    grads.push_back(entry.second);
  Value finite = AllFiniteOp::create(b, loc, grads);
  if (clip)
    for (OpOperand &g : clip->getOpOperands()) {
      Value to = unscaled.lookup(g.get());
      if (!to)
        return clip.emitError() << "ftc-loss-scale: the clipping measures a gradient no "
                                   "update takes";
      g.set(to);
    }
  for (Operation *update : updates) {
    update->setOperand(1, unscaled.lookup(update->getOperand(1)));
    if (auto adamw = dyn_cast<AdamWUpdateOp>(update))
      adamw.getConditionMutable().assign(finite);
    else
      cast<SGDUpdateOp>(update).getConditionMutable().assign(finite);
  }

  // The counter advances only with the updates.
  b.setInsertionPoint(counterWrite);
  counterWrite.getValueMutable().assign(
      AdvanceStepOp::create(b, counterWrite.getLoc(), advance.getCount(), finite));

  // The scale moves for the next step.
  auto ret = cast<func::ReturnOp>(step.getBody().front().getTerminator());
  b.setInsertionPoint(ret);
  auto i64 = RankedTensorType::get({}, b.getI64Type());
  Value tracker;
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfter(scale.scale.getDefiningOp());
    tracker = GetParamOp::create(b, loc, i64, kGrowthTrackerName);
  }
  auto next = UpdateLossScaleOp::create(
      b, loc, scale.scale, tracker, finite, b.getF64FloatAttr(growthFactor),
      b.getF64FloatAttr(backoffFactor), b.getI64IntegerAttr(growthInterval));
  SetParamOp::create(b, loc, kLossScaleName, next.getNewScale());
  SetParamOp::create(b, loc, kGrowthTrackerName, next.getNewGrowthTracker());
  return success();
}

void LossScalePass::runOnOperation() {
  ModuleOp module = getOperation();
  auto fail = [&](const Twine &message) { return module.emitError(message); };
  // Passes made from LossScaleOptions skip initializeOptions.
  if (failed(checkOptions(fail)))
    return signalPassFailure();
  auto precision = module->getAttrOfType<StringAttr>(TrainDialect::getPrecisionAttrName());
  std::string kind = mode;
  if (kind.empty())
    kind = precision && precision.getValue() == "fp16" ? "dynamic" : "none";
  if (kind == "none")
    return;

  func::FuncOp grad = findMarkedFunction(module, TrainDialect::getGradientOfAttrName());
  func::FuncOp step = findMarkedFunction(module, TrainDialect::getStepAttrName());
  if (!grad || !step) {
    module.emitError() << "ftc-loss-scale needs the gradient function and the step; "
                          "run ftc-autodiff and ftc-optimizer first";
    return signalPassFailure();
  }
  if (module.lookupSymbol(kLossScaleName)) {
    module.emitError() << "the step already has a loss scale (@" << kLossScaleName << ")";
    return signalPassFailure();
  }

  // The state, beside the step counter.
  SymbolTable symbols(module);
  Operation *counter = symbols.lookup(kStepCounterName);
  OpBuilder b(module.getContext());
  b.setInsertionPointAfter(counter ? counter : grad.getOperation());
  Location loc = module.getLoc();
  auto f32 = RankedTensorType::get({}, b.getF32Type());
  auto i64 = RankedTensorType::get({}, b.getI64Type());
  StateOp::create(b, loc, b.getStringAttr(kLossScaleName), TypeAttr::get(f32),
                  b.getF32FloatAttr(initScale));
  StateOp::create(b, loc, b.getStringAttr(kGrowthTrackerName), TypeAttr::get(i64),
                  b.getI64IntegerAttr(0));
  NamedAttribute settings[] = {
      b.getNamedAttr("init_scale", b.getF64FloatAttr(initScale)),
      b.getNamedAttr("growth_factor", b.getF64FloatAttr(growthFactor)),
      b.getNamedAttr("backoff_factor", b.getF64FloatAttr(backoffFactor)),
      b.getNamedAttr("growth_interval", b.getI64IntegerAttr(growthInterval))};
  module->setAttr(TrainDialect::getLossScaleAttrName(), b.getDictionaryAttr(settings));

  // The gradient function (ftc_grad): scaled backward, unscaled gradients.
  FailureOr<Scale> gradScale = seedWithScale(grad);
  if (failed(gradScale))
    return signalPassFailure();
  auto ret = cast<func::ReturnOp>(grad.getBody().front().getTerminator());
  b.setInsertionPoint(ret);
  for (OpOperand &operand : llvm::drop_begin(ret->getOpOperands()))
    operand.set(unscale(b, ret.getLoc(), operand.get(), *gradScale));

  // The step: the same, then the decision.
  FailureOr<Scale> stepScale = seedWithScale(step);
  if (failed(stepScale) || failed(rewriteStep(step, *stepScale)))
    return signalPassFailure();

  // Accumulation: each batch's backward scaled, its gradients unscaled
  // into the sums; apply decides on the sums (an inf or NaN in any batch
  // is in its sum), which are unscaled already (a factor of 1).
  if (func::FuncOp accumulate =
          findMarkedFunction(module, TrainDialect::getAccumulateAttrName())) {
    FailureOr<Scale> scale = seedWithScale(accumulate);
    if (failed(scale))
      return signalPassFailure();
    auto ret = cast<func::ReturnOp>(accumulate.getBody().front().getTerminator());
    for (OpOperand &operand : llvm::drop_begin(ret->getOpOperands())) {
      auto add = operand.get().getDefiningOp<AddOp>();
      if (!add)
        continue;
      b.setInsertionPoint(add);
      add->setOperand(1, unscale(b, add.getLoc(), add->getOperand(1), *scale));
    }
  }
  if (func::FuncOp apply = findMarkedFunction(module, TrainDialect::getApplyAttrName())) {
    Block &body = apply.getBody().front();
    b.setInsertionPointToStart(&body);
    Value scale = GetParamOp::create(b, loc, f32, kLossScaleName);
    Value one = FillOp::create(b, loc, f32, b.getF64FloatAttr(1.0));
    if (failed(rewriteStep(apply, Scale{scale, one})))
      return signalPassFailure();
  }
}

} // namespace

SmallVector<llvm::cl::Option *> ftc::getLossScaleOptions(Pass &pass) {
  return static_cast<LossScalePass &>(pass).getOptions();
}
