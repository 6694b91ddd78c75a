//===- EmitEntryPoints.cpp - C entry points and the model description -----===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainAttrs.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/JSON.h"

#include <cmath>

namespace ftc {
#define GEN_PASS_DEF_EMITENTRYPOINTS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;
namespace json = llvm::json;

namespace {

std::string dtypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF64())
    return "f64";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isInteger(32))
    return "i32";
  if (type.isInteger(64))
    return "i64";
  if (type.isInteger(8))
    return "i8";
  return "unknown";
}

/// The distribution the runtime draws from: zeros, ones, constant, normal or
/// uniform. PyTorch's nn.Linear defaults become uniform with their bounds.
json::Object describeInit(Attribute init, RankedTensorType type) {
  auto uniform = [](double bound) {
    return json::Object{{"kind", "uniform"}, {"low", -bound}, {"high", bound}};
  };
  return llvm::TypeSwitch<Attribute, json::Object>(init)
      .Case([](ZerosAttr) { return json::Object{{"kind", "zeros"}}; })
      .Case([](OnesAttr) { return json::Object{{"kind", "ones"}}; })
      // A train.state's value in a new state (the loss scale, a counter).
      .Case([](FloatAttr c) {
        return json::Object{{"kind", "constant"}, {"value", c.getValueAsDouble()}};
      })
      .Case([](IntegerAttr c) {
        return json::Object{{"kind", "constant"}, {"value", c.getInt()}};
      })
      .Case([](ConstantInitAttr c) {
        return json::Object{{"kind", "constant"},
                            {"value", c.getValue().convertToDouble()}};
      })
      .Case([](NormalAttr n) {
        return json::Object{{"kind", "normal"},
                            {"mean", n.getMean().convertToDouble()},
                            {"std", n.getStd().convertToDouble()}};
      })
      .Case([](UniformAttr u) {
        return json::Object{{"kind", "uniform"},
                            {"low", u.getLow().convertToDouble()},
                            {"high", u.getHigh().convertToDouble()}};
      })
      .Case([&](KaimingUniformAttr) {
        // gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)), a = sqrt(5)
        double fanIn = KaimingUniformAttr::getFanIn(type.getShape());
        return uniform(std::sqrt(2.0 / 6.0) * std::sqrt(3.0 / fanIn));
      })
      .Case([](RowNormAttr r) {
        return json::Object{{"kind", "row_norm"}, {"of", r.getOf().getValue()}};
      })
      .Case([&](LinearBiasAttr b) {
        return uniform(1.0 / std::sqrt(static_cast<double>(b.getFanIn())));
      })
      .Default([](Attribute) { return json::Object{{"kind", "unknown"}}; });
}

/// Numbers, strings, booleans and lists and dictionaries of them.
json::Value toJson(Attribute attr) {
  return llvm::TypeSwitch<Attribute, json::Value>(attr)
      .Case([](BoolAttr a) { return json::Value(a.getValue()); })
      .Case([](IntegerAttr a) { return json::Value(a.getInt()); })
      .Case([](FloatAttr a) { return json::Value(a.getValueAsDouble()); })
      .Case([](StringAttr a) { return json::Value(a.getValue()); })
      .Case([](ArrayAttr a) {
        json::Array list;
        for (Attribute element : a)
          list.push_back(toJson(element));
        return json::Value(std::move(list));
      })
      .Case([](DictionaryAttr a) {
        json::Object object;
        for (NamedAttribute field : a)
          object[field.getName().getValue()] = toJson(field.getValue());
        return json::Value(std::move(object));
      })
      .Default([](Attribute) { return json::Value(nullptr); });
}

std::string describeModel(ArrayAttr abi, ModuleOp module) {
  json::Array buffers;
  for (auto entry : abi.getAsRange<DictionaryAttr>()) {
    auto type = cast<RankedTensorType>(
        cast<TypeAttr>(entry.get("type")).getValue());
    json::Object buffer{
        {"kind", cast<StringAttr>(entry.get("kind")).getValue()},
        {"name", cast<StringAttr>(entry.get("name")).getValue()},
        {"dtype", dtypeName(type.getElementType())},
        {"shape", json::Array(type.getShape())}};
    // A stored parameter: the runtime draws (or loads) the f32 tensor of
    // `logical_type`, then keeps it as `storage` says; nf4 codes are bytes
    // (u8, as bitsandbytes keeps them), beside their `<name>.absmax`.
    RankedTensorType logical = type;
    if (auto storage = entry.getAs<StringAttr>("storage")) {
      logical = cast<RankedTensorType>(entry.getAs<TypeAttr>("logical_type").getValue());
      json::Object quant{{"kind", storage.getValue()},
                         {"shape", json::Array(logical.getShape())}};
      if (storage.getValue() != "bf16") {
        buffer["dtype"] = "u8";
        quant["block_size"] = 64;
      }
      buffer["storage"] = std::move(quant);
    }
    if (auto of = entry.getAs<FlatSymbolRefAttr>("scales_of")) {
      buffer["scales_of"] = of.getValue();
      // Double quantization's 8-bit codes of the scales: bytes, as nf4's.
      if (type.getElementType().isInteger(8))
        buffer["dtype"] = "u8";
    }
    if (auto init = entry.get("init"))
      buffer["init"] = describeInit(init, logical);
    if (auto trainable = entry.getAs<BoolAttr>("trainable"))
      buffer["trainable"] = trainable.getValue();
    if (auto high = entry.getAs<IntegerAttr>("high"))
      buffer["high"] = high.getInt();
    if (auto of = entry.getAs<FlatSymbolRefAttr>("of"))
      buffer["of"] = of.getValue();
    buffers.push_back(std::move(buffer));
  }
  json::Object entries;
  for (auto func : module.getOps<LLVM::LLVMFuncOp>())
    if (auto name = func->getAttrOfType<StringAttr>("ftc.entry"))
      entries[name.getValue()] = json::Array(
          func->getAttrOfType<DenseI64ArrayAttr>("ftc.abi_indices").asArrayRef());
  json::Object model{{"format", 1},
                     {"buffers", std::move(buffers)},
                     {"entries", std::move(entries)}};
  if (auto optimizer = module->getAttr("ftc.optimizer")) {
    std::string text;
    llvm::raw_string_ostream os(text);
    optimizer.print(os);
    model["optimizer"] = text;
  }
  if (auto lora = module->getAttrOfType<DictionaryAttr>("ftc.lora"))
    model["lora"] = toJson(lora);
  if (auto precision = module->getAttrOfType<StringAttr>("ftc.precision"))
    model["precision"] = precision.getValue();
  if (auto scaling = module->getAttrOfType<DictionaryAttr>("ftc.loss_scale"))
    model["loss_scale"] = toJson(scaling);
  // The gradients in the order the backward finishes them
  // (ftc-grad-ready-hooks).
  if (auto ready = module->getAttrOfType<DenseI64ArrayAttr>("ftc.grad_ready"))
    model["grad_ready"] = json::Array(ready.asArrayRef());
  // --check-numerics: what each check watches, by number (from 1).
  if (auto numerics = module->getAttrOfType<ArrayAttr>("ftc.numerics"))
    model["numerics"] = toJson(numerics);
  std::string out;
  llvm::raw_string_ostream os(out);
  os << json::Value(std::move(model));
  return out;
}

struct EmitEntryPointsPass
    : public ftc::impl::EmitEntryPointsBase<EmitEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto abi = module->getAttrOfType<ArrayAttr>("ftc.abi");
    if (!abi) {
      module.emitError() << "no 'ftc.abi' on the module; run ftc-bind-abi first";
      return signalPassFailure();
    }
    MLIRContext *ctx = module.getContext();
    OpBuilder b(ctx);
    b.setInsertionPointToEnd(module.getBody());
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto voidTy = LLVM::LLVMVoidType::get(ctx);

    SmallVector<LLVM::LLVMFuncOp> entries;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>()) {
      if (func->hasAttr("ftc.entry"))
        entries.push_back(func);
      // Private functions with bodies (the entry points' implementations,
      // outlined loop nests) stay inside the library: internal linkage, so
      // nothing interposes them and the export list never sees them.
      if (!func.isExternal() && func.isPrivate()) {
        func.setLinkage(LLVM::Linkage::Internal);
        func->removeAttr("sym_visibility");
      }
    }
    for (LLVM::LLVMFuncOp func : entries) {
      auto indices = func->getAttrOfType<DenseI64ArrayAttr>("ftc.abi_indices");
      if (!indices || static_cast<int64_t>(indices.size()) != func.getNumArguments() ||
          !llvm::all_of(func.getArgumentTypes(), llvm::IsaPred<LLVM::LLVMPointerType>)) {
        func.emitError() << "an entry point needs one pointer argument per "
                            "buffer (bare-pointer memrefs of static shape)";
        return signalPassFailure();
      }
      Location loc = func.getLoc();
      std::string name =
          ("ftc_entry_" + func->getAttrOfType<StringAttr>("ftc.entry").getValue()).str();
      auto wrapper = LLVM::LLVMFuncOp::create(
          b, loc, name, LLVM::LLVMFunctionType::get(voidTy, {ptr}));
      OpBuilder::InsertionGuard guard(b);
      Block *body = wrapper.addEntryBlock(b);
      b.setInsertionPointToStart(body);
      SmallVector<Value> args;
      for (int64_t index : indices.asArrayRef()) {
        Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, body->getArgument(0),
                                         ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(index)});
        args.push_back(LLVM::LoadOp::create(b, loc, ptr, slot));
      }
      LLVM::CallOp::create(b, loc, func, args);
      LLVM::ReturnOp::create(b, loc, ValueRange{});
    }

    // The model description, NUL-terminated.
    std::string text = describeModel(abi, module);
    text.push_back('\0');
    auto arrayTy = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size());
    LLVM::GlobalOp::create(b, module.getLoc(), arrayTy, /*isConstant=*/true,
                           LLVM::Linkage::External, "ftc_model_json",
                           b.getStringAttr(text));
    module->removeAttr("ftc.abi");
  }
};

} // namespace
