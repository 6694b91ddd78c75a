//===- TrainOps.cpp - train dialect operations ----------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Support/Nf4.h"

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
  if (failed(getInit().verifyFor(getTensorType(), [&] { return emitOpError(); })))
    return failure();
  std::optional<StringRef> storage = getStorage();
  if (!storage)
    return success();
  if (*storage != "nf4" && *storage != "nf4-dq" && *storage != "bf16")
    return emitOpError() << "storage must be \"nf4\", \"nf4-dq\" or \"bf16\", got \"" << *storage
                         << "\"";
  if (!getFrozen())
    return emitOpError() << "with storage \"" << *storage
                         << "\" must be frozen: it is only read";
  if (!getTensorType().getElementType().isF32())
    return emitOpError() << "with storage \"" << *storage << "\" must be f32, got "
                         << getTensorType();
  if (*storage != "bf16" && getTensorType().getNumElements() % 2 != 0)
    return emitOpError() << "with storage \"nf4\" needs an even number of elements "
                            "(two 4-bit codes a byte), got "
                         << getTensorType().getNumElements();
  return success();
}

static constexpr int64_t kNf4Block = ftc::nf4::kBlock;
static constexpr int64_t kNestedBlock = ftc::nf4::kNestedBlock;

SmallVector<RankedTensorType> ParamOp::getStoredTypes() {
  RankedTensorType type = getTensorType();
  std::optional<StringRef> storage = getStorage();
  if (!storage)
    return {type};
  Builder b(getContext());
  if (*storage == "bf16")
    return {RankedTensorType::get(type.getShape(), b.getBF16Type())};
  int64_t n = type.getNumElements(), blocks = (n + kNf4Block - 1) / kNf4Block;
  auto codes = RankedTensorType::get({n / 2}, b.getI8Type());
  if (*storage == "nf4")
    return {codes, RankedTensorType::get({blocks}, b.getF32Type())};
  // QLoRA's double quantization: the absmax scales as 8-bit codes of
  // bitsandbytes' dynamic map after subtracting their mean, with an f32
  // absmax per 256 of them.
  return {codes, RankedTensorType::get({blocks}, b.getI8Type()),
          RankedTensorType::get({(blocks + kNestedBlock - 1) / kNestedBlock}, b.getF32Type()),
          RankedTensorType::get({256}, b.getF32Type()),
          RankedTensorType::get({1}, b.getF32Type())};
}

ArrayRef<StringRef> ParamOp::getStoredSuffixes() {
  static const StringRef suffixes[] = {"", ".absmax", ".nested_absmax", ".nested_quant_map",
                                       ".nested_offset"};
  return ArrayRef(suffixes).take_front(getStoredTypes().size());
}

LogicalResult DequantizeOp::verify() {
  int64_t n = getType().getNumElements(), blocks = (n + kNf4Block - 1) / kNf4Block;
  auto stored = cast<RankedTensorType>(getStored().getType());
  SmallVector<RankedTensorType> scales;
  for (Value v : getScales())
    scales.push_back(cast<RankedTensorType>(v.getType()));
  if (scales.empty()) {
    if (!stored.getElementType().isBF16() || stored.getShape() != getType().getShape())
      return emitOpError() << "without scales reads a bf16 tensor of the result's shape, got "
                           << stored;
    return success();
  }
  if (!stored.getElementType().isInteger(8) || stored.getRank() != 1 ||
      stored.getNumElements() * 2 != n)
    return emitOpError() << "needs " << n / 2 << " bytes of 4-bit codes (1-d i8) for " << n
                         << " elements, got " << stored;
  auto is = [](RankedTensorType t, int64_t size, bool f32) {
    return t.getRank() == 1 && t.getNumElements() == size &&
           (f32 ? t.getElementType().isF32() : t.getElementType().isInteger(8));
  };
  if (scales.size() == 1) {
    if (!is(scales[0], blocks, true))
      return emitOpError() << "needs one f32 scale per " << kNf4Block << " elements (" << blocks
                           << "), got " << scales[0];
    return success();
  }
  if (scales.size() != 4 || !is(scales[0], blocks, false) ||
      !is(scales[1], (blocks + kNestedBlock - 1) / kNestedBlock, true) ||
      !is(scales[2], 256, true) || !is(scales[3], 1, true))
    return emitOpError() << "with double quantization needs the scales' " << blocks
                         << " 8-bit codes, their f32 absmax per " << kNestedBlock
                         << ", the 256-entry code map and the offset";
  return success();
}

/// Resolves `name` to a `train.param`, `train.slot` or `train.state` whose
/// type is `type`.
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
  else if (auto state = dyn_cast<StateOp>(symbol))
    declared = state.getType();
  else {
    InFlightDiagnostic diag = op->emitOpError()
                              << name << " is not a train.param, train.slot or train.state";
    diag.attachNote(symbol->getLoc()) << "symbol defined here";
    return diag;
  }
  if (declared != type) {
    InFlightDiagnostic diag = op->emitOpError()
                              << "type " << type << " does not match the type of "
                              << name << ", " << declared;
    diag.attachNote(symbol->getLoc()) << "declared here";
    return diag;
  }
  return success();
}

LogicalResult StateOp::verify() {
  Type element = cast<RankedTensorType>(getType()).getElementType();
  if (getInit().getType() != element)
    return emitOpError() << "init " << getInit() << " must be a " << element;
  StringRef role = getRole();
  if (role != "saved" && role != "setting" && role != "report")
    return emitOpError() << "role must be saved, setting or report, got '" << role << "'";
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
  Type lhs = getLhs().getType().getElementType(), rhs = getRhs().getType().getElementType(),
       result = getType().getElementType();
  if (lhs != rhs)
    return emitOpError() << "operands must have one element type, got " << lhs << " and "
                         << rhs;
  if (result != lhs && !((lhs.isBF16() || lhs.isF16()) && result.isF32()))
    return emitOpError() << "result element type " << result << " must be the operands' ("
                         << lhs << "), or f32 for 16-bit operands";
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

LogicalResult ClipGradNormOp::verify() {
  if (getGrads().empty())
    return emitOpError() << "needs at least one gradient";
  double maxNorm = getMaxNorm().convertToDouble();
  if (!(maxNorm > 0))
    return emitOpError() << "max_norm must be positive, got " << maxNorm;
  return success();
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

/// [N..., D] from indices [N...] and a [V, D] table (or its gradient).
static LogicalResult verifyRowsOf(Operation *op, ArrayRef<int64_t> table,
                                  ArrayRef<int64_t> indices, ArrayRef<int64_t> rows,
                                  StringRef tableName) {
  if (table.size() != 2)
    return op->emitOpError() << "the " << tableName << " must be [V, D], got "
                             << formatShape(table);
  Shape expected(indices);
  expected.push_back(table[1]);
  if (rows != ArrayRef<int64_t>(expected))
    return op->emitOpError() << "rows of shape " << formatShape(rows)
                             << " do not fit indices " << formatShape(indices)
                             << " and a " << tableName << " " << formatShape(table)
                             << ": expected " << formatShape(expected);
  return success();
}

LogicalResult EmbeddingOp::verify() {
  if (cast<RankedTensorType>(getTable().getType()).getElementType() !=
      cast<RankedTensorType>(getType()).getElementType())
    return emitOpError() << "result element type must be the table's";
  return verifyRowsOf(*this, shapeOf(getTable()), shapeOf(getIndices()),
                      shapeOf(getResult()), "table");
}

LogicalResult EmbeddingGradOp::verify() {
  if (cast<RankedTensorType>(getGrad().getType()).getElementType() !=
      cast<RankedTensorType>(getType()).getElementType())
    return emitOpError() << "result element type must be the gradient's";
  return verifyRowsOf(*this, shapeOf(getResult()), shapeOf(getIndices()),
                      shapeOf(getGrad()), "result");
}

/// weight (and bias) [D] for an input [..., D].
static LogicalResult verifyNormParams(Operation *op, ArrayRef<int64_t> input,
                                      ValueRange params, double eps) {
  if (input.empty())
    return op->emitOpError() << "the input must have rank 1 or more, normalized over the last";
  for (Value p : params)
    if (shapeOf(p) != ArrayRef<int64_t>{input.back()})
      return op->emitOpError() << "weight and bias must be [" << input.back()
                               << "], the input's last dimension, got "
                               << formatShape(shapeOf(p));
  if (!(eps > 0))
    return op->emitOpError() << "eps must be positive, got " << eps;
  return success();
}

LogicalResult LayerNormOp::verify() {
  if (getInput().getType() != getType())
    return emitOpError() << "the result type must be the input type " << getInput().getType();
  return verifyNormParams(*this, shapeOf(getInput()), {getWeight(), getBias()},
                          getEps().convertToDouble());
}

LogicalResult LayerNormGradOp::verify() {
  if (getInput().getType() != getType() || getGrad().getType() != getType())
    return emitOpError() << "the gradient, input and result types must be equal";
  return verifyNormParams(*this, shapeOf(getInput()), {getWeight()},
                          getEps().convertToDouble());
}

LogicalResult SoftmaxOp::verify() {
  if (shapeOf(getInput()).empty())
    return emitOpError() << "the input must have rank 1 or more, normalized over the last";
  return success();
}

LogicalResult LogSoftmaxOp::verify() {
  if (shapeOf(getInput()).empty())
    return emitOpError() << "the input must have rank 1 or more, normalized over the last";
  return success();
}

LogicalResult AttentionOp::verify() {
  auto emit = [&] { return emitOpError(); };
  return verifyResultShape(*this,
                           attentionShape(shapeOf(getQuery()), shapeOf(getKey()),
                                          shapeOf(getValue()), getCausal(), emit),
                           getType());
}

LogicalResult AttentionGradOp::verify() {
  auto emit = [&] { return emitOpError(); };
  if (failed(verifyResultShape(*this,
                               attentionShape(shapeOf(getQuery()), shapeOf(getKey()),
                                              shapeOf(getValue()), getCausal(), emit),
                               getGrad().getType())))
    return failure();
  for (auto [operand, result] : llvm::zip(ValueRange{getQuery(), getKey(), getValue()},
                                          getResults()))
    if (operand.getType() != result.getType())
      return emitOpError() << "each gradient has its operand's type, got "
                           << result.getType() << " for " << operand.getType();
  return success();
}

//===----------------------------------------------------------------------===//
// Fused attention (the CUDA target's form)
//===----------------------------------------------------------------------===//

/// Destination-style checks shared by both fused ops: all operands tensors
/// (one result per destination, of its type) or all buffers (no results).
static LogicalResult verifyDestinationStyle(Operation *op, unsigned numInits) {
  bool tensors = isa<RankedTensorType>(op->getOperand(0).getType());
  for (Value operand : op->getOperands())
    if (isa<RankedTensorType>(operand.getType()) != tensors ||
        !(isa<RankedTensorType>(operand.getType()) || isa<MemRefType>(operand.getType())))
      return op->emitOpError() << "expects ranked tensors or memrefs, all of one kind";
  if (!tensors)
    return op->getNumResults() == 0
               ? success()
               : op->emitOpError() << "on buffers has no results";
  if (op->getNumResults() != numInits)
    return op->emitOpError() << "on tensors has one result per destination (" << numInits
                             << ")";
  unsigned first = op->getNumOperands() - numInits;
  for (unsigned i = 0; i < numInits; ++i)
    if (op->getResult(i).getType() != op->getOperand(first + i).getType())
      return op->emitOpError() << "result " << i << " has the type of its destination";
  return success();
}

/// q, k, v (and the other [..., T, D] operands) of one 16-bit type with
/// equal leading dimensions; rows ([..., T]) f32 with q's leading shape.
static LogicalResult verifyAttentionOperands(Operation *op, ValueRange matrices,
                                             ValueRange rows) {
  auto shaped = [](Value v) { return cast<ShapedType>(v.getType()); };
  ShapedType query = shaped(matrices.front());
  if (!query.hasStaticShape() || !FusedAttentionOp::isKernelShape(query.getShape()))
    return op->emitOpError() << "expects static [..., T, D] operands, T and D multiples of "
                                "16, D at most 128";
  for (Value m : matrices) {
    ShapedType type = shaped(m);
    if (type.getElementType() != query.getElementType() ||
        !(type.getElementType().isBF16() || type.getElementType().isF16()))
      return op->emitOpError() << "expects bf16 or f16 operands of one type";
    if (type.getShape() != query.getShape())
      return op->emitOpError() << "expects q, k, v and their gradients of one shape";
  }
  for (Value r : rows) {
    ShapedType type = shaped(r);
    if (!type.getElementType().isF32() || type.getShape() != query.getShape().drop_back())
      return op->emitOpError() << "expects f32 rows of shape [..., T]";
  }
  return success();
}

static bool isAttentionKernelShape(ArrayRef<int64_t> shape) {
  if (shape.size() < 2 || ShapedType::isDynamicShape(shape))
    return false;
  int64_t rows = shape[shape.size() - 2], depth = shape.back();
  return rows % 16 == 0 && depth % 16 == 0 && depth <= 128;
}

bool FusedAttentionOp::isKernelShape(ArrayRef<int64_t> shape) {
  return isAttentionKernelShape(shape);
}

bool FusedAttentionGradOp::isKernelShape(ArrayRef<int64_t> shape) {
  return isAttentionKernelShape(shape);
}

static bool takesAttention(Value query, Value key, Value value, Value grad) {
  auto type = cast<RankedTensorType>(query.getType());
  if (key.getType() != type || value.getType() != type || (grad && grad.getType() != type))
    return false;
  Type elem = type.getElementType();
  return (elem.isBF16() || elem.isF16()) && isAttentionKernelShape(type.getShape());
}

bool FusedAttentionOp::takes(Value query, Value key, Value value, Value grad) {
  return takesAttention(query, key, value, grad);
}

bool FusedAttentionGradOp::takes(Value query, Value key, Value value, Value grad) {
  return takesAttention(query, key, value, grad);
}

MutableOperandRange FusedAttentionOp::getDpsInitsMutable() {
  return MutableOperandRange(getOperation(), 3, 2);
}

LogicalResult FusedAttentionOp::verify() {
  if (failed(verifyDestinationStyle(*this, 2)))
    return failure();
  return verifyAttentionOperands(*this, {getQuery(), getKey(), getValue(), getOut()},
                                 {getLse()});
}

MutableOperandRange FusedAttentionGradOp::getDpsInitsMutable() {
  return MutableOperandRange(getOperation(), 6, 3);
}

LogicalResult FusedAttentionGradOp::verify() {
  if (failed(verifyDestinationStyle(*this, 3)))
    return failure();
  return verifyAttentionOperands(
      *this, {getGrad(), getQuery(), getKey(), getValue(), getQueryGrad(), getKeyGrad(),
              getValueGrad()},
      {getLse(), getDelta()});
}

/// On buffers: the inputs read, the destinations written (whole); on
/// tensors, none.
static void getDestinationStyleEffects(
    DestinationStyleOpInterface op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    if (op.isDpsInit(&operand))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    else
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

void FusedAttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  getDestinationStyleEffects(*this, effects);
}

void FusedAttentionGradOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  getDestinationStyleEffects(*this, effects);
}

LogicalResult DropoutOp::verify() {
  double p = getP().convertToDouble();
  if (!(p >= 0.0 && p <= 1.0))
    return emitOpError() << "p must be in [0, 1], got " << p;
  if (getRng() && shapeOf(getRng()) != ArrayRef<int64_t>{3})
    return emitOpError() << "the RNG state must be tensor<3xi64> ([seed, step, training]), got "
                         << getRng().getType();
  return success();
}

LogicalResult CausalMaskOp::verify() {
  ArrayRef<int64_t> shape = shapeOf(getInput());
  if (shape.size() < 2 || shape[shape.size() - 1] != shape[shape.size() - 2])
    return emitOpError() << "the last two dimensions must be equal (T x T), got "
                         << formatShape(shape);
  return success();
}

/// `part` is `whole` with dimension `dim` cut to [start, start + part[dim]).
static LogicalResult verifySlice(Operation *op, ArrayRef<int64_t> whole,
                                 ArrayRef<int64_t> part, int64_t dim, int64_t start) {
  if (whole.size() != part.size())
    return op->emitOpError() << "input and result must have the same rank, got "
                             << formatShape(whole) << " and " << formatShape(part);
  if (dim < 0 || dim >= static_cast<int64_t>(whole.size()))
    return op->emitOpError() << "dim " << dim << " is out of range for rank " << whole.size();
  for (size_t d = 0; d < whole.size(); ++d)
    if (static_cast<int64_t>(d) != dim && whole[d] != part[d])
      return op->emitOpError() << "shapes " << formatShape(whole) << " and "
                               << formatShape(part) << " may differ in dimension "
                               << dim << " only";
  if (start < 0 || start + part[dim] > whole[dim])
    return op->emitOpError() << "elements [" << start << ", " << start + part[dim]
                             << ") of dimension " << dim << " are out of range [0, "
                             << whole[dim] << ")";
  return success();
}

LogicalResult SliceOp::verify() {
  return verifySlice(*this, shapeOf(getInput()), shapeOf(getResult()), getDim(),
                     getStart());
}

LogicalResult PadOp::verify() {
  return verifySlice(*this, shapeOf(getResult()), shapeOf(getInput()), getDim(),
                     getStart());
}

/// `pieces` joined along `dim` make `whole` (concat and split).
static LogicalResult verifyJoin(Operation *op, ValueRange pieces, Value whole,
                                int64_t dim, StringRef piecesName, StringRef wholeName) {
  ArrayRef<int64_t> out = shapeOf(whole);
  int64_t total = 0;
  if (dim < 0 || dim >= static_cast<int64_t>(out.size()))
    return op->emitOpError() << "dim " << dim << " is out of range for rank " << out.size();
  for (Value piece : pieces) {
    ArrayRef<int64_t> shape = shapeOf(piece);
    if (shape.size() != out.size())
      return op->emitOpError() << piecesName << " and " << wholeName
                               << " must have the same rank, got " << formatShape(shape)
                               << " and " << formatShape(out);
    for (size_t d = 0; d < out.size(); ++d)
      if (static_cast<int64_t>(d) != dim && shape[d] != out[d])
        return op->emitOpError() << piecesName.drop_back() << " " << formatShape(shape)
                                 << " and " << wholeName << " " << formatShape(out)
                                 << " may differ in dimension " << dim << " only";
    total += shape[dim];
  }
  if (total != out[dim])
    return op->emitOpError() << "the " << piecesName << "' sizes along dimension " << dim
                             << " add up to " << total << ", the " << wholeName << " has "
                             << out[dim];
  return success();
}

LogicalResult ConcatOp::verify() {
  return verifyJoin(*this, getInputs(), getResult(), getDim(), "inputs", "result");
}

LogicalResult SplitOp::verify() {
  if (getResults().empty())
    return emitOpError() << "needs at least one result";
  return verifyJoin(*this, getResults(), getInput(), getDim(), "results", "input");
}
