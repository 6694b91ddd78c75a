//===- TileContractions.cpp - Packed, tiled, vectorized contractions ------===//
//
// Every matrix product of the step (any linalg contraction with one m, one n
// and one k dimension, and any number of batch dimensions, in f32 with
// static shapes) becomes, on tensors:
//
//   A (any layout)  -> linalg.pack [batch..., M/MR, K, MR]   (zero-padded)
//   B (any layout)  -> linalg.pack [batch..., N/NR, K, NR]   (zero-padded)
//   C               -> viewed as [batch..., M/MR, MR, N/NR, NR] (or packed
//                      and unpacked when MR, NR do not divide M, N)
//   C += A B        -> a linalg.generic over the packed operands, tiled with
//                      TilingInterface into blocks of C run in parallel
//                      (scf.forall over batch, M, N), k cache blocks, one
//                      MR x NR register block per iteration (loops N, M)
//                      and a k step of KU, vectorized; the block of C is
//                      hoisted out of the k loop so it stays in registers.
//
// The inner loop then reads MR scalars of A (broadcast) and NR/lanes vectors
// of B per k and issues MR * NR/lanes fused multiply-adds. The register tile
// comes from the instruction set (ftc::cpu::tileConfigFor). Every element of
// C still sums over k in increasing order, with FMA: deterministic, and
// within the float64-anchored parity bounds.
//
// Only the schedule is written here; packing, tiling, unit-dimension folding,
// vectorization and subset hoisting are upstream's (linalg.pack,
// scf::tileUsingSCF, linalg::dropUnitDims, linalg::vectorize,
// hoistLoopInvariantSubsets).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/TileUsingInterface.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/LoopInvariantCodeMotionUtils.h"
#include "llvm/Support/DebugLog.h"

#define DEBUG_TYPE "ftc-cpu-tile-contractions"

namespace ftc {
#define GEN_PASS_DEF_CPUTILECONTRACTIONS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using ftc::cpu::RegisterTile;
using ftc::cpu::TileConfig;

namespace {

/// Marks the k loop of a register block until its subsets are hoisted.
constexpr StringLiteral kKLoopMarker = "ftc.k_loop";

/// A product the schedule applies to: where its dimensions sit.
struct Contraction {
  linalg::LinalgOp op;
  SmallVector<unsigned, 2> batch;
  unsigned m, n, k;
  SmallVector<int64_t> ranges; // static size of every loop
};

/// The contraction `op` is, if the schedule applies to it: tensors of static
/// shape, an f32 C and f32, bf16 or f16 operands (16-bit products widen
/// each element and sum in f32), body acc + a * b, one m, n and k, batch
/// dimensions in all three operands, and C indexed (batch..., m, n).
std::optional<Contraction> matchContraction(linalg::LinalgOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.hasDynamicShape() ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  for (OpOperand &operand : op->getOpOperands()) {
    Type t = getElementTypeOrSelf(operand.get().getType());
    bool input = op.isDpsInput(&operand);
    if (!(t.isF32() || (input && (t.isBF16() || t.isF16()))))
      return std::nullopt;
  }
  FailureOr<linalg::ContractionDimensions> dims = linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 ||
      dims->k.size() != 1)
    return std::nullopt;
  Contraction c{op, llvm::to_vector(dims->batch), dims->m[0], dims->n[0],
                dims->k[0], op.getStaticLoopRanges()};
  MLIRContext *ctx = op.getContext();
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0].getNumResults() != static_cast<unsigned>(c.batch.size() + 2) ||
      maps[1].getNumResults() != static_cast<unsigned>(c.batch.size() + 2))
    return std::nullopt; // an operand broadcast along a batch dimension
  SmallVector<unsigned> outDims(c.batch.begin(), c.batch.end());
  outDims.append({c.m, c.n});
  if (maps[2] != AffineMap::getMultiDimMapWithTargets(op.getNumLoops(), outDims, ctx))
    return std::nullopt;
  return c;
}

/// The position of loop `dim` among the results of `map`.
int64_t resultPos(AffineMap map, unsigned dim) {
  return *map.getResultPosition(getAffineDimExpr(dim, map.getContext()));
}

/// The largest multiple of `unit` that divides `size` and is at most `max`
/// (`size` itself when it is no larger than `max`).
int64_t dividingTile(int64_t size, int64_t unit, int64_t max) {
  if (size <= max)
    return size;
  for (int64_t t = max - max % unit; t >= unit; t -= unit)
    if (size % t == 0)
      return t;
  return unit;
}

/// Packs `source` (an operand indexed by `map`) into [batch..., rows/tile, K,
/// tile], where `rows` is loop `tiled` (m or n): zero-padded up to a multiple
/// of the tile.
linalg::PackOp packOperand(OpBuilder &b, Location loc, Value source, AffineMap map,
                           const Contraction &c, unsigned tiled, int64_t tile) {
  SmallVector<int64_t> outerPerm;
  for (unsigned d : c.batch)
    outerPerm.push_back(resultPos(map, d));
  outerPerm.push_back(resultPos(map, tiled));
  outerPerm.push_back(resultPos(map, c.k));
  SmallVector<int64_t> innerPos{resultPos(map, tiled)};
  SmallVector<OpFoldResult> tiles{b.getIndexAttr(tile)};
  Value dest =
      linalg::PackOp::createDestinationTensor(b, loc, source, tiles, innerPos, outerPerm);
  std::optional<Value> padding;
  if (c.ranges[tiled] % tile != 0)
    padding = arith::ConstantOp::create(
                  b, loc, b.getFloatAttr(getElementTypeOrSelf(source.getType()), 0.0))
                  .getResult();
  return linalg::PackOp::create(b, loc, source, dest, innerPos, tiles, padding,
                                outerPerm);
}

/// C += A B over the packed operands: loops (batch..., mo, no, k, mr, nr).
/// `packedC` says whether C is packed [batch..., Mo, No, MR, NR] or viewed
/// as [batch..., Mo, MR, No, NR]. Multiplies and adds may contract to FMA.
linalg::GenericOp buildPackedProduct(OpBuilder &b, Location loc, Value a, Value bp,
                                     Value cInit, bool packedC, int64_t numBatch) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = numBatch + 5;
  unsigned mo = numBatch, no = numBatch + 1, k = numBatch + 2, mr = numBatch + 3,
           nr = numBatch + 4;
  auto map = [&](ArrayRef<unsigned> inner) {
    SmallVector<unsigned> dims;
    for (unsigned i = 0; i < numBatch; ++i)
      dims.push_back(i);
    dims.append(inner.begin(), inner.end());
    return AffineMap::getMultiDimMapWithTargets(rank, dims, ctx);
  };
  SmallVector<AffineMap> maps{map({mo, k, mr}), map({no, k, nr}),
                              packedC ? map({mo, no, mr, nr}) : map({mo, mr, no, nr})};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators[k] = utils::IteratorType::reduction;
  auto contract = arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::contract);
  return linalg::GenericOp::create(
      b, loc, cInit.getType(), ValueRange{a, bp}, ValueRange{cInit}, maps, iterators,
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        // 16-bit operands widened (exactly) to the f32 accumulator's type.
        auto widen = [&](Value v) -> Value {
          return v.getType() == args[2].getType()
                     ? v
                     : arith::ExtFOp::create(nb, nl, args[2].getType(), v).getResult();
        };
        Value prod = arith::MulFOp::create(nb, nl, widen(args[0]), widen(args[1]), contract);
        Value sum = arith::AddFOp::create(nb, nl, args[2], prod, contract);
        linalg::YieldOp::create(nb, nl, sum);
      });
}

/// Tiles `op` with `sizes` (in loop order, 0 = not tiled) and `interchange`;
/// returns the tiled op and the loops, outermost first.
FailureOr<scf::SCFTilingResult> tile(RewriterBase &rewriter, Operation *op,
                                     ArrayRef<int64_t> sizes,
                                     ArrayRef<int64_t> interchange = {},
                                     bool parallel = false) {
  scf::SCFTilingOptions options;
  if (parallel)
    options.setLoopType(scf::SCFTilingOptions::LoopType::ForallOp);
  options.setTileSizes(getAsIndexOpFoldResult(rewriter.getContext(), sizes));
  if (!interchange.empty())
    options.setInterchange(interchange);
  FailureOr<scf::SCFTilingResult> tiled =
      scf::tileUsingSCF(rewriter, cast<TilingInterface>(op), options);
  if (failed(tiled))
    return failure();
  rewriter.replaceOp(op, tiled->replacements);
  return tiled;
}

/// Vectorizes `op` (with `vectorSizes`, masked, if given) in place.
LogicalResult vectorizeAndReplace(RewriterBase &rewriter, Operation *op,
                                  ArrayRef<int64_t> vectorSizes = {}) {
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::VectorizationResult> vectorized =
      linalg::vectorize(rewriter, op, vectorSizes);
  if (failed(vectorized))
    return failure();
  rewriter.replaceOp(op, vectorized->replacements);
  return success();
}

/// Tiles a pack into [1..., 1, 8] blocks of its outer dimensions (the k
/// dimension 8 at a time; `kOuter` puts the k loop outside) and vectorizes
/// each block (masked where the source ends inside it).
LogicalResult tileAndVectorizePack(RewriterBase &rewriter, linalg::PackOp pack,
                                   bool kOuter) {
  int64_t numOuter = pack.getDestType().getRank() - 1; // batch..., rows, K
  SmallVector<int64_t> sizes(numOuter, 1);
  sizes.back() = 8;
  SmallVector<int64_t> interchange;
  if (kOuter) {
    for (int64_t i = 0; i < numOuter - 2; ++i)
      interchange.push_back(i);
    interchange.append({numOuter - 1, numOuter - 2});
  }
  SmallVector<int64_t> vectorSizes(sizes);
  vectorSizes.push_back(pack.getStaticInnerTiles()[0]);
  FailureOr<scf::SCFTilingResult> tiled = tile(rewriter, pack, sizes, interchange);
  if (failed(tiled))
    return failure();
  return vectorizeAndReplace(rewriter, tiled->tiledOps.back(), vectorSizes);
}

/// An elementwise op applied to a product: `op` reads the product's result
/// directly, or (`reshape` set) only through that reshape of it.
struct Epilogue {
  linalg::GenericOp op;
  Value reshaped; // what `op` reads, if not the product's result
  SmallVector<ReassociationIndices> expansion; // from [M, N] to `reshaped`
};

/// The elementwise op applied to the product `c` that can run in the
/// product's parallel blocks as its epilogue (an activation, a scale): a
/// generic over C's shape, all loops parallel, reading C as it is written
/// and its other operands (defined before the product: the block runs
/// there) in any way, with no linalg.index; or a generic with C, reshaped
/// (a linear layer's [B T, N] as [B, T, N]), as its only operand. Only while
/// the product itself is read elsewhere too (a training step keeps an
/// activation's input for the backward pass): the blocks then write both,
/// each in place; a block of C that nothing else read would be a temporary
/// of the parallel block, which bufferization would allocate on the heap in
/// every block.
std::optional<Epilogue> findEpilogue(Value c, Operation *product) {
  auto fits = [&](linalg::GenericOp generic, OpOperand &use) {
    return generic && generic->getBlock() == product->getBlock() &&
           generic.hasPureTensorSemantics() && generic.getNumDpsInits() == 1 &&
           generic.getNumParallelLoops() == generic.getNumLoops() &&
           generic.getResult(0).getType() == use.get().getType() &&
           generic.getIndexingMapsArray().back().isIdentity() &&
           generic.getMatchingIndexingMap(&use).isIdentity() &&
           generic.getBody()->getOps<linalg::IndexOp>().empty();
  };
  for (OpOperand &use : c.getUses()) {
    if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(use.getOwner())) {
      // A chain of reshapes that splits rows: [M, N] read as [B, T, N].
      Value v = use.getOwner()->getResult(0);
      while (v.hasOneUse() &&
             isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(*v.getUsers().begin()))
        v = v.getUsers().begin()->getResult(0);
      std::optional<SmallVector<ReassociationIndices>> expansion =
          getReassociationIndicesForReshape(cast<ShapedType>(c.getType()),
                                            cast<ShapedType>(v.getType()));
      if (!expansion || cast<ShapedType>(v.getType()).getRank() <
                            cast<ShapedType>(c.getType()).getRank() ||
          (c.hasOneUse() && v.hasOneUse()))
        continue;
      for (OpOperand &reshapedUse : v.getUses()) {
        auto generic = dyn_cast<linalg::GenericOp>(reshapedUse.getOwner());
        if (fits(generic, reshapedUse) && generic.getNumDpsInputs() == 1)
          return Epilogue{generic, v, *expansion};
      }
      continue;
    }
    auto generic = dyn_cast<linalg::GenericOp>(use.getOwner());
    if (c.hasOneUse() || !fits(generic, use))
      continue;
    bool before = llvm::all_of(generic.getDpsInputs(), [&](Value v) {
      if (v == c)
        return true;
      Operation *def = v.getDefiningOp();
      return !def || (def->getBlock() == product->getBlock() &&
                      def->isBeforeInBlock(product));
    });
    if (before)
      return Epilogue{generic, {}, {}};
  }
  return std::nullopt;
}

/// The epilogue (reading the product's result `c`, [batch..., M, N]) fused
/// into the parallel blocks `loop` of the product, which writes C viewed as
/// `view` ([batch..., M/MR, MR, N/NR, NR]): the epilogue is rewritten over
/// that view (its other operands read at m = mo MR + mr, n = no NR + nr)
/// and fused as a consumer of the blocks, so that each block of C is
/// finished while it is in cache.
LogicalResult fuseEpilogue(RewriterBase &rewriter, Epilogue epilogue, Value c,
                           tensor::CollapseShapeOp view, LoopLikeOpInterface loop,
                           int64_t mr, int64_t nr) {
  linalg::GenericOp op = epilogue.op;
  MLIRContext *ctx = rewriter.getContext();
  int64_t numBatch = view.getResultType().getRank() - 2;
  int64_t rank = numBatch + 4;
  SmallVector<AffineExpr> toMatrix;
  for (int64_t i = 0; i < numBatch; ++i)
    toMatrix.push_back(getAffineDimExpr(i, ctx));
  toMatrix.push_back(getAffineDimExpr(numBatch, ctx) * mr +
                     getAffineDimExpr(numBatch + 1, ctx));
  toMatrix.push_back(getAffineDimExpr(numBatch + 2, ctx) * nr +
                     getAffineDimExpr(numBatch + 3, ctx));
  AffineMap expand = AffineMap::get(rank, 0, toMatrix, ctx);
  Value read = epilogue.reshaped ? epilogue.reshaped : c;
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *input : op.getDpsInputOperands()) {
    if (input->get() == read) {
      inputs.push_back(view.getSrc());
      maps.push_back(rewriter.getMultiDimIdentityMap(rank));
      continue;
    }
    inputs.push_back(input->get());
    maps.push_back(op.getMatchingIndexingMap(input).compose(expand));
  }
  maps.push_back(rewriter.getMultiDimIdentityMap(rank));
  // Its operands all exist before the blocks: they run there.
  rewriter.setInsertionPoint(loop);
  auto viewType = cast<RankedTensorType>(view.getSrc().getType());
  Value init = tensor::EmptyOp::create(rewriter, op.getLoc(), viewType.getShape(),
                                       getElementTypeOrSelf(op.getResult(0).getType()));
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  rewriter.setInsertionPoint(op);
  auto blocked = linalg::GenericOp::create(rewriter, op.getLoc(), init.getType(), inputs,
                                           init, maps, iterators);
  // The epilogue's operands, in order, are the new op's: the block
  // arguments carry over.
  rewriter.inlineRegionBefore(op.getRegion(), blocked.getRegion(),
                              blocked.getRegion().begin());
  auto cType = cast<RankedTensorType>(c.getType());
  Value result = tensor::CollapseShapeOp::create(
      rewriter, op.getLoc(), RankedTensorType::get(cType.getShape(), viewType.getElementType()),
      blocked.getResult(0), view.getReassociationIndices());
  if (epilogue.reshaped)
    result = tensor::ExpandShapeOp::create(rewriter, op.getLoc(), op.getResult(0).getType(),
                                           result, epilogue.expansion);
  rewriter.replaceOp(op, result);
  SmallVector<LoopLikeOpInterface> loops{loop};
  if (failed(scf::tileAndFuseConsumer(rewriter, blocked, loops)))
    return failure();
  return success();
}

/// The whole schedule for one contraction with register tile `rt`.
LogicalResult scheduleContraction(RewriterBase &rewriter, const Contraction &c,
                                  RegisterTile rt, const TileConfig &cfg) {
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t numBatch = c.batch.size();
  int64_t mSize = c.ranges[c.m], nSize = c.ranges[c.n], kSize = c.ranges[c.k];
  int64_t ku = kSize % 4 == 0 ? 4 : kSize % 2 == 0 ? 2 : 1;
  int64_t kc = dividingTile(kSize, ku, cfg.kc);

  linalg::PackOp packA =
      packOperand(rewriter, loc, op.getDpsInputs()[0], maps[0], c, c.m, rt.mr);
  linalg::PackOp packB =
      packOperand(rewriter, loc, op.getDpsInputs()[1], maps[1], c, c.n, rt.nr);

  // C: a view when the register tile divides it, else a padded copy.
  Value cInit = op.getDpsInits()[0];
  auto cType = cast<RankedTensorType>(cInit.getType());
  bool packedC = mSize % rt.mr != 0 || nSize % rt.nr != 0;
  Value cOperand;
  linalg::PackOp packC;
  linalg::UnPackOp unpackC;
  SmallVector<ReassociationIndices> reassociation;
  for (int64_t i = 0; i < numBatch; ++i)
    reassociation.push_back({i});
  if (packedC) {
    SmallVector<int64_t> innerPos{numBatch, numBatch + 1};
    SmallVector<OpFoldResult> tiles{rewriter.getIndexAttr(rt.mr),
                                    rewriter.getIndexAttr(rt.nr)};
    Value dest = linalg::PackOp::createDestinationTensor(rewriter, loc, cInit, tiles,
                                                         innerPos, {});
    Value zero = arith::ConstantOp::create(rewriter, loc, rewriter.getF32FloatAttr(0.0f));
    packC = linalg::PackOp::create(rewriter, loc, cInit, dest, innerPos, tiles, zero);
    cOperand = packC.getResult();
  } else {
    reassociation.push_back({numBatch, numBatch + 1});
    reassociation.push_back({numBatch + 2, numBatch + 3});
    SmallVector<int64_t> shape(cType.getShape().take_front(numBatch));
    shape.append({mSize / rt.mr, rt.mr, nSize / rt.nr, rt.nr});
    cOperand = tensor::ExpandShapeOp::create(
        rewriter, loc, RankedTensorType::get(shape, rewriter.getF32Type()), cInit,
        reassociation);
  }
  linalg::GenericOp product = buildPackedProduct(rewriter, loc, packA.getResult(),
                                                 packB.getResult(), cOperand, packedC,
                                                 numBatch);
  Value result;
  if (packedC) {
    Value dest = tensor::EmptyOp::create(rewriter, loc, cType.getShape(),
                                         cType.getElementType());
    unpackC = linalg::UnPackOp::create(rewriter, loc, product.getResult(0), dest,
                                       {numBatch, numBatch + 1},
                                       {rewriter.getIndexAttr(rt.mr),
                                        rewriter.getIndexAttr(rt.nr)});
    result = unpackC.getResult();
  } else {
    result = tensor::CollapseShapeOp::create(rewriter, loc, cType, product.getResult(0),
                                             reassociation);
  }
  std::optional<Epilogue> epilogue =
      packedC ? std::nullopt : findEpilogue(op->getResult(0), op);
  rewriter.replaceOp(op, result);

  // Blocks of C (batch, M, N) in parallel: each is one thread's, summed over
  // all of k in order, so results do not depend on the number of threads.
  // Within a block: k in cache blocks, then register blocks (loops N, M),
  // then k by KU.
  int64_t mo = numBatch, no = numBatch + 1, k = numBatch + 2;
  SmallVector<int64_t> blockSizes(numBatch, 1);
  blockSizes.append({std::max<int64_t>(1, cfg.mc / rt.mr),
                     std::max<int64_t>(1, cfg.nc / rt.nr), 0, 0, 0});
  FailureOr<scf::SCFTilingResult> blocks =
      tile(rewriter, product, blockSizes, {}, /*parallel=*/true);
  if (failed(blocks))
    return emitError(loc, "cannot tile the packed product into parallel blocks");
  SmallVector<int64_t> kcSizes(numBatch + 5, 0);
  kcSizes[k] = kc;
  FailureOr<scf::SCFTilingResult> cache = tile(rewriter, blocks->tiledOps.back(), kcSizes);
  if (failed(cache))
    return emitError(loc, "cannot tile the packed product into cache blocks");
  SmallVector<int64_t> registerSizes(numBatch, 0), registerOrder;
  registerSizes.append({1, 1, 0, 0, 0});
  for (int64_t i = 0; i < numBatch; ++i)
    registerOrder.push_back(i);
  registerOrder.append({no, mo, k, numBatch + 3, numBatch + 4});
  FailureOr<scf::SCFTilingResult> regs =
      tile(rewriter, cache->tiledOps.back(), registerSizes, registerOrder);
  if (failed(regs))
    return emitError(loc, "cannot tile the packed product into register blocks");
  SmallVector<int64_t> kSizes(numBatch + 5, 0);
  kSizes[k] = ku;
  FailureOr<scf::SCFTilingResult> inner = tile(rewriter, regs->tiledOps.back(), kSizes);
  if (failed(inner))
    return emitError(loc, "cannot tile the packed product along k");
  inner->loops.front()->setAttr(kKLoopMarker, rewriter.getUnitAttr());

  // The register block without its unit dimensions, as vectors.
  auto block = cast<linalg::GenericOp>(inner->tiledOps.back());
  rewriter.setInsertionPoint(block);
  linalg::ControlDropUnitDims drop;
  drop.rankReductionStrategy =
      linalg::ControlDropUnitDims::RankReductionStrategy::ExtractInsertSlice;
  FailureOr<linalg::DropUnitDimsResult> dropped = linalg::dropUnitDims(rewriter, block, drop);
  Operation *kernel = block;
  if (succeeded(dropped)) {
    rewriter.replaceOp(block, dropped->replacements);
    kernel = dropped->resultOp;
  }
  if (failed(vectorizeAndReplace(rewriter, kernel)))
    return emitError(loc, "cannot vectorize the register block");

  if (failed(tileAndVectorizePack(rewriter, packA, /*kOuter=*/false)) ||
      failed(tileAndVectorizePack(rewriter, packB, /*kOuter=*/true)))
    return emitError(loc, "cannot vectorize the packing of the operands");
  // A padded C (odd shapes only) as pad, reshape and transpose: O(M N) work.
  if (packC && (failed(linalg::lowerPack(rewriter, packC)) ||
                failed(linalg::lowerUnPack(rewriter, unpackC))))
    return emitError(loc, "cannot lower the padded copy of C");
  if (epilogue &&
      failed(fuseEpilogue(rewriter, *epilogue, result,
                          result.getDefiningOp<tensor::CollapseShapeOp>(),
                          blocks->loops.front(), rt.mr, rt.nr)))
    return emitError(loc, "cannot fuse the elementwise op on the product into its blocks");
  return success();
}

/// Schedules `c` with the first register tile of `cfg` that divides its M
/// and N; without one, splits off the last M % MR rows and N % NR columns
/// of the first tile, so that only those (small) parts go through a padded
/// copy of C.
LogicalResult schedule(RewriterBase &rewriter, const Contraction &c,
                       const TileConfig &cfg) {
  int64_t mSize = c.ranges[c.m], nSize = c.ranges[c.n];
  Location loc = c.op->getLoc();
  for (RegisterTile rt : cfg.registerTiles)
    if (rt.mr > 0 && mSize % rt.mr == 0 && nSize % rt.nr == 0) {
      LDBG() << "M " << mSize << " N " << nSize << ": " << rt.mr << " x " << rt.nr;
      return scheduleContraction(rewriter, c, rt, cfg);
    }
  RegisterTile rt = cfg.registerTiles[0];
  LDBG() << "M " << mSize << " N " << nSize << ": " << rt.mr << " x " << rt.nr
         << ", remainders split off";
  SmallVector<Contraction> parts{c};
  for (auto [dim, tile] : {std::pair(c.n, rt.nr), std::pair(c.m, rt.mr)}) {
    int64_t size = c.ranges[dim], split = size - size % tile;
    if (split == 0 || split == size)
      continue;
    rewriter.setInsertionPoint(parts.front().op);
    auto [head, tail] = linalg::splitOp(
        rewriter, cast<TilingInterface>(parts.front().op.getOperation()), dim,
        rewriter.getIndexAttr(split));
    std::optional<Contraction> headC =
        matchContraction(cast<linalg::LinalgOp>(head.getOperation()));
    std::optional<Contraction> tailC =
        matchContraction(cast<linalg::LinalgOp>(tail.getOperation()));
    if (!headC || !tailC)
      return emitError(loc, "cannot split the product at the register tile");
    parts.front() = *headC;
    parts.push_back(*tailC);
  }
  for (const Contraction &part : parts)
    if (failed(scheduleContraction(rewriter, part, rt, cfg)))
      return failure();
  return success();
}

struct CpuTileContractionsPass
    : public ftc::impl::CpuTileContractionsBase<CpuTileContractionsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    FailureOr<TileConfig> cfg = ftc::cpu::tileConfigFor(isa);
    if (failed(cfg)) {
      func.emitError() << "unknown instruction set '" << isa
                       << "' (expected one of " << ftc::cpu::knownIsas() << ")";
      return signalPassFailure();
    }
    if ((mr > 0) != (nr > 0)) {
      func.emitError() << "give both mr and nr, or neither";
      return signalPassFailure();
    }
    if (mr > 0)
      cfg->registerTiles[0] = {mr, nr}, cfg->registerTiles[1] = {},
      cfg->registerTiles[2] = {};
    SmallVector<Contraction> contractions;
    func.walk([&](linalg::LinalgOp op) {
      if (std::optional<Contraction> c = matchContraction(op))
        contractions.push_back(*c);
    });
    if (contractions.empty())
      return;
    IRRewriter rewriter(&getContext());
    for (const Contraction &c : contractions)
      if (failed(schedule(rewriter, c, *cfg)))
        return signalPassFailure();

    // Vector cleanups: contractions out of the vectorized blocks, then the
    // block of C hoisted out of each k loop.
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    vector::populateVectorReductionToContractPatterns(patterns);
    // 16-bit products widen their operands (arith.extf) after the
    // vectorizer's broadcasts: the widening moved before each broadcast lets
    // the broadcast fold into the contraction, as in the f32 case, instead of
    // widening a broadcast block element by element.
    vector::populateSinkVectorOpsPatterns(patterns);
    vector::populateVectorTransferPermutationMapLoweringPatterns(patterns);
    vector::populateVectorMaskLoweringPatternsForSideEffectingOps(patterns);
    linalg::populateLinalgTilingCanonicalizationPatterns(patterns);
    for (RegisteredOperationName op : ctx->getRegisteredOperations())
      op.getCanonicalizationPatterns(patterns, ctx);
    FrozenRewritePatternSet frozen(std::move(patterns));
    if (failed(applyPatternsGreedily(func, frozen)))
      return signalPassFailure();
    DominanceInfo dominance;
    eliminateCommonSubExpressions(rewriter, dominance, func);
    SmallVector<scf::ForOp> kLoops;
    func.walk([&](scf::ForOp loop) {
      if (loop->hasAttr(kKLoopMarker))
        kLoops.push_back(loop);
    });
    for (scf::ForOp loop : kLoops) {
      loop->removeAttr(kKLoopMarker);
      hoistLoopInvariantSubsets(rewriter, cast<LoopLikeOpInterface>(loop.getOperation()));
    }
    RewritePatternSet folds(ctx);
    tensor::populateFoldTensorSubsetOpPatterns(folds);
    for (RegisteredOperationName op : ctx->getRegisteredOperations())
      op.getCanonicalizationPatterns(folds, ctx);
    if (failed(applyPatternsGreedily(func, std::move(folds))))
      return signalPassFailure();
    eliminateCommonSubExpressions(rewriter, dominance, func);
  }
};

} // namespace
