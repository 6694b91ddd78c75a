//===- TrainOps.cpp - train dialect operations ----------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace ftc::train;

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

LogicalResult GetParamOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  Operation *symbol = symbolTable.lookupNearestSymbolFrom(*this, getParamAttr());
  if (!symbol)
    return emitOpError() << "references undefined parameter " << getParamAttr();
  auto param = dyn_cast<ParamOp>(symbol);
  if (!param) {
    InFlightDiagnostic diag = emitOpError()
                              << getParamAttr() << " is not a train.param";
    diag.attachNote(symbol->getLoc()) << "symbol defined here";
    return diag;
  }
  if (param.getType() != getType()) {
    InFlightDiagnostic diag = emitOpError()
                              << "result type " << getType()
                              << " does not match the type of " << getParamAttr()
                              << ", " << param.getType();
    diag.attachNote(param.getLoc()) << "parameter declared here";
    return diag;
  }
  return success();
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
