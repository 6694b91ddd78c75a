//===- TrainDialect.cpp - the train dialect and its model conventions -----===//

#include "ftc/Dialect/Train/IR/TrainDialect.h"
#include "ftc/Dialect/Train/IR/TrainAttrs.h"
#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Transforms/InliningUtils.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace ftc::train;

#include "ftc/Dialect/Train/IR/TrainDialect.cpp.inc"

namespace {
/// Every train op may be inlined: block functions called once per layer are
/// inlined before autodiff.
struct TrainInlinerInterface : public DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final {
    return true;
  }
};
} // namespace

void TrainDialect::initialize() {
  addInterfaces<TrainInlinerInterface>();
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "ftc/Dialect/Train/IR/TrainOps.cpp.inc"
      >();
}

Operation *TrainDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                             Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}

//===----------------------------------------------------------------------===//
// The model conventions, checked where the attributes sit
//===----------------------------------------------------------------------===//

/// The value of a `train.input` argument attribute: a non-empty string.
static LogicalResult verifyInputName(Operation *op, unsigned argIndex,
                                     Attribute value) {
  auto name = dyn_cast<StringAttr>(value);
  if (name && !name.getValue().empty())
    return success();
  return op->emitOpError() << "argument #" << argIndex << ": '"
                           << TrainDialect::getInputAttrName()
                           << "' must be a non-empty string naming the batch "
                              "input";
}

/// A loss function: a func.func with a body, batch inputs as named, statically
/// shaped tensor arguments and one result, the scalar loss.
static LogicalResult verifyLossFunction(Operation *op) {
  auto func = dyn_cast<func::FuncOp>(op);
  if (!func)
    return op->emitOpError()
           << "cannot carry 'train.loss': it marks the func.func that "
              "computes the loss";
  if (func.isExternal())
    return func.emitOpError() << "is marked {train.loss} but has no body";
  FunctionType type = func.getFunctionType();
  if (type.getNumResults() == 0)
    return func.emitOpError()
           << "is the loss function and must return the scalar loss first; it "
              "returns nothing";
  auto loss = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!loss || loss.getRank() != 0 ||
      !(loss.getElementType().isF32() || loss.getElementType().isF64()))
    return func.emitOpError()
           << "must return the loss as a scalar: tensor<f32> (tensor<f64> for "
              "gradient checks), got "
           << type.getResult(0);

  // Further results are named outputs (logits, say) for evaluation.
  llvm::StringSet<> outputs;
  for (unsigned i = 1; i < type.getNumResults(); ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, TrainDialect::getOutputAttrName());
    if (!name || name.getValue().empty())
      return func.emitOpError()
             << "result #" << i << " of the loss function needs a "
             << "{train.output = \"...\"} attribute naming the output";
    auto tensor = dyn_cast<RankedTensorType>(type.getResult(i));
    if (!tensor || !tensor.hasStaticShape())
      return func.emitOpError() << "output \"" << name.getValue()
                                << "\" must be a statically shaped tensor, got "
                                << type.getResult(i);
    if (!outputs.insert(name.getValue()).second)
      return func.emitOpError() << "output name \"" << name.getValue()
                                << "\" is used twice";
  }

  llvm::StringMap<unsigned> firstUse;
  for (auto [index, arg] : llvm::enumerate(func.getArguments())) {
    Attribute value = func.getArgAttr(index, TrainDialect::getInputAttrName());
    if (!value)
      return emitError(arg.getLoc())
             << "argument #" << index
             << " of the loss function needs a {train.input = \"...\"} "
                "attribute naming the batch input";
    if (failed(verifyInputName(func, index, value)))
      return failure();
    auto name = cast<StringAttr>(value);
    auto tensor = dyn_cast<RankedTensorType>(arg.getType());
    if (!tensor || !tensor.hasStaticShape())
      return emitError(arg.getLoc())
             << "batch input \"" << name.getValue()
             << "\" must be a statically shaped tensor, got " << arg.getType();
    auto [it, inserted] = firstUse.try_emplace(name.getValue(), index);
    if (!inserted) {
      InFlightDiagnostic diag = emitError(arg.getLoc())
                                << "batch input name \"" << name.getValue()
                                << "\" is used twice";
      diag.attachNote(func.getArgument(it->second).getLoc())
          << "first used by argument #" << it->second;
      return diag;
    }
  }
  return success();
}

LogicalResult TrainDialect::verifyOperationAttribute(Operation *op,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == getLossAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitOpError() << "'" << name << "' must be a unit attribute";
    return verifyLossFunction(op);
  }
  if (name == getOptimizerAttrName()) {
    if (!isa<ModuleOp>(op))
      return op->emitOpError()
             << "cannot carry '" << name
             << "': optimizer settings belong on the model's module";
    if (!isa<AdamWAttr, SGDAttr>(attr.getValue()))
      return op->emitOpError()
             << "'" << name << "' must be #train.adamw<...> or #train.sgd<...>, got "
             << attr.getValue();
    return success();
  }
  if (name == getPrecisionAttrName()) {
    auto value = dyn_cast<StringAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !value ||
        !llvm::is_contained({"fp32", "bf16", "fp16"}, value.getValue()))
      return op->emitOpError() << "'" << name
                               << "' belongs on the module and is \"fp32\", \"bf16\" or "
                                  "\"fp16\", got "
                               << attr.getValue();
    return success();
  }
  if (name == getLoraAttrName()) {
    if (!isa<ModuleOp>(op))
      return op->emitOpError() << "cannot carry '" << name
                               << "': LoRA settings belong on the model's module";
    if (!isa<LoraAttr>(attr.getValue()))
      return op->emitOpError() << "'" << name << "' must be #train.lora<...>, got "
                               << attr.getValue();
    return success();
  }
  if (name == getGradientOfAttrName()) {
    if (!isa<FlatSymbolRefAttr>(attr.getValue()))
      return op->emitOpError() << "'" << name
                               << "' must name the loss function, got "
                               << attr.getValue();
    return success();
  }
  if (name == getGradParamsAttrName()) {
    auto list = dyn_cast<ArrayAttr>(attr.getValue());
    if (!list || !llvm::all_of(list, llvm::IsaPred<FlatSymbolRefAttr>))
      return op->emitOpError() << "'" << name
                               << "' must be a list of parameter symbols, got "
                               << attr.getValue();
    return success();
  }
  if (name == getStepAttrName() || name == getAccumulateAttrName() ||
      name == getApplyAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()) || !isa<func::FuncOp>(op))
      return op->emitOpError() << "'" << name
                               << "' is a unit attribute marking the func.func "
                               << (name == getStepAttrName() ? "of the training step"
                                   : name == getApplyAttrName()
                                       ? "that applies the update to given gradients"
                                       : "that adds a batch's gradients to running sums");
    return success();
  }
  if (name == getLossSeedAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()) || !isa<FillOp, GetParamOp>(op))
      return op->emitOpError() << "'" << name
                               << "' is a unit attribute marking the train.fill "
                                  "(or, with loss scaling, the read of the scale) that "
                                  "seeds the backward pass";
    return success();
  }
  if (name == getLossScaleAttrName()) {
    auto settings = dyn_cast<DictionaryAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !settings ||
        !llvm::all_of(settings, [](NamedAttribute field) {
          return isa<FloatAttr, IntegerAttr>(field.getValue());
        }))
      return op->emitOpError() << "'" << name
                               << "' belongs on the module and is a dictionary of "
                                  "numbers (the loss scaling's settings), got "
                               << attr.getValue();
    return success();
  }
  if (name == getRecomputedAttrName()) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitOpError() << "'" << name
                               << "' is a unit attribute marking an op ftc-remat "
                                  "recomputes in the backward pass";
    return success();
  }
  if (name == getRematAttrName()) {
    auto verdict = dyn_cast<DictionaryAttr>(attr.getValue());
    if (!isa<ModuleOp>(op) || !verdict)
      return op->emitOpError() << "'" << name
                               << "' belongs on the module and is a dictionary (ftc-remat's "
                                  "policy and verdict), got "
                               << attr.getValue();
    return success();
  }
  if (name == getInputAttrName())
    return op->emitOpError() << "cannot carry '" << name
                             << "': it names a batch input and belongs on an "
                                "argument of the loss function";
  return op->emitOpError() << "has unknown train dialect attribute '" << name
                           << "'; expected " << getLossAttrName() << ", "
                           << getOptimizerAttrName() << ", " << getLoraAttrName() << ", "
                           << getPrecisionAttrName() << ", " << getLossScaleAttrName()
                           << ", " << getLossSeedAttrName()
                           << ", " << getRecomputedAttrName() << ", " << getRematAttrName()
                           << ", " << getStepAttrName() << ", " << getAccumulateAttrName()
                           << ", " << getApplyAttrName()
                           << ", " << getGradientOfAttrName() << " or "
                           << getGradParamsAttrName();
}

LogicalResult TrainDialect::verifyRegionArgAttribute(Operation *op,
                                                     unsigned regionIndex,
                                                     unsigned argIndex,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name != getInputAttrName())
    return op->emitOpError() << "has unknown train dialect argument attribute '"
                             << name << "' on argument #" << argIndex
                             << "; expected " << getInputAttrName();
  if (failed(verifyInputName(op, argIndex, attr.getValue())))
    return failure();
  if (!op->hasAttr(getLossAttrName()) && !op->hasAttr(getStepAttrName()) &&
      !op->hasAttr(getGradientOfAttrName()) && !op->hasAttr(getAccumulateAttrName()))
    return op->emitOpError() << "argument #" << argIndex << ": '" << name
                             << "' names a batch input and belongs on an "
                                "argument of the loss function (a func.func "
                                "marked {train.loss})";
  return success();
}

LogicalResult TrainDialect::verifyRegionResultAttribute(Operation *op,
                                                        unsigned regionIndex,
                                                        unsigned resultIndex,
                                                        NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name != getOutputAttrName())
    return op->emitOpError() << "has unknown train dialect result attribute '"
                             << name << "' on result #" << resultIndex
                             << "; expected " << getOutputAttrName();
  if (!op->hasAttr(getLossAttrName()) || resultIndex == 0)
    return op->emitOpError() << "result #" << resultIndex << ": '" << name
                             << "' names an output of the loss function, "
                                "after the loss";
  return success();
}
