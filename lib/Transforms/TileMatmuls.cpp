//===- TileMatmuls.cpp - Register tiles for matrix products ---------------===//
//
// Matrix products as loops (batch, m, k, n) (ftc-generalize-contractions
// writes them so) stream a row of C through memory for every k. Tiling C
// into small blocks and keeping a block in vector registers across the k
// loop reads and writes C once per block instead of once per k.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Hoisting.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"

namespace ftc {
#define GEN_PASS_DEF_TILEMATMULS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// The number of batch dimensions (which is also m's loop dimension) of a
/// product over (batch..., m, k, n) as ftc-generalize-contractions builds
/// it: buffers, two inputs, one output, k the only reduction, the body
/// acc + a * b, C indexed (batch..., m, n); nothing if `op` is not one.
std::optional<int64_t> matmulBatchRank(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() < 3)
    return std::nullopt;
  int64_t rank = op.getNumLoops();
  auto iterators = op.getIteratorTypesArray();
  for (int64_t i = 0; i < rank; ++i)
    if ((iterators[i] == utils::IteratorType::reduction) != (i == rank - 2))
      return std::nullopt;
  Block &body = op.getRegion().front();
  if (body.getOperations().size() != 3)
    return std::nullopt;
  auto mul = dyn_cast<arith::MulFOp>(&body.front());
  auto add = dyn_cast<arith::AddFOp>(mul ? mul->getNextNode() : nullptr);
  if (!mul || !add || mul.getLhs() != body.getArgument(0) ||
      mul.getRhs() != body.getArgument(1) || add.getLhs() != body.getArgument(2) ||
      add.getRhs() != mul.getResult())
    return std::nullopt;
  // C is indexed (batch..., m, n), in that order.
  AffineMap out = op.getIndexingMapsArray()[2];
  SmallVector<unsigned> dims;
  for (int64_t i = 0; i < rank; ++i)
    if (i != rank - 2)
      dims.push_back(i);
  if (out != AffineMap::getMultiDimMapWithTargets(rank, dims, op.getContext()))
    return std::nullopt;
  // B is (batch..., k, n) or, shared by all batches, (k, n).
  AffineMap rhs = op.getIndexingMapsArray()[1];
  SmallVector<unsigned> rhsDims;
  bool batched = rhs.getNumResults() == static_cast<unsigned>(rank - 1);
  for (int64_t i = 0; i < rank; ++i)
    if (i >= rank - 2 || (batched && i < rank - 3))
      rhsDims.push_back(i);
  if (rhs != AffineMap::getMultiDimMapWithTargets(rank, rhsDims, op.getContext()))
    return std::nullopt;
  return rank - 3;
}

struct TileMatmuls : ftc::impl::TileMatmulsBase<TileMatmuls> {
  using Base::Base;

  /// Copies the `tile-n` columns of B a column block uses into a contiguous
  /// [K, tile-n] buffer once per block, before its row tiles run: the k loop
  /// then reads consecutive 64-byte rows instead of rows a whole row of B
  /// (often 4 KB: the same cache set every time) apart. `loops` are the
  /// tile loops (batch..., n, m, k).
  void packRhs(IRRewriter &rewriter, Value rhs, bool rhsBatched,
               ArrayRef<Operation *> loops, int64_t batch) {
    auto nLoop = cast<scf::ForOp>(loops[batch]);
    auto kLoop = cast<scf::ForOp>(loops[batch + 2]);
    // The tile's read of B: a transfer from a view of B in the k loop.
    vector::TransferReadOp read;
    kLoop.getBody()->walk([&](vector::TransferReadOp r) {
      if (auto view = r.getBase().getDefiningOp<memref::SubViewOp>();
          view && view.getSource() == rhs)
        read = r;
    });
    if (!read)
      return;
    auto view = read.getBase().getDefiningOp<memref::SubViewOp>();
    auto rhsType = cast<MemRefType>(rhs.getType());
    int64_t rank = rhsType.getRank(), k = rhsType.getDimSize(rank - 2);
    Location loc = read.getLoc();
    // One buffer per product: [1..., K, tile-n], allocated before its loops.
    SmallVector<int64_t> packedShape(rank - 2, 1);
    packedShape.append({k, tileN});
    auto packedType = MemRefType::get(packedShape, rhsType.getElementType());
    rewriter.setInsertionPoint(loops.front());
    Value packed = memref::AllocOp::create(rewriter, loc, packedType);
    rewriter.setInsertionPointAfter(loops.front());
    memref::DeallocOp::create(rewriter, loc, packed);
    // At the start of each column block: B[batch..., :, n0 : n0 + tile-n].
    rewriter.setInsertionPointToStart(nLoop.getBody());
    Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    Value upper = arith::ConstantIndexOp::create(rewriter, loc, k);
    auto rowType = VectorType::get({tileN}, rhsType.getElementType());
    Value pad = ub::PoisonOp::create(rewriter, loc, rhsType.getElementType());
    auto copy = scf::ForOp::create(rewriter, loc, zero, upper, one);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(copy.getBody());
      Value kk = copy.getInductionVar();
      SmallVector<Value> from;
      for (int64_t i = 0; rhsBatched && i < batch; ++i)
        from.push_back(cast<scf::ForOp>(loops[i]).getInductionVar());
      from.append({kk, nLoop.getInductionVar()});
      SmallVector<Value> to(rank - 2, zero);
      to.append({kk, zero});
      SmallVector<bool> inBounds{true};
      Value row = vector::TransferReadOp::create(rewriter, loc, rowType, rhs, from, pad,
                                                 inBounds);
      vector::TransferWriteOp::create(rewriter, loc, row, packed, to, inBounds);
    }
    // The tile reads its row of the packed block instead.
    rewriter.setInsertionPoint(view);
    SmallVector<OpFoldResult> offsets(rank - 2, rewriter.getIndexAttr(0));
    offsets.append({view.getMixedOffsets()[rank - 2], rewriter.getIndexAttr(0)});
    auto packedView = memref::SubViewOp::create(rewriter, loc, packed, offsets,
                                                view.getMixedSizes(), view.getMixedStrides());
    rewriter.modifyOpInPlace(read, [&] { read.getBaseMutable().assign(packedView); });
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<linalg::GenericOp> products;
    func.walk([&](linalg::GenericOp op) {
      if (matmulBatchRank(op))
        products.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    bool changed = false;
    for (linalg::GenericOp op : products) {
      int64_t batch = *matmulBatchRank(op);
      SmallVector<int64_t> ranges = op.getStaticLoopRanges();
      int64_t m = ranges[batch], n = ranges[batch + 2];
      if (ShapedType::isDynamic(m) || ShapedType::isDynamic(n) || m % tileM || n % tileN)
        continue;
      SmallVector<int64_t> sizes(batch, 1);
      sizes.append({tileM, 1, tileN});
      SmallVector<unsigned> interchange;
      for (unsigned i = 0; i < batch; ++i)
        interchange.push_back(i);
      interchange.append({unsigned(batch + 2), unsigned(batch), unsigned(batch + 1)});
      linalg::LinalgTilingOptions options;
      options.setTileSizes(sizes).setInterchange(interchange);
      Value rhs = op.getDpsInputs()[1];
      // B is (batch..., k, n), or (k, n) when one B serves every batch.
      AffineMap rhsMap = op.getIndexingMapsArray()[1];
      bool rhsBatched = rhsMap.getNumResults() == static_cast<unsigned>(batch + 2);
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::TiledLinalgOp> tiled = linalg::tileLinalgOp(rewriter, op, options);
      if (failed(tiled))
        continue;
      rewriter.eraseOp(op);
      rewriter.setInsertionPoint(tiled->op);
      if (failed(linalg::vectorize(rewriter, tiled->op))) {
        tiled->op.emitError("ftc-tile-matmuls: cannot vectorize the tile");
        return signalPassFailure();
      }
      rewriter.eraseOp(tiled->op);
      packRhs(rewriter, rhs, rhsBatched, tiled->loops, batch);
      // The block of C does not depend on k: its view moves out of the k loop.
      for (Operation *loop : tiled->loops)
        moveLoopInvariantCode(cast<LoopLikeOpInterface>(loop));
      changed = true;
    }
    if (!changed)
      return;
    // Transfers on the buffers themselves (not on views of them) let the
    // block of C be read before the k loop and written after it.
    // The reduction over the unit k of a tile is one add: acc + a * b, in
    // that order.
    RewritePatternSet patterns(&getContext());
    memref::populateFoldMemRefAliasOpPatterns(patterns);
    vector::MultiDimReductionOp::getCanonicalizationPatterns(patterns, &getContext());
    // Not converging within the driver's iteration limit is not an error:
    // what was folded stays folded.
    (void)applyPatternsGreedily(func, std::move(patterns));
    linalg::hoistRedundantVectorTransfers(func);
  }
};

} // namespace
