//===- Autodiff.cpp - reverse-mode differentiation of the loss ------------===//
//
// Derives `@<loss>_grad` from the loss function: the same forward pass, then
// the backward pass, returning the loss and the gradient of every trainable
// parameter that reaches it. The walk is a reverse pass over the (single)
// block, so depth costs no stack; each op's adjoints come from its
// ReverseModeOpInterface rule, and adjoints of values with several uses are
// summed.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/DebugLog.h"

#define DEBUG_TYPE "ftc-autodiff"

namespace ftc {
#define GEN_PASS_DEF_AUTODIFF
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

/// Values that depend on a trainable parameter (varied) and values the loss
/// depends on (useful); a gradient is built only where both hold.
struct Activity {
  llvm::DenseSet<Value> varied, useful;
  bool isActive(Value v) const { return varied.contains(v) && useful.contains(v); }
};

Activity analyzeActivity(Block &body, Value loss, SymbolTable &symbols) {
  Activity activity;
  for (Operation &op : body) {
    bool fromParam = false;
    if (auto read = dyn_cast<GetParamOp>(op)) {
      auto param = symbols.lookup<ParamOp>(read.getParam());
      fromParam = param && param.isTrainable();
    }
    // What flows through a stop_gradient is a constant to the gradient.
    bool fromOperand = !isa<StopGradientOp>(op) &&
                       llvm::any_of(op.getOperands(), [&](Value v) {
                         return activity.varied.contains(v);
                       });
    if (fromParam || fromOperand)
      for (Value r : op.getResults())
        if (isa<FloatType>(getElementTypeOrSelf(r.getType())))
          activity.varied.insert(r);
  }
  activity.useful.insert(loss);
  for (Operation &op : llvm::reverse(body))
    if (llvm::any_of(op.getResults(),
                     [&](Value r) { return activity.useful.contains(r); }))
      for (Value v : op.getOperands())
        activity.useful.insert(v);
  return activity;
}

// Tests only: a flag, not a pass option, so that pipelines do not print it.
llvm::cl::opt<std::string> testUndeclared(
    "ftc-autodiff-test-undeclared", llvm::cl::Hidden,
    llvm::cl::desc("Tests only: the op (train.exp) whose getSavedForBackward "
                   "ftc-autodiff takes as empty"));

struct AutodiffPass : public ftc::impl::AutodiffBase<AutodiffPass> {
  void runOnOperation() override;
  /// Fails at `rule`'s op when the ops its rule built (after `before`, up
  /// to `end`) read a forward value that the op does not declare saved.
  LogicalResult checkSaved(ReverseModeOpInterface rule, Operation *before, Operation *end,
                           const llvm::DenseSet<Value> &forwardValues);
  LogicalResult differentiate(func::FuncOp loss, SymbolTable &symbols);
};

void AutodiffPass::runOnOperation() {
  ModuleOp module = getOperation();
  FailureOr<func::FuncOp> loss = findLossFunction(module);
  SymbolTable symbols(module);
  if (failed(loss) || failed(differentiate(*loss, symbols)))
    signalPassFailure();
}

LogicalResult AutodiffPass::differentiate(func::FuncOp loss,
                                          SymbolTable &symbols) {
  if (!loss.getBody().hasOneBlock())
    return loss.emitError() << "ftc-autodiff needs a loss function with one "
                               "block; inline calls and lower control flow "
                               "first";
  // Every dropout draws its own mask: number them in program order, after
  // inlining, so each layer's copy of a block gets a stream of its own. The
  // gradient function is a clone and keeps the numbers.
  int64_t stream = 0;
  OpBuilder numbering(loss.getContext());
  loss.walk([&](DropoutOp dropout) {
    dropout.setStreamAttr(numbering.getI64IntegerAttr(stream++));
  });
  auto grad = cast<func::FuncOp>(loss->clone());
  grad.setSymName((loss.getSymName() + "_grad").str());
  grad->removeAttr(TrainDialect::getLossAttrName());
  grad->setAttr(TrainDialect::getGradientOfAttrName(),
                FlatSymbolRefAttr::get(loss.getSymNameAttr()));
  symbols.insert(grad, std::next(Block::iterator(loss)));

  Block &body = grad.getBody().front();
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  Value lossValue = ret.getOperand(0);
  Activity activity = analyzeActivity(body, lossValue, symbols);

  // The forward ops, before the backward pass is appended after them, and
  // the values they (and the arguments) define.
  SmallVector<Operation *> forward;
  llvm::DenseSet<Value> forwardValues(body.getArguments().begin(),
                                      body.getArguments().end());
  for (Operation &op : body.without_terminator()) {
    forward.push_back(&op);
    forwardValues.insert(op.getResults().begin(), op.getResults().end());
  }

  OpBuilder b(ret);
  llvm::DenseMap<Value, Value> adjoints;
  auto accumulate = [&](Value v, Value adjoint, Location loc) {
    Value &slot = adjoints[v];
    slot = slot ? AddOp::create(b, loc, slot, adjoint).getResult() : adjoint;
  };
  // d loss / d loss = 1
  // (marked: ftc-loss-scale seeds with the loss scale instead)
  auto seed = FillOp::create(b, grad.getLoc(), lossValue.getType(), b.getF64FloatAttr(1.0));
  seed->setAttr(TrainDialect::getLossSeedAttrName(), b.getUnitAttr());
  adjoints[lossValue] = seed;

  llvm::MapVector<StringAttr, Value> paramGrads;
  for (Operation *op : llvm::reverse(forward)) {
    SmallVector<Value> resultAdjoints;
    for (Value r : op->getResults())
      resultAdjoints.push_back(adjoints.lookup(r));
    if (llvm::all_of(resultAdjoints, [](Value v) { return !v; }))
      continue;

    if (auto read = dyn_cast<GetParamOp>(op)) {
      // A parameter read several times gets the sum of its adjoints.
      Value &slot = paramGrads[read.getParamAttr().getAttr()];
      slot = slot ? AddOp::create(b, op->getLoc(), slot, resultAdjoints[0])
                        .getResult()
                  : resultAdjoints[0];
      continue;
    }

    SmallVector<bool> needed;
    for (Value v : op->getOperands())
      needed.push_back(activity.isActive(v));
    if (llvm::none_of(needed, [](bool n) { return n; }))
      continue;

    auto rule = dyn_cast<ReverseModeOpInterface>(op);
    if (!rule)
      return op->emitError()
             << "'" << op->getName()
             << "' has no derivative rule, and it lies between a trainable "
                "parameter and the loss";
    for (auto [r, adjoint] : llvm::zip(op->getResults(), resultAdjoints))
      if (!adjoint)
        adjoint = FillOp::create(b, op->getLoc(), r.getType(),
                                 b.getF64FloatAttr(0.0));
    LDBG() << "differentiating " << op->getName();
    SmallVector<Value> operandAdjoints(op->getNumOperands());
    Operation *before = ret->getPrevNode();
    if (failed(rule.buildAdjoints(b, resultAdjoints, needed, operandAdjoints)) ||
        failed(checkSaved(rule, before, ret, forwardValues)))
      return failure();
    for (auto [operand, adjoint] :
         llvm::zip(op->getOperands(), operandAdjoints))
      if (adjoint)
        accumulate(operand, adjoint, op->getLoc());
  }

  // Gradients in the order the parameters are declared; a trainable
  // parameter that does not reach the loss gets none (and no update).
  SmallVector<Value> results{lossValue};
  SmallVector<Attribute> names;
  for (auto param : symbols.getOp()->getRegion(0).getOps<ParamOp>()) {
    Value g = paramGrads.lookup(param.getSymNameAttr());
    if (!g)
      continue;
    results.push_back(g);
    names.push_back(FlatSymbolRefAttr::get(param.getSymNameAttr()));
  }
  ret->setOperands(results);
  grad.setFunctionType(b.getFunctionType(
      grad.getArgumentTypes(), ValueRange(results).getTypes()));
  grad.setAllResultAttrs(ArrayRef<DictionaryAttr>{}); // the outputs are gone
  grad->setAttr(TrainDialect::getGradParamsAttrName(), b.getArrayAttr(names));
  return success();
}

LogicalResult AutodiffPass::checkSaved(ReverseModeOpInterface rule, Operation *before,
                                       Operation *end,
                                       const llvm::DenseSet<Value> &forwardValues) {
  SmallVector<Value> declared;
  if (rule->getName().getStringRef() != testUndeclared)
    declared = rule.getSavedForBackward();
  for (Operation *op = before->getNextNode(); op && op != end; op = op->getNextNode())
    for (Value v : op->getOperands()) {
      if (!forwardValues.contains(v) || llvm::is_contained(declared, v))
        continue;
      InFlightDiagnostic diag = rule->emitError()
                                << "the derivative rule of '" << rule->getName()
                                << "' reads a forward value that its getSavedForBackward "
                                   "does not declare";
      if (auto result = dyn_cast<OpResult>(v))
        diag.attachNote(result.getOwner()->getLoc())
            << "result #" << result.getResultNumber() << " of '"
            << result.getOwner()->getName() << "'";
      else
        diag.attachNote(v.getLoc()) << "an argument of the function";
      return diag;
    }
  return success();
}

} // namespace
