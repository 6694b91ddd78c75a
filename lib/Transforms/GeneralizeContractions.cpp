//===- GeneralizeContractions.cpp - contractions as ftc-tile-matmuls' form ===//
//
// TEMPORARY, until the contraction codegen replaces ftc-tile-matmuls, whose
// hand matcher takes matrix products as generics over (batch..., m, k, n)
// with B indexed (batch..., k, n): the form the train lowering emitted
// before it produced linalg.contract. Upstream's generalization
// (linalg::generalizeNamedOp) and loop interchange
// (linalg::interchangeGenericOp) do the work; this pass only picks the
// contractions and the order, and transposes a B read transposed.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace ftc {
#define GEN_PASS_DEF_GENERALIZECONTRACTIONS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Whether `op` is a product over (batch..., m, n, k) on tensors: k the
/// last loop and the only reduction, C indexed (..., m, n) with n the loop
/// before k, B indexed (..., k, n) or, `transposed`, (..., n, k).
bool isProduct(linalg::ContractOp op, bool &transposed) {
  if (!op.hasPureTensorSemantics())
    return false;
  int64_t rank = op.getNumLoops();
  auto iterators = op.getIteratorTypesArray();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (rank < 3 || llvm::count(iterators, utils::IteratorType::reduction) != 1 ||
      iterators.back() != utils::IteratorType::reduction || maps[1].getNumResults() < 2 ||
      maps[2].getNumResults() < 2 ||
      maps[2].getDimPosition(maps[2].getNumResults() - 1) != rank - 2)
    return false;
  unsigned r = maps[1].getNumResults();
  unsigned row = maps[1].getDimPosition(r - 2), col = maps[1].getDimPosition(r - 1);
  transposed = row == rank - 2 && col == rank - 1;
  return transposed || (row == rank - 1 && col == rank - 2);
}

/// Replaces B by its transpose over the last two dimensions, and B's map
/// accordingly.
void transposeRhs(IRRewriter &rewriter, linalg::ContractOp op) {
  Value rhs = op.getDpsInputs()[1];
  auto type = cast<RankedTensorType>(rhs.getType());
  int64_t rank = type.getRank();
  SmallVector<int64_t> perm, shape;
  for (int64_t i = 0; i < rank; ++i)
    perm.push_back(i);
  std::swap(perm[rank - 2], perm[rank - 1]);
  for (int64_t p : perm)
    shape.push_back(type.getDimSize(p));
  Location loc = op.getLoc();
  Value init = tensor::EmptyOp::create(rewriter, loc, shape, type.getElementType());
  Value transposed =
      linalg::TransposeOp::create(rewriter, loc, rhs, init, perm).getResult()[0];
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  maps[1] = maps[1].getSubMap(SmallVector<unsigned>(perm.begin(), perm.end()));
  rewriter.modifyOpInPlace(op, [&] {
    op->setOperand(1, transposed);
    op.setIndexingMapsAttr(rewriter.getAffineMapArrayAttr(maps));
  });
}

struct GeneralizeContractionsPass
    : ftc::impl::GeneralizeContractionsBase<GeneralizeContractionsPass> {
  void runOnOperation() override {
    SmallVector<linalg::ContractOp> contractions;
    getOperation().walk([&](linalg::ContractOp op) { contractions.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (linalg::ContractOp op : contractions) {
      bool transposed = false;
      if (!isProduct(op, transposed))
        continue;
      rewriter.setInsertionPoint(op);
      if (transposed)
        transposeRhs(rewriter, op);
      int64_t rank = op.getNumLoops();
      FailureOr<linalg::GenericOp> generic = linalg::generalizeNamedOp(rewriter, op);
      if (failed(generic))
        continue;
      // (batch..., m, n, k) -> (batch..., m, k, n)
      SmallVector<unsigned> interchange;
      for (int64_t i = 0; i < rank - 2; ++i)
        interchange.push_back(i);
      interchange.append({unsigned(rank - 1), unsigned(rank - 2)});
      if (failed(linalg::interchangeGenericOp(rewriter, *generic, interchange)))
        return signalPassFailure();
    }
  }
};

} // namespace
