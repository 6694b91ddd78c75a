//===- TrainOps.cpp - train dialect operations ----------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace ftc::train;

#include "ftc/Dialect/Train/IR/TrainInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "ftc/Dialect/Train/IR/TrainOps.cpp.inc"

/// Compares a declared result shape with the one the op's shape rule gives.
static LogicalResult verifyResultShape(Operation *op, FailureOr<Shape> expected,
                                       Type result) {
  if (failed(expected))
    return failure(); // The rule has already reported why.
  ArrayRef<int64_t> actual = cast<RankedTensorType>(result).getShape();
  if (actual != ArrayRef<int64_t>(*expected))
    return op->emitOpError() << "result shape " << formatShape(actual)
                             << " does not match the expected shape "
                             << formatShape(*expected);
  return success();
}

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  return getInit().verifyFor(getTensorType(), [&] { return emitOpError(); });
}

/// Resolves `name` to a `train.param` or `train.slot` whose type is `type`.
static LogicalResult verifyVariableUse(Operation *op, FlatSymbolRefAttr name,
                                       Type type,
                                       SymbolTableCollection &symbolTable) {
  Operation *symbol = symbolTable.lookupNearestSymbolFrom(op, name);
  if (!symbol)
    return op->emitOpError() << "references undefined parameter " << name;
  Type declared;
  if (auto param = dyn_cast<ParamOp>(symbol))
    declared = param.getType();
  else if (auto slot = dyn_cast<SlotOp>(symbol))
    declared = slot.getType();
  else {
    InFlightDiagnostic diag = op->emitOpError()
                              << name << " is not a train.param or train.slot";
    diag.attachNote(symbol->getLoc()) << "symbol defined here";
    return diag;
  }
  if (declared != type) {
    InFlightDiagnostic diag = op->emitOpError()
                              << "type " << type << " does not match the type of "
                              << name << ", " << declared;
    diag.attachNote(symbol->getLoc()) << "parameter declared here";
    return diag;
  }
  return success();
}

LogicalResult GetParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyVariableUse(*this, getParamAttr(), getType(), symbolTable);
}

LogicalResult SetParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  return verifyVariableUse(*this, getParamAttr(), getValue().getType(),
                           symbolTable);
}

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Shape rules
//===----------------------------------------------------------------------===//

template <typename BinaryOp> static LogicalResult verifyBinary(BinaryOp op) {
  auto emit = [&] { return op.emitOpError(); };
  return verifyResultShape(
      op, broadcastShapes(shapeOf(op.getLhs()), shapeOf(op.getRhs()), emit),
      op.getType());
}

LogicalResult AddOp::verify() { return verifyBinary(*this); }
LogicalResult SubOp::verify() { return verifyBinary(*this); }
LogicalResult MulOp::verify() { return verifyBinary(*this); }
LogicalResult DivOp::verify() { return verifyBinary(*this); }

template <typename ReduceOp> static LogicalResult verifyReduce(ReduceOp op) {
  auto emit = [&] { return op.emitOpError(); };
  return verifyResultShape(op,
                           reduceShape(shapeOf(op.getInput()), op.getDims(),
                                       op.getKeepdim(), emit),
                           op.getType());
}

LogicalResult SumOp::verify() { return verifyReduce(*this); }
LogicalResult MeanOp::verify() { return verifyReduce(*this); }
LogicalResult MaxOp::verify() { return verifyReduce(*this); }

LogicalResult ReshapeOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType());
  auto out = cast<RankedTensorType>(getType());
  if (in.getNumElements() != out.getNumElements())
    return emitOpError() << "cannot reshape " << formatShape(in.getShape())
                         << " (" << in.getNumElements() << " elements) into "
                         << formatShape(out.getShape()) << " ("
                         << out.getNumElements() << " elements)";
  return success();
}

LogicalResult TransposeOp::verify() {
  auto emit = [&] { return emitOpError(); };
  return verifyResultShape(
      *this, transposeShape(shapeOf(getInput()), getPermutation(), emit),
      getType());
}

LogicalResult MatmulOp::verify() {
  auto emit = [&] { return emitOpError(); };
  return verifyResultShape(*this,
                           matmulShape(shapeOf(getLhs()), shapeOf(getRhs()),
                                       getTransposeLhs(), getTransposeRhs(),
                                       emit),
                           getType());
}

LogicalResult LinearOp::verify() {
  auto emit = [&] { return emitOpError(); };
  std::optional<ArrayRef<int64_t>> bias;
  if (getBias())
    bias = shapeOf(getBias());
  return verifyResultShape(
      *this, linearShape(shapeOf(getInput()), shapeOf(getWeight()), bias, emit),
      getType());
}

LogicalResult CrossEntropyOp::verify() {
  auto emit = [&] { return emitOpError(); };
  if (failed(verifyCrossEntropyShapes(shapeOf(getLogits()),
                                      shapeOf(getLabels()), emit)))
    return failure();
  Type logitsElement = cast<RankedTensorType>(getLogits().getType()).getElementType();
  Type resultElement = cast<RankedTensorType>(getType()).getElementType();
  if (logitsElement != resultElement)
    return emitOpError() << "result element type " << resultElement
                         << " must match the logits element type "
                         << logitsElement;
  return success();
}

//===----------------------------------------------------------------------===//
// Backward helpers and optimizer updates
//===----------------------------------------------------------------------===//

/// `small` broadcasts to exactly `large`.
static LogicalResult verifyBroadcastsTo(Operation *op, ArrayRef<int64_t> small,
                                        ArrayRef<int64_t> large) {
  FailureOr<Shape> shape = broadcastShapes(small, large);
  if (failed(shape) || ArrayRef<int64_t>(*shape) != large)
    return op->emitOpError() << "shape " << formatShape(small)
                             << " does not broadcast to " << formatShape(large);
  return success();
}

LogicalResult BroadcastOp::verify() {
  return verifyBroadcastsTo(*this, shapeOf(getInput()), shapeOf(getResult()));
}

LogicalResult SumToOp::verify() {
  return verifyBroadcastsTo(*this, shapeOf(getResult()), shapeOf(getInput()));
}

LogicalResult EqualOp::verify() {
  auto emit = [&] { return emitOpError(); };
  return verifyResultShape(
      *this, broadcastShapes(shapeOf(getLhs()), shapeOf(getRhs()), emit),
      getType());
}

LogicalResult CrossEntropyGradOp::verify() {
  auto emit = [&] { return emitOpError(); };
  if (failed(verifyCrossEntropyShapes(shapeOf(getLogits()),
                                      shapeOf(getLabels()), emit)))
    return failure();
  if (getLogits().getType() != getType())
    return emitOpError() << "result type " << getType()
                         << " must be the logits type " << getLogits().getType();
  return success();
}

LogicalResult SGDUpdateOp::verify() {
  Type type = getParam().getType();
  bool momentum = !getConfig().getMomentum().isZero();
  if (momentum != static_cast<bool>(getMomentumBuffer()) ||
      momentum != static_cast<bool>(getNewMomentumBuffer()))
    return emitOpError() << "takes and returns a momentum buffer exactly when "
                            "the momentum is non-zero";
  if (getGrad().getType() != type || getNewParam().getType() != type ||
      (momentum && (getMomentumBuffer().getType() != type ||
                    getNewMomentumBuffer().getType() != type)))
    return emitOpError() << "parameter, gradient and momentum buffer must all "
                            "have the type "
                         << type;
  return success();
}
