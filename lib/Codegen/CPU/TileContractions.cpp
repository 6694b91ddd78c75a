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
// bf16 products on a CPU with AVX512_BF16 (isa=avx512bf16) sum k in pairs
// instead: B packed [batch..., N/NR, K/2, NR, 2], A viewed (or packed) as
// [batch..., M/MR, MR, K/2, 2], and the register block's contraction
// lowered by x86vector's patterns to vdpbf16ps (see lowerBf16DotProducts).
// vdpbf16ps treats subnormal inputs as zero, flushes subnormal results and
// rounds after each product it adds: K roundings, as the FMAs.
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
#include "mlir/Dialect/Utils/IndexingUtils.h"
#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Dialect/X86Vector/Transforms.h"
#include "mlir/Dialect/X86Vector/Utils/X86VectorUtils.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
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

/// f32 lanes of one vdpbf16ps (a zmm register: 16 sums of 16 bf16 pairs).
constexpr int64_t kBf16DotLanes = 16;

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
/// of the tile. With `kPair`, into [batch..., rows/tile, K/2, tile, 2]
/// instead (k in pairs, the layout vdpbf16ps reads B in), or, when `tile`
/// is 0, into [batch..., rows, K/2, 2] (A's pairs, its rows not tiled).
linalg::PackOp packOperand(OpBuilder &b, Location loc, Value source, AffineMap map,
                           const Contraction &c, unsigned tiled, int64_t tile,
                           bool kPair = false) {
  SmallVector<int64_t> outerPerm;
  for (unsigned d : c.batch)
    outerPerm.push_back(resultPos(map, d));
  outerPerm.push_back(resultPos(map, tiled));
  outerPerm.push_back(resultPos(map, c.k));
  SmallVector<int64_t> innerPos;
  SmallVector<OpFoldResult> tiles;
  bool padded = false;
  if (tile > 0) {
    innerPos.push_back(resultPos(map, tiled));
    tiles.push_back(b.getIndexAttr(tile));
    padded = c.ranges[tiled] % tile != 0;
  }
  if (kPair) {
    innerPos.push_back(resultPos(map, c.k));
    tiles.push_back(b.getIndexAttr(2));
    padded = padded || c.ranges[c.k] % 2 != 0;
  }
  Value dest =
      linalg::PackOp::createDestinationTensor(b, loc, source, tiles, innerPos, outerPerm);
  std::optional<Value> padding;
  if (padded)
    padding = arith::ConstantOp::create(
                  b, loc, b.getFloatAttr(getElementTypeOrSelf(source.getType()), 0.0))
                  .getResult();
  return linalg::PackOp::create(b, loc, source, dest, innerPos, tiles, padding,
                                outerPerm);
}

/// A, bf16, as vdpbf16ps's products read it: [batch..., M/MR, MR, K/2, 2]
/// (each row's k pairs in order, so that one pair, 32 bits, is broadcast per
/// row and k pair). A row-major A of even K is that already, viewed in
/// place; any other is packed into [batch..., M, K/2, 2] (k zero-padded to
/// even) and viewed. MR divides M (see usesBf16Dot).
Value pairRowsOfA(OpBuilder &b, Location loc, Value source, AffineMap map,
                  const Contraction &c, int64_t mr, linalg::PackOp &pack) {
  int64_t numBatch = c.batch.size();
  SmallVector<unsigned> rowMajor(c.batch.begin(), c.batch.end());
  rowMajor.append({c.m, c.k});
  SmallVector<ReassociationIndices> reassociation;
  for (int64_t i = 0; i < numBatch; ++i)
    reassociation.push_back({i});
  SmallVector<int64_t> shape;
  for (unsigned d : c.batch)
    shape.push_back(c.ranges[d]);
  int64_t kPairs = llvm::divideCeil(c.ranges[c.k], 2);
  shape.append({c.ranges[c.m] / mr, mr, kPairs, 2});
  auto type = RankedTensorType::get(shape, b.getBF16Type());
  if (map == AffineMap::getMultiDimMapWithTargets(map.getNumDims(), rowMajor,
                                                  b.getContext()) &&
      c.ranges[c.k] % 2 == 0) {
    reassociation.push_back({numBatch, numBatch + 1});
    reassociation.push_back({numBatch + 2, numBatch + 3});
    pack = nullptr;
    return tensor::ExpandShapeOp::create(b, loc, type, source, reassociation);
  }
  pack = packOperand(b, loc, source, map, c, c.m, /*tile=*/0, /*kPair=*/true);
  reassociation.push_back({numBatch, numBatch + 1});
  reassociation.push_back({numBatch + 2});
  reassociation.push_back({numBatch + 3});
  return tensor::ExpandShapeOp::create(b, loc, type, pack.getResult(), reassociation);
}

/// C += A B over the packed operands: loops (batch..., mo, no, k, mr, nr).
/// `packedC` says whether C is packed [batch..., Mo, No, MR, NR] or viewed
/// as [batch..., Mo, MR, No, NR]. With `kPair`, k is pairs and loops are
/// (batch..., mo, no, ko, mr, nr, kk) over A [batch..., Mo, MR, K/2, 2] and
/// B [batch..., No, K/2, NR, 2]: the VNNI layout, whose vectorized
/// contraction x86vector's patterns lower to vdpbf16ps. Multiplies and adds
/// may contract to FMA.
linalg::GenericOp buildPackedProduct(OpBuilder &b, Location loc, Value a, Value bp,
                                     Value cInit, bool packedC, int64_t numBatch,
                                     bool kPair = false) {
  MLIRContext *ctx = b.getContext();
  int64_t rank = numBatch + 5 + kPair;
  unsigned mo = numBatch, no = numBatch + 1, k = numBatch + 2, mr = numBatch + 3,
           nr = numBatch + 4, kk = numBatch + 5;
  auto map = [&](ArrayRef<unsigned> inner) {
    SmallVector<unsigned> dims;
    for (unsigned i = 0; i < numBatch; ++i)
      dims.push_back(i);
    dims.append(inner.begin(), inner.end());
    return AffineMap::getMultiDimMapWithTargets(rank, dims, ctx);
  };
  SmallVector<AffineMap> maps{kPair ? map({mo, mr, k, kk}) : map({mo, k, mr}),
                              kPair ? map({no, k, nr, kk}) : map({no, k, nr}),
                              packedC ? map({mo, no, mr, nr}) : map({mo, mr, no, nr})};
  SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
  iterators[k] = utils::IteratorType::reduction;
  if (kPair)
    iterators[kk] = utils::IteratorType::reduction;
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

/// Packs of at least this many elements run in parallel blocks of rows.
constexpr int64_t kParallelPackElements = 1 << 16;

/// Tiles a pack into [1..., rows, 8] blocks of its outer dimensions (the k
/// dimension, or its pairs, 8 at a time; `kOuter` puts the k loop outside)
/// and vectorizes each block (masked where the source ends inside it). A
/// large pack is first split along its rows into parallel blocks (about 16,
/// each a whole number of `rows`): a copy, the same bits on any number of
/// threads, and otherwise serial work beside the product's parallel blocks
/// (gpt2-tiny's LM head gradient packs 4M elements).
LogicalResult tileAndVectorizePack(RewriterBase &rewriter, linalg::PackOp pack,
                                   bool kOuter, int64_t rows = 1) {
  ArrayRef<int64_t> innerTiles = pack.getStaticInnerTiles();
  int64_t numOuter = pack.getDestType().getRank() - innerTiles.size(); // batch..., rows, K
  ArrayRef<int64_t> outer = pack.getDestType().getShape().take_front(numOuter);
  int64_t rowBlocks = outer[numOuter - 2] / rows;
  if (pack.getDestType().getNumElements() >= kParallelPackElements && rowBlocks > 1 &&
      outer[numOuter - 2] % rows == 0) {
    int64_t chunk = std::max<int64_t>(1, rowBlocks / 16);
    while (rowBlocks % chunk != 0)
      --chunk;
    SmallVector<int64_t> parallelSizes(numOuter, 0);
    parallelSizes[numOuter - 2] = chunk * rows;
    FailureOr<scf::SCFTilingResult> blocks =
        tile(rewriter, pack, parallelSizes, {}, /*parallel=*/true);
    if (failed(blocks))
      return failure();
    pack = cast<linalg::PackOp>(blocks->tiledOps.back());
  }
  SmallVector<int64_t> sizes(numOuter, 1);
  sizes[numOuter - 2] = rows;
  sizes.back() = 8;
  SmallVector<int64_t> interchange;
  if (kOuter) {
    for (int64_t i = 0; i < numOuter - 2; ++i)
      interchange.push_back(i);
    interchange.append({numOuter - 1, numOuter - 2});
  }
  SmallVector<int64_t> vectorSizes(sizes);
  vectorSizes.append(innerTiles.begin(), innerTiles.end());
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

/// Whether `c`, with register tile `rt`, runs on the instruction set's bf16
/// dot product: bf16 A and B, a tile of whole vdpbf16ps vectors, and rows
/// of A that need no padding (the rows split off an M the tile does not
/// divide widen instead, a few rows at most).
bool usesBf16Dot(const Contraction &c, RegisterTile rt, const TileConfig &cfg) {
  linalg::LinalgOp op = c.op;
  auto isBf16 = [](Value v) { return getElementTypeOrSelf(v.getType()).isBF16(); };
  return cfg.bf16Dot && isBf16(op.getDpsInputs()[0]) && isBf16(op.getDpsInputs()[1]) &&
         rt.nr % kBf16DotLanes == 0 &&
         c.ranges[c.m] % rt.mr == 0;
}

/// A packed 16-bit operand as f32 (an elementwise arith.extf); f32 as is.
Value widenPacked(RewriterBase &rewriter, Location loc, Value packed) {
  auto type = cast<RankedTensorType>(packed.getType());
  if (type.getElementType().isF32())
    return packed;
  auto wide = type.clone(rewriter.getF32Type());
  Value init = tensor::EmptyOp::create(rewriter, loc, wide.getShape(), wide.getElementType());
  AffineMap id = rewriter.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(), utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             rewriter, loc, TypeRange{wide}, ValueRange{packed}, ValueRange{init},
             SmallVector<AffineMap>{id, id}, iterators,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               linalg::YieldOp::create(
                   nb, nl, ValueRange{arith::ExtFOp::create(nb, nl, nb.getF32Type(), args[0])
                                          .getResult()});
             })
      .getResult(0);
}

/// The whole schedule for one contraction with register tile `rt`.
LogicalResult scheduleContraction(RewriterBase &rewriter, const Contraction &c,
                                  RegisterTile rt, const TileConfig &cfg) {
  linalg::LinalgOp op = c.op;
  Location loc = op.getLoc();
  rewriter.setInsertionPoint(op);
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  int64_t numBatch = c.batch.size();
  int64_t mSize = c.ranges[c.m], nSize = c.ranges[c.n];
  // With bf16 dot products the k loops step over pairs of k.
  bool kPair = usesBf16Dot(c, rt, cfg);
  int64_t kSize = kPair ? llvm::divideCeil(c.ranges[c.k], 2) : c.ranges[c.k];
  int64_t kuMax = kPair ? 2 : 4, kcMax = kPair ? cfg.kc / 2 : cfg.kc;
  int64_t ku = kSize % kuMax == 0 ? kuMax : kSize % 2 == 0 ? 2 : 1;
  int64_t kc = dividingTile(kSize, ku, kcMax);

  linalg::PackOp packA, packB;
  Value a;
  if (kPair) {
    a = pairRowsOfA(rewriter, loc, op.getDpsInputs()[0], maps[0], c, rt.mr, packA);
  } else {
    packA = packOperand(rewriter, loc, op.getDpsInputs()[0], maps[0], c, c.m, rt.mr);
    a = packA.getResult();
  }
  packB = packOperand(rewriter, loc, op.getDpsInputs()[1], maps[1], c, c.n, rt.nr, kPair);
  Value b = packB.getResult();
  // 16-bit operands without the dot product: widened to f32 once, after
  // packing (exact), so the register blocks run the f32 kernel; widening
  // them there would convert each element once per register block.
  if (!kPair) {
    a = widenPacked(rewriter, loc, a);
    b = widenPacked(rewriter, loc, b);
  }

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
  linalg::GenericOp product =
      buildPackedProduct(rewriter, loc, a, b, cOperand, packedC, numBatch, kPair);
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
  // then k by KU (k pairs by KU / 2).
  int64_t mo = numBatch, no = numBatch + 1, k = numBatch + 2;
  int64_t rank = product.getNumLoops();
  SmallVector<int64_t> blockSizes(rank, 0);
  std::fill_n(blockSizes.begin(), numBatch, 1);
  blockSizes[mo] = ftc::cpu::evenBlocks(product.getStaticLoopRanges()[mo],
                                        std::max<int64_t>(1, cfg.mc / rt.mr));
  blockSizes[no] = std::max<int64_t>(1, cfg.nc / rt.nr);
  FailureOr<scf::SCFTilingResult> blocks =
      tile(rewriter, product, blockSizes, {}, /*parallel=*/true);
  if (failed(blocks))
    return emitError(loc, "cannot tile the packed product into parallel blocks");
  SmallVector<int64_t> kcSizes(rank, 0);
  kcSizes[k] = kc;
  FailureOr<scf::SCFTilingResult> cache = tile(rewriter, blocks->tiledOps.back(), kcSizes);
  if (failed(cache))
    return emitError(loc, "cannot tile the packed product into cache blocks");
  SmallVector<int64_t> registerSizes(rank, 0), registerOrder;
  registerSizes[mo] = registerSizes[no] = 1;
  for (int64_t i = 0; i < numBatch; ++i)
    registerOrder.push_back(i);
  registerOrder.append({no, mo, k});
  for (int64_t i = k + 1; i < rank; ++i)
    registerOrder.push_back(i);
  FailureOr<scf::SCFTilingResult> regs =
      tile(rewriter, cache->tiledOps.back(), registerSizes, registerOrder);
  if (failed(regs))
    return emitError(loc, "cannot tile the packed product into register blocks");
  SmallVector<int64_t> kSizes(rank, 0);
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
  // k pairs keep their k dimension, even a unit one: x86vector's lowering
  // to vdpbf16ps recognizes the pairs by it (the VNNI layout).
  if (kPair)
    drop.controlFn = [k](Operation *op) {
      SmallVector<unsigned> dims;
      for (unsigned d = 0, e = cast<linalg::LinalgOp>(op).getNumLoops(); d < e; ++d)
        if (d != k)
          dims.push_back(d);
      return dims;
    };
  FailureOr<linalg::DropUnitDimsResult> dropped = linalg::dropUnitDims(rewriter, block, drop);
  Operation *kernel = block;
  if (succeeded(dropped)) {
    rewriter.replaceOp(block, dropped->replacements);
    kernel = dropped->resultOp;
  }
  if (failed(vectorizeAndReplace(rewriter, kernel)))
    return emitError(loc, "cannot vectorize the register block");

  // A's pairs packed from an A whose rows are its source's columns (a
  // weight gradient's g^T) 16 rows at a time: 16 contiguous elements per k.
  int64_t rowsOfA =
      kPair && resultPos(maps[0], c.m) == maps[0].getNumResults() - 1 ? 16 : 1;
  if ((packA && failed(tileAndVectorizePack(rewriter, packA, /*kOuter=*/false, rowsOfA))) ||
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

/// `v`, a 1-D vector cast from a contiguous slice of a shape_cast of rows R
/// (a vector whose last dimension is a row), as the same elements sliced
/// from one row of R: shape_cast(extract_strided_slice(shape_cast(R)))
/// becomes shape_cast(extract_strided_slice(R)); null if the slice is not
/// contiguous or crosses a row.
Value sliceOfRow(RewriterBase &rewriter, Value v) {
  auto flat = v.getDefiningOp<vector::ShapeCastOp>();
  if (!flat || flat.getResultVectorType().getRank() != 1)
    return {};
  auto slice = flat.getSource().getDefiningOp<vector::ExtractStridedSliceOp>();
  if (!slice || slice.hasNonUnitStrides())
    return {};
  auto cast = slice.getSource().getDefiningOp<vector::ShapeCastOp>();
  if (!cast)
    return {};
  ArrayRef<int64_t> shape = cast.getResultVectorType().getShape();
  SmallVector<int64_t> offsets = getI64SubArray(slice.getOffsets());
  SmallVector<int64_t> sizes = getI64SubArray(slice.getSizes());
  offsets.resize(shape.size(), 0);
  sizes.append(shape.begin() + sizes.size(), shape.end());
  // Contiguous: unit sizes, then one partial dimension, then whole ones.
  auto partial = llvm::find_if(sizes, [](int64_t s) { return s != 1; });
  for (auto it = partial == sizes.end() ? partial : std::next(partial); it != sizes.end();
       ++it)
    if (*it != shape[it - sizes.begin()])
      return {};
  int64_t offset = linearize(offsets, computeStrides(shape));
  int64_t size = computeProduct(sizes);
  VectorType rowsType = cast.getSourceVectorType();
  int64_t row = rowsType.getShape().back();
  if (offset % row + size > row)
    return {};
  SmallVector<int64_t> rowOffsets =
      delinearize(offset / row, computeStrides(rowsType.getShape().drop_back()));
  rowOffsets.push_back(offset % row);
  SmallVector<int64_t> rowSizes(rowsType.getRank() - 1, 1);
  rowSizes.push_back(size);
  rewriter.setInsertionPoint(flat);
  Value part = vector::ExtractStridedSliceOp::create(
      rewriter, flat.getLoc(), cast.getSource(), rowOffsets, rowSizes,
      SmallVector<int64_t>(rowSizes.size(), 1));
  return vector::ShapeCastOp::create(rewriter, flat.getLoc(), flat.getResultVectorType(),
                                     part);
}

/// The register blocks' bf16 contractions over k pairs (the VNNI layout,
/// bf16 widened to the f32 accumulator) as vdpbf16ps: the widening folded
/// into the contraction, which is unrolled into one row of A by 16 columns
/// of B (one k pair), each x86vector.avx512.dot (a broadcast pair of A
/// times 16 pairs of B). Only the blocks scheduled for it: the rows split
/// off an M the tile does not divide keep their widening contraction,
/// which the fold would otherwise turn into a mixed-type one.
LogicalResult lowerBf16DotProducts(func::FuncOp func) {
  auto isBf16Widened = [](Value v) {
    auto ext = v.getDefiningOp<arith::ExtFOp>();
    return ext && getElementTypeOrSelf(ext.getIn().getType()).isBF16();
  };
  SmallVector<Operation *> contracts;
  func.walk([&](vector::ContractionOp op) {
    if (isBf16Widened(op.getLhs()) && isBf16Widened(op.getRhs()) &&
        x86vector::isInVnniLayout(op, op.getIndexingMapsArray(), /*blockingFactor=*/2))
      contracts.push_back(op);
  });
  if (contracts.empty())
    return success();
  MLIRContext *ctx = func.getContext();
  GreedyRewriteConfig config;
  config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
  RewritePatternSet fold(ctx);
  vector::populateFoldArithExtensionPatterns(fold);
  if (failed(applyOpPatternsGreedily(contracts, std::move(fold), config)))
    return failure();
  // The folded contractions (new ops), bf16 now.
  contracts.clear();
  func.walk([&](vector::ContractionOp op) {
    if (op.getLhsType().getElementType().isBF16())
      contracts.push_back(op);
  });

  // B's pairs read as rows: a [..., KU/2, NR, 2] read of the packed B is
  // unrolled into 2-element loads below (vector-to-scf), which LLVM does not
  // merge; the same read of the pack with its last two dimensions collapsed
  // is KU/2 loads of NR pairs. (Upstream's flattening of contiguous
  // transfers, populateFlattenVectorTransferPatterns, works on memrefs; the
  // products are still tensors here.)
  IRRewriter rewriter(ctx);
  for (Operation *op : contracts) {
    auto read = cast<vector::ContractionOp>(op).getRhs().getDefiningOp<vector::TransferReadOp>();
    if (!read || read.hasOutOfBoundsDim() || read.getMask() ||
        !read.getPermutationMap().isMinorIdentity())
      continue;
    auto source = dyn_cast<RankedTensorType>(read.getBase().getType());
    VectorType vector = read.getVectorType();
    int64_t rank = source ? source.getRank() : 0;
    if (!source || vector.getRank() < 2 ||
        source.getShape().take_back(2) != vector.getShape().take_back(2) ||
        !isZeroInteger(Value(read.getIndices().back())) ||
        !isZeroInteger(Value(read.getIndices().end()[-2])))
      continue;
    rewriter.setInsertionPoint(read);
    SmallVector<ReassociationIndices> collapse;
    for (int64_t i = 0; i < rank - 2; ++i)
      collapse.push_back({i});
    collapse.push_back({rank - 2, rank - 1});
    Location loc = read.getLoc();
    Value rows = tensor::CollapseShapeOp::create(rewriter, loc, read.getBase(), collapse);
    SmallVector<int64_t> rowShape(vector.getShape().drop_back(2));
    rowShape.push_back(vector.getShape().end()[-2] * vector.getShape().back());
    SmallVector<Value> indices(read.getIndices().drop_back());
    Value rowRead = vector::TransferReadOp::create(
        rewriter, loc, VectorType::get(rowShape, vector.getElementType()), rows, indices,
        read.getPadding(), SmallVector<bool>(rowShape.size(), true));
    rewriter.replaceOpWithNewOp<vector::ShapeCastOp>(read, vector, rowRead);
  }

  // One dot product per row and 16 columns: the pair of A (the last
  // dimension of its map) whole, 16 of the columns (the accumulator's
  // last), every other dimension one at a time.
  vector::UnrollVectorOptions unroll;
  unroll.setNativeShapeFn([](Operation *op) -> std::optional<SmallVector<int64_t>> {
    auto contract = cast<vector::ContractionOp>(op);
    SmallVector<AffineMap> maps = contract.getIndexingMapsArray();
    SmallVector<int64_t> shape(maps[0].getNumDims(), 1);
    shape[maps[0].getDimPosition(maps[0].getNumResults() - 1)] = 2;
    shape[maps[2].getDimPosition(maps[2].getNumResults() - 1)] = kBf16DotLanes;
    return shape;
  });
  unroll.setFilterConstraint([](Operation *op) {
    auto contract = dyn_cast<vector::ContractionOp>(op);
    return success(contract && contract.getLhsType().getElementType().isBF16());
  });
  RewritePatternSet dots(ctx);
  vector::populateVectorUnrollPatterns(dots, unroll);
  x86vector::populateVectorContractToPackedTypeDotProductPatterns(dots);
  // The folded contractions only (ops the patterns create included).
  if (failed(applyOpPatternsGreedily(contracts, std::move(dots), config)))
    return failure();
  // Each dot product's 16 pairs of B, a slice of the [KU/2, NR, 2] shape of
  // the rows read above, as the slice of a row it is.
  func.walk([&](x86vector::DotBF16Op dot) {
    for (OpOperand &operand : dot->getOpOperands())
      if (Value row = sliceOfRow(rewriter, operand.get()))
        rewriter.modifyOpInPlace(dot, [&] { operand.set(row); });
  });
  bool left = false;
  func.walk([&](vector::ContractionOp op) {
    if (op.getLhsType().getElementType().isBF16())
      left = true, op.emitError("bf16 contraction not lowered to vdpbf16ps");
  });
  return failure(left);
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
    if (failed(lowerBf16DotProducts(func)))
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
    transposeBf16AsI16(rewriter, func);
  }

  /// The packing's transposes of bf16 blocks moved to their bits (i16
  /// lanes): the same permutation. LLVM 22's X86 back end cannot select
  /// some 256-bit shuffles of bf16 vectors (VPERM2X128 on v16bf16) on CPUs
  /// with AVX512_BF16 but without AVX512_FP16 (Cooper Lake, Zen 4), and
  /// crashes ("Cannot select"); on i16 vectors it can.
  static void transposeBf16AsI16(IRRewriter &rewriter, func::FuncOp func) {
    SmallVector<vector::TransposeOp> transposes;
    func.walk([&](vector::TransposeOp op) {
      if (op.getResultVectorType().getElementType().isBF16())
        transposes.push_back(op);
    });
    for (vector::TransposeOp op : transposes) {
      rewriter.setInsertionPoint(op);
      auto bits = [&](VectorType type) { return type.clone(rewriter.getI16Type()); };
      Location loc = op.getLoc();
      Value in = arith::BitcastOp::create(rewriter, loc, bits(op.getSourceVectorType()),
                                          op.getVector());
      Value moved = vector::TransposeOp::create(rewriter, loc, in, op.getPermutation());
      rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, op.getResultVectorType(), moved);
    }
  }
};

} // namespace
