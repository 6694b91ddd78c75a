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

struct LoraPass : public ftc::impl::LoraBase<LoraPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError() << "ftc-lora: " << message;
      signalPassFailure();
    };
    if (rank < 1)
      return fail("rank must be at least 1, got " + Twine(rank));
    if (dropout != 0.0)
      return fail("dropout on the adapters is not supported yet");
    if (variant != "lora")
      return fail("variant '" + variant + "' is not supported yet (expected lora)");
    if (base != "fp32")
      return fail("base '" + base + "' is not supported yet (expected fp32)");
    llvm::Regex targetRe(targets), trainableRe(trainable);
    std::string error;
    if (targets.empty())
      return fail("targets: give a regular expression of linear weights' names");
    if (!targetRe.isValid(error))
      return fail("targets: invalid regular expression '" + targets + "': " + error);
    if (!trainable.empty() && !trainableRe.isValid(error))
      return fail("trainable: invalid regular expression '" + trainable + "': " + error);

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
      return fail("targets '" + targets + "' match no linear layer's weight (" +
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
      ParamOp loraB = declare("lora_B", {w.getDimSize(0), rank}, ZerosAttr::get(ctx));
      ParamOp loraA = declare("lora_A", {rank, w.getDimSize(1)}, KaimingUniformAttr::get(ctx));
      if (!loraA || !loraB)
        return fail("'" + prefix + "' already has LoRA adapters");
      adapters[t.weight] = {loraA, loraB};
    }

    // Freeze everything else.
    for (ParamOp param : module.getOps<ParamOp>())
      if (!adapterParams.contains(param) &&
          !(!trainable.empty() && trainableRe.match(param.getSymName())))
        param.setFrozen(true);

    // y = W x + b + s * B (A x)
    double a = alpha > 0 ? static_cast<double>(alpha) : static_cast<double>(rank);
    double scale = rslora ? a / std::sqrt(static_cast<double>(rank)) : a / rank;
    for (Target t : matched) {
      auto [loraA, loraB] = adapters[t.weight];
      LinearOp linear = t.linear;
      Location loc = linear.getLoc();
      b.setInsertionPointAfter(linear);
      auto x = cast<RankedTensorType>(linear.getInput().getType());
      auto y = cast<RankedTensorType>(linear.getType());
      SmallVector<int64_t> down(x.getShape());
      down.back() = rank;
      Value wA = GetParamOp::create(b, loc, loraA.getTensorType(), loraA.getSymName());
      Value wB = GetParamOp::create(b, loc, loraB.getTensorType(), loraB.getSymName());
      Value ax = LinearOp::create(b, loc, RankedTensorType::get(down, x.getElementType()),
                                  linear.getInput(), wA, Value());
      Value bax = LinearOp::create(b, loc, y, ax, wB, Value());
      auto scalarType = RankedTensorType::get({}, y.getElementType());
      Value s = ConstantOp::create(
          b, loc, DenseElementsAttr::get(scalarType, b.getFloatAttr(y.getElementType(), scale)));
      Value scaled = MulOp::create(b, loc, y, bax, s);
      Value sum = AddOp::create(b, loc, y, linear.getResult(), scaled);
      linear.getResult().replaceAllUsesExcept(sum, sum.getDefiningOp());
    }
  }
};

} // namespace
