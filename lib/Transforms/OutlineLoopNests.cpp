//===- OutlineLoopNests.cpp - One function per top-level loop nest --------===//
//
// LLVM's loop passes are superlinear in the size of a function; a training
// step lowered to loops is one function per entry point, with a loop nest
// per op of the forward and backward pass. Outlining every nest into its own
// non-inlinable function keeps each function LLVM optimizes small, and nests
// that outline to the same function (the same op in every layer) share one,
// so LLVM optimizes a layer's code once. Upstream has no such pass (its
// outlining utilities outline regions into functions one by one; this pass
// chooses the nests, clones views and constants in, and deduplicates).
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace ftc {
#define GEN_PASS_DEF_OUTLINELOOPNESTS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// True for an op that can be cloned into the outlined function instead of
/// passing its result: no side effects, no regions (constants, subviews,
/// reinterpret casts, index arithmetic).
bool isRematerializable(Operation *op) {
  // Views of the workspace are passed, not recomputed: as distinct noalias
  // arguments LLVM knows they do not overlap (they do not: see
  // ftc-plan-memory), as views of one argument it would not.
  return op && op->getNumRegions() == 0 && isMemoryEffectFree(op) &&
         !isa<memref::ViewOp>(op);
}

/// True if a value of this type can cross a call under the bare-pointer
/// calling convention ftc lowers with.
bool isPassable(Type type) {
  if (auto memref = dyn_cast<MemRefType>(type))
    return memref.hasStaticShape() && memref.getLayout().isIdentity();
  return type.isIntOrIndexOrFloat();
}

/// What an outlined nest needs from its function: the values passed as
/// arguments and the ops cloned in front of the nest (in program order).
struct Captures {
  llvm::SetVector<Value> arguments;
  llvm::SetVector<Operation *> clones;
};

/// Collects the captures of `nest`, walking the defining ops of captured
/// values back to arguments. Fails if some argument cannot be passed.
LogicalResult collectCaptures(Operation *nest, Captures &captures) {
  llvm::SetVector<Value> used;
  getUsedValuesDefinedAbove(nest->getRegions(), used);
  used.insert(nest->getOperands().begin(), nest->getOperands().end());
  SmallVector<Value> worklist(used.begin(), used.end());
  llvm::DenseSet<Value> seen(used.begin(), used.end());
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    Operation *def = value.getDefiningOp();
    if (isRematerializable(def)) {
      captures.clones.insert(def);
      for (Value operand : def->getOperands())
        if (seen.insert(operand).second)
          worklist.push_back(operand);
      continue;
    }
    if (!isPassable(value.getType()))
      return failure();
    captures.arguments.insert(value);
  }
  return success();
}

struct OutlineLoopNests
    : ftc::impl::OutlineLoopNestsBase<OutlineLoopNests> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    outlined.clear();
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal() || !func.getBody().hasOneBlock())
        continue;
      SmallVector<Operation *> nests;
      for (Operation &op : func.getBody().front())
        if (isa<scf::ForOp, scf::ParallelOp>(op))
          nests.push_back(&op);
      if (nests.size() < minNests)
        continue;
      unsigned counter = 0;
      for (Operation *nest : nests)
        outline(func, nest, symbols, counter);
    }
  }

  /// The outlined functions so far by their type and body, printed: the
  /// same nest in every layer of a model becomes one function.
  llvm::StringMap<func::FuncOp> outlined;

  /// `callee`'s signature and body as text, without names or locations.
  static std::string structure(func::FuncOp callee) {
    std::string text;
    llvm::raw_string_ostream os(text);
    StringAttr name = callee.getSymNameAttr();
    callee.setSymName("nest");
    callee->print(os, OpPrintingFlags().printGenericOpForm().useLocalScope());
    callee.setSymNameAttr(name);
    return text;
  }

  void outline(func::FuncOp parent, Operation *nest, SymbolTable &symbols,
               unsigned &counter) {
    Captures captures;
    if (failed(collectCaptures(nest, captures)))
      return;
    // Clone in program order: every op of `clones` is in the parent's body
    // block before the nest, so block order is program order.
    SmallVector<Operation *> clones(captures.clones.begin(),
                                    captures.clones.end());
    llvm::sort(clones, [](Operation *a, Operation *b) {
      return a->isBeforeInBlock(b);
    });

    // Arguments in a stable, readable order: the parent's arguments first,
    // then values in the order they are defined.
    SmallVector<Value> arguments(captures.arguments.begin(),
                                 captures.arguments.end());
    llvm::stable_sort(arguments, [](Value a, Value b) {
      auto argA = dyn_cast<BlockArgument>(a), argB = dyn_cast<BlockArgument>(b);
      if (argA || argB)
        return argA && (!argB || argA.getArgNumber() < argB.getArgNumber());
      return a.getDefiningOp()->isBeforeInBlock(b.getDefiningOp());
    });

    // The callees go before the parent, in nest order.
    OpBuilder builder(parent);
    SmallVector<Type> argTypes;
    for (Value value : arguments)
      argTypes.push_back(value.getType());
    auto type = builder.getFunctionType(argTypes, nest->getResultTypes());
    std::string name = (parent.getSymName() + "_nest" + Twine(counter++)).str();
    auto callee = func::FuncOp::create(builder, nest->getLoc(), name, type);
    callee.setPrivate();
    // Carried to llvm.func by convert-func-to-llvm.
    callee->setAttr("passthrough",
                    builder.getArrayAttr({builder.getStringAttr("noinline")}));

    // The buffers are distinct allocations or distinct entry-point
    // arguments (views are cloned, not passed), so they do not alias; saying
    // so spares LLVM's vectorizer its runtime overlap checks.
    for (auto [i, value] : llvm::enumerate(arguments))
      if (isa<MemRefType>(value.getType()))
        callee.setArgAttr(i, "llvm.noalias", builder.getUnitAttr());
    Block *body = callee.addEntryBlock();
    IRMapping mapping;
    for (auto [value, arg] : llvm::zip(arguments, body->getArguments()))
      mapping.map(value, arg);
    builder.setInsertionPointToStart(body);
    for (Operation *op : clones)
      builder.clone(*op, mapping);
    Operation *cloned = builder.clone(*nest, mapping);
    func::ReturnOp::create(builder, nest->getLoc(), cloned->getResults());
    auto [existing, fresh] = outlined.try_emplace(structure(callee), callee);
    if (fresh) {
      symbols.insert(callee);
    } else {
      callee.erase();
      callee = existing->second;
    }

    builder.setInsertionPoint(nest);
    auto call = func::CallOp::create(builder, nest->getLoc(), callee,
                                     arguments);
    nest->replaceAllUsesWith(call.getResults());
    nest->erase();
  }
};

} // namespace
