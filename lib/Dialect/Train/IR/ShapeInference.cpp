//===- ShapeInference.cpp - shape rules of the train ops ------------------===//

#include "ftc/Dialect/Train/IR/ShapeInference.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"

#include <cassert>

using namespace mlir;

namespace ftc::train {

std::string formatShape(ArrayRef<int64_t> shape) {
  return "[" + llvm::join(llvm::map_range(shape, [](int64_t d) {
                            return std::to_string(d);
                          }),
                          ", ") +
         "]";
}

namespace {
/// Collects a message and reports it only when the caller asked for one.
class Reporter {
public:
  explicit Reporter(EmitErrorFn emitError) : emitError(emitError) {}
  template <typename... Args> LogicalResult fail(Args &&...args) {
    if (emitError) {
      InFlightDiagnostic diag = emitError();
      (diag << ... << std::forward<Args>(args));
    }
    return failure();
  }

private:
  EmitErrorFn emitError;
};
} // namespace

FailureOr<Shape> broadcastShapes(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                                 EmitErrorFn emitError) {
  size_t rank = std::max(lhs.size(), rhs.size());
  Shape result(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    // Align from the right; a missing leading dimension counts as 1.
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return Reporter(emitError).fail(
          "operand shapes ", formatShape(lhs), " and ", formatShape(rhs),
          " do not broadcast: sizes ", l, " and ", r, " meet at result dimension ",
          rank - 1 - i, "; expected equal sizes or a size of 1");
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return result;
}

FailureOr<Shape> reduceShape(ArrayRef<int64_t> shape, ArrayRef<int64_t> dims,
                             bool keepdim, EmitErrorFn emitError) {
  Reporter report(emitError);
  if (dims.empty())
    return report.fail("dims must list at least one dimension to reduce");
  for (auto [i, d] : llvm::enumerate(dims)) {
    if (d < 0 || d >= static_cast<int64_t>(shape.size()))
      return report.fail("dimension ", d, " is out of range for an input of rank ",
                         shape.size(), "; expected 0 to ",
                         static_cast<int64_t>(shape.size()) - 1);
    if (i > 0 && dims[i - 1] >= d)
      return report.fail("dims must be strictly increasing, got ",
                         formatShape(dims));
  }
  Shape result;
  for (auto [i, size] : llvm::enumerate(shape)) {
    if (!llvm::is_contained(dims, static_cast<int64_t>(i)))
      result.push_back(size);
    else if (keepdim)
      result.push_back(1);
  }
  return result;
}

FailureOr<Shape> transposeShape(ArrayRef<int64_t> shape,
                                ArrayRef<int64_t> permutation,
                                EmitErrorFn emitError) {
  Reporter report(emitError);
  if (permutation.size() != shape.size())
    return report.fail("permutation has ", permutation.size(),
                       " entries; expected ", shape.size(), " (the input rank)");
  llvm::SmallVector<bool> seen(shape.size(), false);
  Shape result;
  for (int64_t p : permutation) {
    if (p < 0 || p >= static_cast<int64_t>(shape.size()) || seen[p])
      return report.fail(formatShape(permutation),
                         " is not a permutation of the dimensions 0 to ",
                         static_cast<int64_t>(shape.size()) - 1);
    seen[p] = true;
    result.push_back(shape[p]);
  }
  return result;
}

FailureOr<Shape> matmulShape(ArrayRef<int64_t> lhs, ArrayRef<int64_t> rhs,
                             bool transposeLhs, bool transposeRhs,
                             EmitErrorFn emitError) {
  Reporter report(emitError);
  if (lhs.size() < 2 || rhs.size() < 2)
    return report.fail("operands must have rank 2 or more, got ranks ",
                       lhs.size(), " and ", rhs.size());
  if (lhs.size() != rhs.size())
    return report.fail("operands must have the same rank, got ", lhs.size(),
                       " and ", rhs.size());
  size_t batch = lhs.size() - 2;
  if (lhs.take_front(batch) != rhs.take_front(batch))
    return report.fail("batch dimensions differ: ",
                       formatShape(lhs.take_front(batch)), " and ",
                       formatShape(rhs.take_front(batch)));
  int64_t m = lhs[batch + (transposeLhs ? 1 : 0)];
  int64_t kl = lhs[batch + (transposeLhs ? 0 : 1)];
  int64_t kr = rhs[batch + (transposeRhs ? 1 : 0)];
  int64_t n = rhs[batch + (transposeRhs ? 0 : 1)];
  if (kl != kr)
    return report.fail("contracted sizes differ: the lhs", transposeLhs ? " (transposed)" : "",
                       " has ", kl, " columns and the rhs",
                       transposeRhs ? " (transposed)" : "", " has ", kr, " rows");
  Shape result(lhs.take_front(batch));
  result.push_back(m);
  result.push_back(n);
  return result;
}

FailureOr<Shape> attentionShape(ArrayRef<int64_t> query, ArrayRef<int64_t> key,
                                ArrayRef<int64_t> value, bool causal,
                                EmitErrorFn emitError) {
  Reporter report(emitError);
  // The scores are q k^T, the output scores v: two matrix products.
  FailureOr<Shape> scores = matmulShape(query, key, false, true, emitError);
  if (failed(scores))
    return failure();
  FailureOr<Shape> result = matmulShape(*scores, value, false, false, emitError);
  if (failed(result))
    return failure();
  size_t rank = query.size();
  if (causal && query[rank - 2] != key[rank - 2])
    return report.fail("causal attention needs as many queries as keys, got ",
                       query[rank - 2], " and ", key[rank - 2]);
  return result;
}

FailureOr<Shape> linearShape(ArrayRef<int64_t> input, ArrayRef<int64_t> weight,
                             std::optional<ArrayRef<int64_t>> bias,
                             EmitErrorFn emitError) {
  Reporter report(emitError);
  if (weight.size() != 2)
    return report.fail("weight must be a matrix [out, in], got shape ",
                       formatShape(weight));
  if (input.empty())
    return report.fail("input must have rank 1 or more ([..., in])");
  if (input.back() != weight[1])
    return report.fail("input feature size ", input.back(),
                       " does not match weight ", formatShape(weight),
                       ": expected in = ", weight[1]);
  if (bias && (bias->size() != 1 || (*bias)[0] != weight[0]))
    return report.fail("bias must have shape [", weight[0], "] to match weight ",
                       formatShape(weight), ", got ", formatShape(*bias));
  Shape result(input.drop_back());
  result.push_back(weight[0]);
  return result;
}

LogicalResult verifyCrossEntropyShapes(ArrayRef<int64_t> logits,
                                       ArrayRef<int64_t> labels,
                                       EmitErrorFn emitError) {
  Reporter report(emitError);
  if (logits.empty())
    return report.fail("logits must have rank 1 or more, the classes last");
  if (labels != logits.drop_back())
    return report.fail("labels shape ", formatShape(labels),
                       " does not match logits shape ", formatShape(logits),
                       " without its class dimension: expected ",
                       formatShape(logits.drop_back()));
  return success();
}

//===----------------------------------------------------------------------===//
// Builder helpers
//===----------------------------------------------------------------------===//

static RankedTensorType tensorOf(Value v) {
  return cast<RankedTensorType>(v.getType());
}

static RankedTensorType withShape(FailureOr<Shape> shape, Type elementType) {
  assert(succeeded(shape) && "operands violate the op's shape rule");
  return RankedTensorType::get(*shape, elementType);
}

RankedTensorType inferBroadcastType(Value lhs, Value rhs) {
  return withShape(
      broadcastShapes(tensorOf(lhs).getShape(), tensorOf(rhs).getShape()),
      tensorOf(lhs).getElementType());
}

RankedTensorType inferReduceType(Value input, ArrayRef<int64_t> dims,
                                 bool keepdim) {
  return withShape(reduceShape(tensorOf(input).getShape(), dims, keepdim),
                   tensorOf(input).getElementType());
}

RankedTensorType inferTransposeType(Value input, ArrayRef<int64_t> permutation) {
  return withShape(transposeShape(tensorOf(input).getShape(), permutation),
                   tensorOf(input).getElementType());
}

RankedTensorType inferMatmulType(Value lhs, Value rhs, bool transposeLhs,
                                 bool transposeRhs) {
  return withShape(matmulShape(tensorOf(lhs).getShape(),
                               tensorOf(rhs).getShape(), transposeLhs,
                               transposeRhs),
                   tensorOf(lhs).getElementType());
}

} // namespace ftc::train
