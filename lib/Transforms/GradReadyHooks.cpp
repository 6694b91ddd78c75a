//===- GradReadyHooks.cpp - Calls the runtime as each gradient is final ---===//
//
// Data parallelism sums the gradients over the ranks before the update. To
// overlap those sums with the backward, the runtime must know when each
// gradient buffer holds its final value: after the last op of the
// accumulate entry that touches it. On buffers (after bufferization) that
// is a question about the ops' operands, answered here once, at compile
// time; the order of the answers is the order the runtime lays the
// gradients out in (see lib/Runtime/Comm.h). Upstream has no such pass:
// its liveness analyses answer it for allocations, not for function
// arguments that outlive the function.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SetVector.h"

namespace ftc {
#define GEN_PASS_DEF_GRADREADYHOOKS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

constexpr StringLiteral kHook = "ftcrt_grad_ready";

/// `buffer` and every view of it, transitively.
llvm::SetVector<Value> aliasesOf(Value buffer) {
  llvm::SetVector<Value> aliases;
  aliases.insert(buffer);
  for (unsigned i = 0; i < aliases.size(); ++i)
    for (Operation *user : aliases[i].getUsers()) {
      auto view = dyn_cast<ViewLikeOpInterface>(user);
      bool isView = view && view.getViewSource() == aliases[i];
      if (isView || isa<memref::CastOp>(user))
        for (Value result : user->getResults())
          if (isa<BaseMemRefType>(result.getType()))
            aliases.insert(result);
    }
  return aliases;
}

struct GradReadyHooksPass : public ftc::impl::GradReadyHooksBase<GradReadyHooksPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp accumulate;
    for (auto func : module.getOps<func::FuncOp>())
      if (auto entry = func->getAttrOfType<StringAttr>("ftc.entry"))
        if (entry.getValue() == "accumulate" && !func.isExternal())
          accumulate = func;
    if (!accumulate)
      return;
    auto abi = module->getAttrOfType<ArrayAttr>("ftc.abi");
    auto indices = accumulate->getAttrOfType<DenseI64ArrayAttr>("ftc.abi_indices");
    if (!abi || !indices ||
        static_cast<int64_t>(indices.size()) != accumulate.getNumArguments()) {
      accumulate.emitError() << "an entry point without its buffer layout (ftc.abi, "
                                "ftc.abi_indices): run ftc-bind-abi first";
      return signalPassFailure();
    }
    if (!accumulate.getBody().hasOneBlock()) {
      accumulate.emitError() << "expected the accumulate entry in one block (buffers, "
                                "before the lowering to branches)";
      return signalPassFailure();
    }
    Block &body = accumulate.getBody().front();
    DenseMap<Operation *, unsigned> position;
    for (auto [i, op] : llvm::enumerate(body))
      position[&op] = static_cast<unsigned>(i);

    // Each gradient argument with the last top-level op that touches it
    // (null: none does, final from the start).
    struct Ready {
      Operation *last;
      int64_t index;
    };
    SmallVector<Ready> ready;
    for (auto [arg, index] : llvm::zip(accumulate.getArguments(), indices.asArrayRef())) {
      auto entry = dyn_cast<DictionaryAttr>(abi[index]);
      auto kind = entry ? entry.getAs<StringAttr>("kind") : StringAttr();
      if (!kind || kind.getValue() != "grad")
        continue;
      llvm::SetVector<Value> aliases = aliasesOf(arg);
      Operation *last = nullptr;
      for (Value alias : aliases)
        for (Operation *user : alias.getUsers()) {
          Operation *top = body.findAncestorOpInBlock(*user);
          if (top && !top->hasTrait<OpTrait::IsTerminator>() &&
              (!last || position[top] > position[last]))
            last = top;
        }
      ready.push_back({last, index});
    }
    llvm::stable_sort(ready, [&](const Ready &a, const Ready &b) {
      auto at = [&](const Ready &r) { return r.last ? position[r.last] + 1 : 0u; };
      return at(a) < at(b);
    });

    OpBuilder b(module.getContext());
    Location loc = accumulate.getLoc();
    auto hookType = b.getFunctionType({b.getI32Type()}, {});
    auto hook = module.lookupSymbol<func::FuncOp>(kHook);
    if (!hook) {
      b.setInsertionPointToStart(module.getBody());
      hook = func::FuncOp::create(b, loc, kHook, hookType);
      hook.setPrivate();
    } else if (hook.getFunctionType() != hookType) {
      hook.emitError() << "'" << kHook << "' is the runtime's: (i32) -> ()";
      return signalPassFailure();
    }
    SmallVector<int64_t> order;
    for (const Ready &r : llvm::reverse(ready)) { // each inserted right after its op
      if (r.last)
        b.setInsertionPointAfter(r.last);
      else
        b.setInsertionPointToStart(&body);
      Value index = arith::ConstantIntOp::create(b, loc, r.index, 32);
      func::CallOp::create(b, loc, hook, ValueRange{index});
    }
    for (const Ready &r : ready)
      order.push_back(r.index);
    module->setAttr("ftc.grad_ready", b.getDenseI64ArrayAttr(order));
  }
};

} // namespace
