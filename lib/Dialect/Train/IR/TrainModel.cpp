//===- TrainModel.cpp - queries about a whole model -----------------------===//

#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "mlir/IR/SymbolTable.h"

using namespace mlir;

namespace ftc::train {

FailureOr<func::FuncOp> findLossFunction(ModuleOp module) {
  func::FuncOp loss;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (!func->hasAttr(TrainDialect::getLossAttrName()))
      continue;
    if (loss) {
      InFlightDiagnostic diag =
          func.emitError() << "the model has more than one loss function";
      diag.attachNote(loss.getLoc()) << "the first loss function is here";
      return failure();
    }
    loss = func;
  }
  if (!loss)
    return module.emitError() << "the model has no loss function: mark the "
                                 "func.func that returns the loss with "
                                 "{train.loss}";
  return loss;
}

func::FuncOp findMarkedFunction(ModuleOp module, StringRef name) {
  for (auto func : module.getOps<func::FuncOp>())
    if (func->hasAttr(name))
      return func;
  return {};
}

} // namespace ftc::train

double ftc::train::productFlops(Operation *op) {
  auto elements = [](Value v) {
    return static_cast<double>(cast<RankedTensorType>(v.getType()).getNumElements());
  };
  if (auto linear = dyn_cast<LinearOp>(op)) {
    auto x = cast<RankedTensorType>(linear.getInput().getType());
    return 2 * elements(linear.getResult()) * static_cast<double>(x.getShape().back());
  }
  if (auto matmul = dyn_cast<MatmulOp>(op)) {
    auto lhs = cast<RankedTensorType>(matmul.getLhs().getType());
    int64_t k = lhs.getDimSize(lhs.getRank() - (matmul.getTransposeLhs() ? 2 : 1));
    return 2 * elements(matmul.getResult()) * static_cast<double>(k);
  }
  return 0;
}

namespace {
using namespace ftc::train;

int64_t tensorBytes(Type type) {
  auto tensor = cast<RankedTensorType>(type);
  return tensor.getNumElements() * static_cast<int64_t>(tensor.getElementTypeBitWidth() / 8);
}

/// A parameter's copy in another type: a cast of its read.
bool isWeightCopy(Value v) {
  auto cast = v.getDefiningOp<CastOp>();
  return cast && cast.getInput().getDefiningOp<GetParamOp>();
}

/// The saved tensors of the gradient function `grad`: the backward starts
/// at its seed (train.loss_seed, which ftc-loss-scale moves to the read of
/// the scale).
void summarizeSaved(func::FuncOp grad, StepSummary &summary) {
  Block &body = grad.getBody().front();
  Operation *seed = nullptr;
  for (Operation &op : body)
    if (op.hasAttr(TrainDialect::getLossSeedAttrName())) {
      seed = &op;
      break;
    }
  if (!seed)
    return;
  for (Operation &op : body) {
    if (&op == seed)
      break;
    for (Value v : op.getResults()) {
      if (!isa<RankedTensorType>(v.getType()) || v.getDefiningOp<GetParamOp>())
        continue;
      bool copy = isWeightCopy(v);
      if (copy)
        summary.weightCopyBytes += tensorBytes(v.getType());
      bool saved = llvm::any_of(v.getUsers(), [&](Operation *user) {
        return user->getBlock() == &body && seed->isBeforeInBlock(user);
      });
      if (saved)
        (copy ? summary.savedWeightCopyBytes : summary.savedActivationBytes) +=
            tensorBytes(v.getType());
    }
  }
}

} // namespace

ftc::train::StepSummary ftc::train::summarizeStep(ModuleOp module) {
  StepSummary summary;
  for (Operation &op : module.getBody()->getOperations()) {
    if (auto param = dyn_cast<ParamOp>(op)) {
      int64_t n = param.getTensorType().getNumElements();
      summary.parameters += n;
      summary.parameterBytes += tensorBytes(param.getTensorType());
      for (RankedTensorType stored : param.getStoredTypes())
        summary.storedBytes += tensorBytes(stored);
      if (param.isTrainable()) {
        summary.trainable += n;
        summary.trainableBytes += tensorBytes(param.getTensorType());
      }
    } else if (auto slot = dyn_cast<SlotOp>(op)) {
      summary.slotBytes += tensorBytes(slot.getType());
    }
  }
  auto count = [](func::FuncOp func, int sign, StepSummary &into) {
    if (!func)
      return;
    func.walk([&](Operation *op) {
      if (isa<LinearOp, MatmulOp>(op)) {
        into.backwardProducts += sign;
        into.backwardFlops += sign * productFlops(op);
      }
    });
  };
  FailureOr<func::FuncOp> loss = findLossFunction(module);
  func::FuncOp grad = findMarkedFunction(module, TrainDialect::getGradientOfAttrName());
  if (succeeded(loss) && grad) {
    count(grad, 1, summary);
    count(*loss, -1, summary);
  }
  if (grad)
    summarizeSaved(grad, summary);
  if (succeeded(loss)) {
    SymbolTable symbols(module);
    loss->walk([&](Operation *op) {
      if (!isa<LinearOp, MatmulOp>(op))
        return;
      bool readsFrozen = llvm::any_of(op->getOperands(), [&](Value v) {
        auto read = v.getDefiningOp<GetParamOp>();
        auto param = read ? symbols.lookup<ParamOp>(read.getParam()) : ParamOp();
        return param && !param.isTrainable();
      });
      if (readsFrozen) {
        ++summary.frozenProducts;
        summary.frozenFlops += productFlops(op);
      }
    });
  }
  return summary;
}
