//===- CheckNumerics.cpp - the first op that made an inf or a NaN ---------===//
//
// `ftc --check-numerics`: every op of the forward and the backward that
// computes a float tensor is followed by a check (train.note_nonfinite),
// chained so that the chain's value is the number of the first check that
// saw an infinity or a NaN, in program order, or 0. The step writes it to
// the state `numerics.first` and applies its updates (and advances its
// counter) only where it is 0; the runtime turns a non-zero value into an
// error naming the op and its place in the model file, from the table the
// pass leaves in `ftc.numerics`. A debugging mode: one reduction per op.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace ftc {
#define GEN_PASS_DEF_CHECKNUMERICS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

constexpr llvm::StringLiteral kFirstName = "numerics.first";

/// "model.mlir:12:5" for the place an op was written: the innermost file
/// location (an inlined block's op: where the block's function has it,
/// "called from" where the model calls it).
std::string describeLocation(Location loc) {
  if (auto file = dyn_cast<FileLineColLoc>(loc))
    return (file.getFilename().getValue() + ":" + Twine(file.getLine()) + ":" +
            Twine(file.getColumn()))
        .str();
  if (auto call = dyn_cast<CallSiteLoc>(loc)) {
    std::string callee = describeLocation(call.getCallee());
    std::string caller = describeLocation(call.getCaller());
    return caller.empty() ? callee : callee + " (called from " + caller + ")";
  }
  if (auto name = dyn_cast<NameLoc>(loc))
    return describeLocation(name.getChildLoc());
  if (auto fused = dyn_cast<FusedLoc>(loc))
    for (Location inner : fused.getLocations())
      if (std::string text = describeLocation(inner); !text.empty())
        return text;
  return "";
}

/// Ops whose results are not new numbers: reads of the state, views and
/// moves of values already checked.
bool isChecked(Operation *op) {
  return !isa<GetParamOp, RematBarrierOp, ReshapeOp, TransposeOp, SplitOp, SliceOp,
              ConcatOp, BroadcastOp, StopGradientOp, ConstantOp, FillOp, NoteNonFiniteOp>(op);
}

struct CheckNumericsPass : public ftc::impl::CheckNumericsBase<CheckNumericsPass> {
  /// Checks in `func` up to its first optimizer op; returns the chain's
  /// last value and that op (or the terminator).
  std::pair<Value, Operation *> instrument(func::FuncOp func, SmallVector<Attribute> &table);
  void runOnOperation() override;
};

std::pair<Value, Operation *> CheckNumericsPass::instrument(func::FuncOp func,
                                                            SmallVector<Attribute> &table) {
  Block &body = func.getBody().front();
  OpBuilder b(&body, body.begin());
  auto i64 = RankedTensorType::get({}, b.getI64Type());
  Value first = arith::ConstantOp::create(
      b, func.getLoc(), DenseElementsAttr::get(i64, b.getI64IntegerAttr(0).getValue()));
  Operation *end = body.getTerminator();
  SmallVector<Operation *> ops;
  for (Operation &op : body) {
    if (isa<AdamWUpdateOp, SGDUpdateOp, AdvanceStepOp, AllFiniteOp, ClipGradNormOp, SetParamOp>(op) ||
        op.hasTrait<OpTrait::IsTerminator>()) {
      end = &op;
      break;
    }
    ops.push_back(&op);
  }
  bool backward = false;
  for (Operation *op : ops) {
    backward = backward || op->hasAttr(TrainDialect::getLossSeedAttrName());
    if (op->getDialect() != op->getContext()->getLoadedDialect<TrainDialect>() ||
        !isChecked(op))
      continue;
    b.setInsertionPointAfter(op);
    for (Value result : op->getResults()) {
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (!type || !isa<FloatType>(type.getElementType()))
        continue;
      std::string where = describeLocation(op->getLoc());
      table.push_back(b.getStringAttr(
          op->getName().getStringRef() + (backward ? " in the backward" : " in the forward") +
          (where.empty() ? std::string() : (backward ? " (of the op at " : " at ") + where +
                                                (backward ? ")" : ""))));
      first = NoteNonFiniteOp::create(b, op->getLoc(), i64, first, result,
                                      b.getI64IntegerAttr(static_cast<int64_t>(table.size())));
    }
  }
  b.setInsertionPoint(end);
  SetParamOp::create(b, func.getLoc(), kFirstName, first);
  return {first, end};
}

void CheckNumericsPass::runOnOperation() {
  ModuleOp module = getOperation();
  func::FuncOp grad = findMarkedFunction(module, TrainDialect::getGradientOfAttrName());
  if (!grad) {
    module.emitError() << "ftc-check-numerics needs the gradient function; run ftc-autodiff "
                          "first";
    return signalPassFailure();
  }
  if (module->hasAttr(TrainDialect::getLossScaleAttrName())) {
    module.emitError() << "--check-numerics does not go with dynamic loss scaling, whose "
                          "steps meet infinities by design (compile with --loss-scale=none)";
    return signalPassFailure();
  }
  if (module.lookupSymbol(kFirstName)) {
    module.emitError() << "the step already checks its numerics (@" << kFirstName << ")";
    return signalPassFailure();
  }
  OpBuilder b(module.getContext());
  SymbolTable symbols(module);
  Operation *counter = symbols.lookup(kStepCounterName);
  b.setInsertionPointAfter(counter ? counter : grad.getOperation());
  StateOp::create(b, module.getLoc(), b.getStringAttr(kFirstName),
                  TypeAttr::get(RankedTensorType::get({}, b.getI64Type())),
                  b.getI64IntegerAttr(0));

  // The gradient function, the step, then accumulate and apply (whose
  // checks are those of the gradient function and the step again).
  SmallVector<Attribute> table;
  instrument(grad, table);
  for (StringRef marker : {TrainDialect::getStepAttrName(), TrainDialect::getAccumulateAttrName(),
                           TrainDialect::getApplyAttrName()}) {
    func::FuncOp step = findMarkedFunction(module, marker);
    if (!step)
      continue;
    auto [first, end] = instrument(step, table);
    if (marker == TrainDialect::getAccumulateAttrName())
      continue; // no update to hold back
    // The updates and the counter only where nothing was noted.
    b.setInsertionPoint(end);
    Value ok = NothingNotedOp::create(b, step.getLoc(), first);
    WalkResult walk = step.walk([&](Operation *op) {
      if (auto adamw = dyn_cast<AdamWUpdateOp>(op)) {
        if (adamw.getCondition())
          return WalkResult::interrupt();
        adamw.getConditionMutable().assign(ok);
      } else if (auto sgd = dyn_cast<SGDUpdateOp>(op)) {
        if (sgd.getCondition())
          return WalkResult::interrupt();
        sgd.getConditionMutable().assign(ok);
      } else if (auto advance = dyn_cast<AdvanceStepOp>(op)) {
        if (advance.getCondition())
          return WalkResult::interrupt();
        advance.getConditionMutable().assign(ok);
      }
      return WalkResult::advance();
    });
    if (walk.wasInterrupted()) {
      step.emitError() << "ftc-check-numerics: the step's updates are already conditional";
      return signalPassFailure();
    }
  }
  module->setAttr("ftc.numerics", b.getArrayAttr(table));
}

} // namespace
