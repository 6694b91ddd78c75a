//===- Autocast.cpp - mixed precision decided at compile time -------------===//
//
// torch.autocast as a rewrite of the loss function before autodiff: each op
// computes in the type its policy (the table below, the one place it is
// decided) gives it; operands are cast where their type differs, each value
// once per type. Parameters stay f32 (the master weights), so autodiff's cast
// rule hands the optimizer f32 gradients.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"
#include "ftc/Support/NamedRegistry.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/CommandLine.h"


namespace ftc {
#define GEN_PASS_DEF_AUTOCAST
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

// Which type each op computes in. Not listed: `follow`.
static const ftc::AutocastRule kAutocastPolicy[] = {
    {"train.linear", ftc::AutocastPolicy::Lower, "16-bit operands, summed in f32"},
    {"train.matmul", ftc::AutocastPolicy::Lower, "16-bit operands, summed in f32"},
    {"train.attention", ftc::AutocastPolicy::Lower,
     "16-bit q, k, v; scores and softmax in f32, P rounded for P v"},
    {"train.softmax", ftc::AutocastPolicy::Fp32, "exp and a sum over a row"},
    {"train.log_softmax", ftc::AutocastPolicy::Fp32, "exp, a sum and a log over a row"},
    {"train.layer_norm", ftc::AutocastPolicy::Fp32, "mean and variance of a row"},
    {"train.exp", ftc::AutocastPolicy::Fp32, "overflows 16 bits early"},
    {"train.log", ftc::AutocastPolicy::Fp32, "loses the small differences"},
    {"train.sqrt", ftc::AutocastPolicy::Fp32, "norms"},
    {"train.sum", ftc::AutocastPolicy::Fp32, "a sum of many terms"},
    {"train.mean", ftc::AutocastPolicy::Fp32, "a sum of many terms"},
    {"train.max", ftc::AutocastPolicy::Fp32, "a reduction"},
    {"train.cross_entropy", ftc::AutocastPolicy::Fp32, "the loss"},
    {"train.mse_loss", ftc::AutocastPolicy::Fp32, "the loss"},
    {"train.add", ftc::AutocastPolicy::Promote, "the widest operand's type"},
    {"train.sub", ftc::AutocastPolicy::Promote, "the widest operand's type"},
    {"train.mul", ftc::AutocastPolicy::Promote, "the widest operand's type"},
    {"train.div", ftc::AutocastPolicy::Promote, "the widest operand's type"},
    {"train.concat", ftc::AutocastPolicy::Promote, "the widest operand's type"},
};

ArrayRef<ftc::AutocastRule> ftc::getAutocastPolicy() { return kAutocastPolicy; }

ftc::AutocastPolicy ftc::getAutocastPolicy(StringRef opName) {
  for (const AutocastRule &rule : kAutocastPolicy)
    if (rule.op == opName)
      return rule.policy;
  return AutocastPolicy::Follow;
}

ftc::AutocastRules::~AutocastRules() = default;

namespace {

/// ftc's rules: the table above.
class TorchRules : public ftc::AutocastRules {
public:
  StringRef getName() const override { return "torch"; }
  StringRef getDescription() const override {
    return "products in 16 bits, reductions, norms and losses in f32 (torch.autocast's)";
  }
  ftc::AutocastPolicy decide(Operation *op) const override {
    return ftc::getAutocastPolicy(op->getName().getStringRef());
  }
  ArrayRef<ftc::AutocastRule> getTable() const override { return kAutocastPolicy; }
};

/// The registered rules, ftc's first.
ftc::NamedRegistry<ftc::AutocastRules> &registeredRules() {
  static ftc::NamedRegistry<ftc::AutocastRules> registry;
  static const bool builtins = succeeded(registry.add(std::make_unique<TorchRules>()));
  (void)builtins;
  return registry;
}

} // namespace

LogicalResult ftc::registerAutocastRules(std::unique_ptr<AutocastRules> rules) {
  return registeredRules().add(std::move(rules));
}

const ftc::AutocastRules *ftc::lookupAutocastRules(StringRef name) {
  return registeredRules().lookup(name);
}

std::string ftc::autocastRulesNames() { return registeredRules().names(); }

namespace {

bool isFloatTensor(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && isa<FloatType>(tensor.getElementType());
}

Type withElement(Type type, Type element) {
  return RankedTensorType::get(cast<RankedTensorType>(type).getShape(), element);
}

struct AutocastPass
    : public ftc::CheckedOptionsPass<AutocastPass, ftc::impl::AutocastBase<AutocastPass>> {
  using CheckedOptionsPass::CheckedOptionsPass;

  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> fail) {
    std::string p = precision;
    if (!p.empty() && p != "fp32" && p != "bf16" && p != "fp16")
      return fail("--precision: expected fp32, bf16 or fp16, got '" + p + "'");
    chosen = ftc::lookupAutocastRules(rules);
    if (!chosen)
      return fail("--autocast-rules: expected " + ftc::autocastRulesNames() + ", got '" +
                  rules + "'");
    return success();
  }

  const ftc::AutocastRules *chosen = nullptr;

  SmallVector<llvm::cl::Option *> getOptions() { return ftc::getSiblingOptions(precision); }

  void runOnOperation() override;
  void rewrite(func::FuncOp func, Type low);
};

void AutocastPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(checkOptions([&](const Twine &message) { return module.emitError(message); })))
    return signalPassFailure();
  std::string p = precision;
  if (p.empty())
    if (auto attr = module->getAttrOfType<StringAttr>(TrainDialect::getPrecisionAttrName()))
      p = attr.getValue().str();
  if (p.empty())
    p = "fp32";
  if (p != "fp32" && p != "bf16" && p != "fp16") {
    module.emitError() << "train.precision must be fp32, bf16 or fp16, got '" << p << "'";
    return signalPassFailure();
  }
  if (p == "fp32")
    return; // nothing to record or rewrite
  OpBuilder b(module.getContext());
  module->setAttr(TrainDialect::getPrecisionAttrName(), b.getStringAttr(p));
  // Which rules decided, when not ftc's, for `ftc --report`.
  if (chosen->getName() != "torch")
    module->setAttr("ftc.autocast_rules", b.getStringAttr(chosen->getName()));
  FailureOr<func::FuncOp> loss = findLossFunction(module);
  if (failed(loss))
    return signalPassFailure();
  if (!loss->getBody().hasOneBlock()) {
    loss->emitError() << "ftc-autocast needs a loss function with one block; inline first";
    return signalPassFailure();
  }
  rewrite(*loss, p == "bf16" ? Type(b.getBF16Type()) : Type(b.getF16Type()));
}

void AutocastPass::rewrite(func::FuncOp func, Type low) {
  Block &body = func.getBody().front();
  OpBuilder b(func.getContext());
  Type f32 = b.getF32Type();

  // Each parameter read once, first thing: its 16-bit copy is then made
  // once per step, however many layers or uses read it.
  llvm::StringMap<GetParamOp> reads;
  SmallVector<GetParamOp> all;
  body.walk([&](GetParamOp read) { all.push_back(read); });
  Operation *last = nullptr;
  for (GetParamOp read : all) {
    auto [it, first] = reads.try_emplace(read.getParam(), read);
    if (first) {
      if (last)
        read->moveAfter(last);
      else
        read->moveBefore(&body.front());
      last = read;
      continue;
    }
    read.replaceAllUsesWith(it->second.getResult());
    read.erase();
  }

  // A value in another float type, cast once, right after its definition.
  DenseMap<std::pair<Value, Type>, Value> casts;
  auto castTo = [&](Value v, Type element) -> Value {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getElementType() == element)
      return v;
    Value &slot = casts[{v, element}];
    if (!slot) {
      OpBuilder::InsertionGuard guard(b);
      if (Operation *def = v.getDefiningOp())
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPointToStart(&body);
      slot = CastOp::create(b, v.getLoc(), withElement(type, element), v);
    }
    return slot;
  };
  auto width = [](Type t) { return t.getIntOrFloatBitWidth(); };

  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (isa<CastOp, GetParamOp, ConstantOp, FillOp>(op))
      continue;
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      // The loss and the outputs in their declared types.
      for (auto [operand, type] :
           llvm::zip(ret->getOpOperands(), func.getFunctionType().getResults()))
        if (operand.get().getType() != type && isFloatTensor(type))
          operand.set(castTo(operand.get(), cast<RankedTensorType>(type).getElementType()));
      continue;
    }
    bool hasFloatResult = llvm::any_of(op.getResultTypes(), isFloatTensor);
    SmallVector<OpOperand *> floats;
    for (OpOperand &operand : op.getOpOperands())
      if (isFloatTensor(operand.get().getType()))
        floats.push_back(&operand);
    if (floats.empty() || !hasFloatResult)
      continue;
    Type compute;
    switch (chosen->decide(&op)) {
    case ftc::AutocastPolicy::Lower:
      compute = low;
      break;
    case ftc::AutocastPolicy::Fp32:
      compute = f32;
      break;
    case ftc::AutocastPolicy::Promote:
    case ftc::AutocastPolicy::Follow:
      for (OpOperand *operand : floats) {
        Type t = cast<RankedTensorType>(operand->get().getType()).getElementType();
        if (!compute || width(t) > width(compute))
          compute = t;
      }
      break;
    }
    for (OpOperand *operand : floats)
      operand->set(castTo(operand->get(), compute));
    for (OpResult result : op.getResults())
      if (isFloatTensor(result.getType()))
        result.setType(withElement(result.getType(), compute));
  }
}

} // namespace

SmallVector<llvm::cl::Option *> ftc::getAutocastOptions(Pass &pass) {
  return static_cast<AutocastPass &>(pass).getOptions();
}
