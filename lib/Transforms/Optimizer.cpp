//===- Optimizer.cpp - the training step: gradients, then the update ------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace ftc {
#define GEN_PASS_DEF_OPTIMIZER
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;
using llvm::APFloat;

namespace {

struct OptimizerPass : public ftc::impl::OptimizerBase<OptimizerPass> {
  using OptimizerBase::OptimizerBase;
  void runOnOperation() override;
  FailureOr<Attribute> resolveSettings(ModuleOp module);
};

/// `given` when the option was set (non-negative), else the current value.
APFloat pick(double given, const APFloat &current) {
  return given >= 0 ? APFloat(given) : current;
}

FailureOr<Attribute> OptimizerPass::resolveSettings(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  Attribute current = module->getAttr(TrainDialect::getOptimizerAttrName());
  std::string kind = optimizer;
  if (kind.empty())
    kind = isa_and_nonnull<SGDAttr>(current) ? "sgd" : "adamw";
  auto emit = [&] { return module.emitError(); };
  if (kind == "adamw") {
    if (!nesterov.empty() || momentum >= 0 || dampening >= 0)
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
  if (kind == "sgd") {
    if (beta1 >= 0 || beta2 >= 0 || eps >= 0)
      return module.emitError() << "beta1, beta2 and eps are AdamW settings; "
                                   "the optimizer is sgd";
    auto base = dyn_cast_or_null<SGDAttr>(current);
    if (!base)
      base = SGDAttr::get(ctx, APFloat(1e-2), APFloat(0.0), APFloat(0.0),
                          APFloat(0.0), false);
    bool useNesterov = base.getNesterov();
    if (nesterov == "true" || nesterov == "false")
      useNesterov = nesterov == "true";
    else if (!nesterov.empty())
      return module.emitError() << "nesterov must be true or false, got '"
                                << nesterov << "'";
    Attribute attr = SGDAttr::getChecked(
        emit, ctx, pick(lr, base.getLr()), pick(momentum, base.getMomentum()),
        pick(dampening, base.getDampening()),
        pick(weightDecay, base.getWeightDecay()), useNesterov);
    if (!attr)
      return failure();
    return attr;
  }
  return module.emitError() << "unknown optimizer '" << kind
                            << "'; expected adamw or sgd";
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
  FailureOr<Attribute> settings = resolveSettings(module);
  if (failed(settings))
    return signalPassFailure();
  module->setAttr(TrainDialect::getOptimizerAttrName(), *settings);
  auto adamw = dyn_cast<AdamWAttr>(*settings);
  auto sgd = dyn_cast<SGDAttr>(*settings);
  bool momentum = sgd && !sgd.getMomentum().isZero();

  SymbolTable symbols(module);
  OpBuilder b(module.getContext());
  Location loc = grad.getLoc();

  // The step function: the gradient function's inputs, then t.
  SmallVector<Type> argTypes(grad.getArgumentTypes());
  auto stepType = RankedTensorType::get({}, b.getI64Type());
  argTypes.push_back(stepType);
  b.setInsertionPointAfter(grad);
  auto step = func::FuncOp::create(
      b, loc, "step",
      b.getFunctionType(argTypes, grad.getFunctionType().getResult(0)));
  step->setAttr(TrainDialect::getStepAttrName(), b.getUnitAttr());
  symbols.insert(step);
  for (unsigned i = 0; i < grad.getNumArguments(); ++i)
    step.setArgAttrs(i, grad.getArgAttrDict(i));
  step.setArgAttr(grad.getNumArguments(), TrainDialect::getStepCountAttrName(),
                  b.getUnitAttr());

  // Its body: the gradient function's, then the updates.
  Block *body = step.addEntryBlock();
  IRMapping mapping;
  for (auto [from, to] : llvm::zip(grad.getArguments(), body->getArguments()))
    mapping.map(from, to);
  b.setInsertionPointToStart(body);
  for (Operation &op : grad.getBody().front().without_terminator())
    b.clone(op, mapping);
  auto gradReturn = cast<func::ReturnOp>(grad.getBody().front().getTerminator());
  Value t = body->getArguments().back();

  auto paramNames =
      grad->getAttrOfType<ArrayAttr>(TrainDialect::getGradParamsAttrName());
  for (auto [paramName, gradValue] :
       llvm::zip(paramNames.getAsRange<FlatSymbolRefAttr>(),
                 gradReturn.getOperands().drop_front())) {
    FlatSymbolRefAttr name = paramName;
    auto param = symbols.lookup<ParamOp>(name.getValue());
    Type type = param.getType();
    // Optimizer state lives beside its parameter: `<param>.<state>`.
    auto makeSlot = [&](StringRef state) {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointAfter(param);
      auto slot = SlotOp::create(
          b, param.getLoc(), b.getStringAttr(name.getValue() + "." + state),
          name, TypeAttr::get(type));
      symbols.insert(slot, std::next(Block::iterator(param)));
      return slot;
    };
    auto read = [&](StringRef sym) {
      return GetParamOp::create(b, loc, type, sym).getResult();
    };
    auto write = [&](StringRef sym, Value v) {
      SetParamOp::create(b, loc, sym, v);
    };
    Value p = read(name.getValue());
    Value g = mapping.lookup(gradValue);
    if (adamw) {
      SlotOp sq = makeSlot("exp_avg_sq"), avg = makeSlot("exp_avg");
      auto update = AdamWUpdateOp::create(b, loc, p, g, read(avg.getSymName()),
                                          read(sq.getSymName()), t, adamw);
      write(name.getValue(), update.getNewParam());
      write(avg.getSymName(), update.getNewExpAvg());
      write(sq.getSymName(), update.getNewExpAvgSq());
    } else if (momentum) {
      SlotOp buf = makeSlot("momentum_buffer");
      auto update = SGDUpdateOp::create(b, loc, TypeRange{type, type}, p, g,
                                        read(buf.getSymName()), t, sgd);
      write(name.getValue(), update.getNewParam());
      write(buf.getSymName(), update.getNewMomentumBuffer());
    } else {
      auto update = SGDUpdateOp::create(b, loc, TypeRange{type}, p, g, Value(),
                                        t, sgd);
      write(name.getValue(), update.getNewParam());
    }
  }
  func::ReturnOp::create(b, loc, mapping.lookup(gradReturn.getOperand(0)));
}

} // namespace
