//===- BindAbi.cpp - parameters, inputs and outputs become buffers --------===//
//
// Fixes the buffer layout of the compiled step (the ABI every entry point
// shares) and rewrites each entry point to take its buffers as memref
// arguments: parameter and slot reads become `bufferization.to_tensor`,
// writes and results become `bufferization.materialize_in_destination`.
// The layout is recorded on the module as `ftc.abi`, one dictionary per
// buffer: {kind, name, type} (+ init and trainable for parameters, init
// for states); the optimizer's settings as `ftc.optimizer`, LoRA's as
// `ftc.lora`, the precision as `ftc.precision` and the loss scaling's
// settings as `ftc.loss_scale`.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace ftc {
#define GEN_PASS_DEF_BINDABI
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

/// LoRA's settings under PEFT's LoraConfig names, and the adapted modules
/// (those with an `M.lora_A.weight`), for the model description: what
/// `ftc-train --save-adapters` writes to adapter_config.json.
DictionaryAttr describeLora(LoraAttr lora, ModuleOp module) {
  Builder b(module.getContext());
  SmallVector<Attribute> modules;
  for (auto param : module.getOps<ParamOp>())
    if (StringRef name = param.getSymName(); name.consume_back(".lora_A.weight"))
      modules.push_back(b.getStringAttr(name));
  NamedAttribute fields[] = {
      b.getNamedAttr("r", b.getI64IntegerAttr(lora.getRank())),
      b.getNamedAttr("lora_alpha", b.getF64FloatAttr(lora.getAlpha().convertToDouble())),
      b.getNamedAttr("scaling", b.getF64FloatAttr(lora.getScale())),
      b.getNamedAttr("target_modules", b.getStringAttr(lora.getTargets())),
      b.getNamedAttr("lora_dropout", b.getF64FloatAttr(lora.getDropout().convertToDouble())),
      b.getNamedAttr("use_rslora", b.getBoolAttr(lora.getRslora())),
      b.getNamedAttr("use_dora", b.getBoolAttr(lora.getVariant() == "dora")),
      b.getNamedAttr("base", b.getStringAttr(lora.getBase())),
      b.getNamedAttr("trainable", b.getStringAttr(lora.getTrainable())),
      b.getNamedAttr("modules", b.getArrayAttr(modules))};
  return b.getDictionaryAttr(fields);
}

/// The shared buffer layout: index -> what lives there.
struct Layout {
  SmallVector<Attribute> entries;
  llvm::StringMap<unsigned> variables; // param / slot symbol -> index
  SmallVector<unsigned> inputs;        // loss-function argument -> index
  std::optional<unsigned> loss, rng;
  SmallVector<unsigned> outputs; // loss-function result i + 1 -> index
  llvm::StringMap<unsigned> grads; // param symbol -> index of its gradient
  /// Parameters with a storage -> their stored types (codes, scales...)
  /// and the names of the buffers after the codes.
  llvm::StringMap<SmallVector<RankedTensorType>> stored;
  llvm::StringMap<SmallVector<std::string>> storedNames;

  unsigned add(OpBuilder &b, StringRef kind, StringRef name, Type type,
               ArrayRef<NamedAttribute> extra = {}) {
    SmallVector<NamedAttribute> fields{b.getNamedAttr("kind", b.getStringAttr(kind)),
                                       b.getNamedAttr("name", b.getStringAttr(name)),
                                       b.getNamedAttr("type", TypeAttr::get(type))};
    fields.append(extra.begin(), extra.end());
    entries.push_back(b.getDictionaryAttr(fields));
    return entries.size() - 1;
  }
};

struct BindAbiPass : public ftc::impl::BindAbiBase<BindAbiPass> {
  void runOnOperation() override;
  /// `arguments`: the buffer of each argument of `func` (the inputs; for
  /// accumulate and apply, the gradients too).
  LogicalResult bind(func::FuncOp func, StringRef entry, Layout &layout,
                     ArrayRef<unsigned> arguments);
};

MemRefType memrefFor(Type tensor) {
  auto t = cast<RankedTensorType>(tensor);
  return MemRefType::get(t.getShape(), t.getElementType());
}

void BindAbiPass::runOnOperation() {
  ModuleOp module = getOperation();
  FailureOr<func::FuncOp> loss = findLossFunction(module);
  if (failed(loss))
    return signalPassFailure();
  func::FuncOp grad = findMarkedFunction(module, TrainDialect::getGradientOfAttrName());
  func::FuncOp step = findMarkedFunction(module, TrainDialect::getStepAttrName());
  func::FuncOp accumulate = findMarkedFunction(module, TrainDialect::getAccumulateAttrName());
  func::FuncOp apply = findMarkedFunction(module, TrainDialect::getApplyAttrName());

  OpBuilder b(module.getContext());
  Layout layout;
  for (Operation &op : module.getBody()->getOperations()) {
    if (auto param = dyn_cast<ParamOp>(op)) {
      // A parameter with a storage has the stored buffers: the nf4 codes
      // (named as the parameter, as a checkpoint has it) and their scales
      // (`<name>.absmax`, bitsandbytes' name), or the bf16 tensor.
      SmallVector<RankedTensorType> stored = param.getStoredTypes();
      StringRef name = param.getSymName();
      SmallVector<NamedAttribute> extra{
          b.getNamedAttr("init", param.getInit()),
          b.getNamedAttr("trainable", b.getBoolAttr(param.isTrainable()))};
      if (auto storage = param.getStorageAttr()) {
        extra.push_back(b.getNamedAttr("storage", storage));
        extra.push_back(b.getNamedAttr("logical_type", TypeAttr::get(param.getType())));
        layout.stored[name] = {stored.begin(), stored.end()};
      }
      layout.variables[name] = layout.add(b, "param", name, stored[0], extra);
      for (auto [suffix, type] :
           llvm::drop_begin(llvm::zip(param.getStoredSuffixes(), stored))) {
        std::string scales = (name + suffix).str();
        layout.variables[scales] = layout.add(
            b, "param", scales, type,
            {b.getNamedAttr("trainable", b.getBoolAttr(false)),
             b.getNamedAttr("scales_of", FlatSymbolRefAttr::get(param.getSymNameAttr()))});
        layout.storedNames[name].push_back(scales);
      }
    }
    else if (auto slot = dyn_cast<SlotOp>(op))
      layout.variables[slot.getSymName()] =
          layout.add(b, "slot", slot.getSymName(), slot.getType(),
                     {b.getNamedAttr("of", slot.getParamAttr())});
    else if (auto state = dyn_cast<StateOp>(op))
      // Saved state is "state"; a setting the caller sets and a value the
      // step reports keep their role's name.
      layout.variables[state.getSymName()] =
          layout.add(b, state.getRole() == "saved" ? StringRef("state") : state.getRole(),
                     state.getSymName(), state.getType(),
                     {b.getNamedAttr("init", state.getInit())});
  }
  for (auto [i, arg] : llvm::enumerate(loss->getArguments())) {
    auto name = loss->getArgAttrOfType<StringAttr>(i, TrainDialect::getInputAttrName());
    SmallVector<NamedAttribute> extra;
    // Integer inputs used as class labels or as embedding indices: valid
    // values are [0, classes) or [0, rows).
    for (Operation *user : arg.getUsers()) {
      int64_t high = 0;
      if (auto ce = dyn_cast<CrossEntropyOp>(user); ce && ce.getLabels() == arg)
        high = cast<RankedTensorType>(ce.getLogits().getType()).getShape().back();
      else if (auto emb = dyn_cast<EmbeddingOp>(user); emb && emb.getIndices() == arg)
        high = cast<RankedTensorType>(emb.getTable().getType()).getDimSize(0);
      if (high) {
        extra.push_back(b.getNamedAttr("high", b.getI64IntegerAttr(high)));
        break;
      }
    }
    layout.inputs.push_back(layout.add(b, "input", name, arg.getType(), extra));
  }
  // [seed, step, training] for dropout masks, filled by the runtime per call.
  bool usesRng = false;
  module.walk([&](DropoutOp) { usesRng = true; });
  if (usesRng)
    layout.rng = layout.add(b, "rng", "rng", RankedTensorType::get({3}, b.getI64Type()));
  layout.loss = layout.add(b, "loss", "loss", loss->getFunctionType().getResult(0));
  for (unsigned i = 1; i < loss->getNumResults(); ++i) {
    auto name = loss->getResultAttrOfType<StringAttr>(i, TrainDialect::getOutputAttrName());
    layout.outputs.push_back(
        layout.add(b, "output", name, loss->getFunctionType().getResult(i)));
  }
  if (grad) {
    auto names = grad->getAttrOfType<ArrayAttr>(TrainDialect::getGradParamsAttrName());
    for (auto [name, type] : llvm::zip(names.getAsRange<FlatSymbolRefAttr>(),
                                       grad.getFunctionType().getResults().drop_front()))
      layout.grads[name.getValue()] = layout.add(b, "grad", name.getValue(), type);
  }

  // accumulate reads and writes the gradient buffers (running sums); apply
  // reads them.
  SmallVector<unsigned> gradBuffers;
  if (grad)
    for (auto name : grad->getAttrOfType<ArrayAttr>(TrainDialect::getGradParamsAttrName())
                         .getAsRange<FlatSymbolRefAttr>())
      gradBuffers.push_back(layout.grads.lookup(name.getValue()));
  SmallVector<unsigned> inputsAndGrads(layout.inputs);
  inputsAndGrads.append(gradBuffers);
  if (failed(bind(*loss, "eval", layout, layout.inputs)) ||
      (grad && failed(bind(grad, "grad", layout, layout.inputs))) ||
      (step && failed(bind(step, "step", layout, layout.inputs))) ||
      (grad && accumulate && failed(bind(accumulate, "accumulate", layout, inputsAndGrads))) ||
      (grad && apply && failed(bind(apply, "apply", layout, gradBuffers))))
    return signalPassFailure();

  module->setAttr("ftc.abi", b.getArrayAttr(layout.entries));
  if (Attribute optimizer = module->getAttr(TrainDialect::getOptimizerAttrName())) {
    module->setAttr("ftc.optimizer", optimizer);
    module->removeAttr(TrainDialect::getOptimizerAttrName());
  }
  if (auto lora = module->getAttrOfType<LoraAttr>(TrainDialect::getLoraAttrName())) {
    module->setAttr("ftc.lora", describeLora(lora, module));
    module->removeAttr(TrainDialect::getLoraAttrName());
  }
  for (auto [from, to] : {std::pair(TrainDialect::getPrecisionAttrName(), "ftc.precision"),
                          std::pair(TrainDialect::getLossScaleAttrName(), "ftc.loss_scale")})
    if (Attribute attr = module->getAttr(from)) {
      module->setAttr(to, attr);
      module->removeAttr(from);
    }
  for (Operation &op : llvm::make_early_inc_range(module.getBody()->getOperations()))
    if (isa<ParamOp, SlotOp, StateOp>(op))
      op.erase();
}

LogicalResult BindAbiPass::bind(func::FuncOp func, StringRef entry, Layout &layout,
                                ArrayRef<unsigned> arguments) {
  Block &body = func.getBody().front();
  unsigned numOld = body.getNumArguments();
  OpBuilder b(&body, body.begin());
  Location loc = func.getLoc();
  SmallVector<int64_t> indices;
  auto addBuffer = [&](unsigned index, Type tensorType) {
    indices.push_back(index);
    return body.addArgument(memrefFor(tensorType), loc);
  };

  // Which variables this function writes: their reads must be writable.
  llvm::StringSet<> written;
  func.walk([&](SetParamOp set) { written.insert(set.getParam()); });

  // Inputs: read-only buffers. Gradient buffers (accumulate's running
  // sums) are read and written through one memref, as a parameter is.
  llvm::DenseSet<unsigned> grads;
  for (auto &entry : layout.grads)
    grads.insert(entry.second);
  llvm::DenseMap<unsigned, Value> argumentBuffers;
  for (unsigned i = 0; i < numOld; ++i) {
    BlockArgument old = body.getArgument(i);
    if (i >= arguments.size())
      return func.emitError() << "argument #" << i << " has no place in the ABI";
    Value buffer = addBuffer(arguments[i], old.getType());
    argumentBuffers[arguments[i]] = buffer;
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, old.getType(), buffer, /*restrict=*/true,
        /*writable=*/grads.contains(arguments[i]));
    old.replaceAllUsesWith(tensor);
  }

  // The RNG state, for every dropout of this function.
  SmallVector<DropoutOp> dropouts;
  func.walk([&](DropoutOp op) { dropouts.push_back(op); });
  if (!dropouts.empty()) {
    auto type = RankedTensorType::get({3}, b.getI64Type());
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, type, addBuffer(*layout.rng, type), /*restrict=*/true, /*writable=*/false);
    for (DropoutOp op : dropouts)
      op.getRngMutable().assign(tensor);
  }
  // Parameters and slots: one buffer each, read once at the entry.
  llvm::StringMap<std::pair<Value, Value>> variables; // name -> (memref, tensor)
  auto variable = [&](StringRef name, Type type) -> std::pair<Value, Value> {
    auto it = variables.find(name);
    if (it != variables.end())
      return it->second;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&body);
    Value buffer = addBuffer(layout.variables.lookup(name), type);
    Value tensor = bufferization::ToTensorOp::create(
        b, loc, type, buffer, /*restrict=*/true, written.contains(name));
    return variables[name] = {buffer, tensor};
  };
  int64_t instance = 0;
  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (auto read = dyn_cast<GetParamOp>(op)) {
      StringRef name = read.getParam();
      auto stored = layout.stored.find(name);
      if (stored == layout.stored.end()) {
        read.replaceAllUsesWith(variable(name, read.getType()).second);
        read.erase();
        continue;
      }
      // Dequantized at each use, not once for all: the f32 tensor then
      // lives from one dequantize to its use, not from the forward pass to
      // the backward one.
      Value codes = variable(name, stored->second[0]).second;
      SmallVector<Value> scales;
      for (auto [scalesName, type] :
           llvm::zip(layout.storedNames[name], llvm::drop_begin(stored->second)))
        scales.push_back(variable(scalesName, type).second);
      for (OpOperand &use : llvm::make_early_inc_range(read->getUses())) {
        b.setInsertionPoint(use.getOwner());
        use.set(DequantizeOp::create(b, read.getLoc(), read.getType(), codes, scales,
                                     b.getI64IntegerAttr(instance++)));
      }
      read.erase();
    } else if (auto set = dyn_cast<SetParamOp>(op)) {
      Value buffer = variable(set.getParam(), set.getValue().getType()).first;
      b.setInsertionPoint(set);
      auto write = bufferization::MaterializeInDestinationOp::create(
          b, set.getLoc(), TypeRange{}, set.getValue(), buffer);
      write.setRestrict(true);
      write.setWritable(true);
      set.erase();
    }
  }

  // Results: the loss, then gradients, written to their buffers where
  // they are computed (each buffer final as early as it can be: see
  // ftc-grad-ready-hooks).
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    Operation *producer = value.getDefiningOp();
    if (producer && producer->getBlock() == &body)
      b.setInsertionPointAfter(producer);
    else
      b.setInsertionPoint(ret);
    unsigned index;
    if (i == 0) {
      index = *layout.loss;
    } else if (func->hasAttr(TrainDialect::getLossAttrName())) {
      index = layout.outputs[i - 1];
    } else {
      auto names = func->getAttrOfType<ArrayAttr>(TrainDialect::getGradParamsAttrName());
      index = layout.grads.lookup(cast<FlatSymbolRefAttr>(names[i - 1]).getValue());
    }
    Value buffer = argumentBuffers.lookup(index);
    if (!buffer)
      buffer = addBuffer(index, value.getType());
    auto write = bufferization::MaterializeInDestinationOp::create(
        b, ret.getLoc(), TypeRange{}, value, buffer);
    write.setRestrict(true);
    write.setWritable(true);
  }
  b.setInsertionPoint(ret);
  func::ReturnOp::create(b, ret.getLoc());
  ret.erase();
  body.eraseArguments(0, numOld);

  SmallVector<Type> argTypes(body.getArgumentTypes());
  func.setFunctionType(FunctionType::get(func.getContext(), argTypes, {}));
  func.setAllArgAttrs(SmallVector<DictionaryAttr>(argTypes.size()));
  func.setAllResultAttrs(ArrayRef<DictionaryAttr>{});
  for (StringRef attr : {TrainDialect::getLossAttrName(), TrainDialect::getStepAttrName(),
                         TrainDialect::getAccumulateAttrName(), TrainDialect::getApplyAttrName(),
                         TrainDialect::getGradientOfAttrName(),
                         TrainDialect::getGradParamsAttrName()})
    func->removeAttr(attr);
  func->setAttr("ftc.entry", b.getStringAttr(entry));
  // Internal: only ftc_entry_<entry> calls it, and a global name like
  // `step` would be interposed by libc's.
  func.setSymName(("ftc_" + entry + "_impl").str());
  func.setPrivate();
  func->setAttr("ftc.abi_indices", b.getDenseI64ArrayAttr(indices));
  return success();
}

} // namespace
