//===- GpuFuseElementwise.cpp - Elementwise fusion that keeps products ----===//
//
// See ftc-gpu-fuse-elementwise in Passes.td: upstream's patterns, under a
// control function that leaves products (cuBLASLt's) whole.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ftc {
#define GEN_PASS_DEF_GPUFUSEELEMENTWISE
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// Upstream's condition: the producer's result has this one use.
bool onlyUse(OpOperand *fused) {
  Operation *producer = fused->get().getDefiningOp();
  return producer && producer->hasOneUse();
}

/// The activation `op` computes (ftc-convert-train-to-linalg's
/// `ftc.activation`: GELU and its gradient), which
/// ftc-gpu-library-contractions hands to cuBLASLt's epilogue; null for
/// any other op.
StringAttr activationOf(Operation *op) {
  return op ? op->getAttrOfType<StringAttr>(ftc::kActivationAttr) : nullptr;
}

/// Whether `op` only changes the type of its input's elements: all
/// parallel, one input read as it is written, a body of casts.
bool castOnly(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumDpsInputs() != 1 || op.getNumResults() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops() ||
      !op.getMatchingIndexingMap(op.getDpsInputOperand(0)).isIdentity() ||
      !op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
    return false;
  return llvm::all_of(op.getBlock()->without_terminator(), [](Operation &inner) {
    return isa<arith::ExtFOp, arith::TruncFOp>(inner);
  });
}

/// A producer with other users fused into an elementwise consumer that
/// reads nothing else (a cast: attention's probabilities kept in f32 for
/// the backward and rounded to bf16 for their product): one kernel writes
/// both, and the cast no longer reads the probabilities back. Upstream's
/// pattern would compute the producer twice instead (it keeps the
/// producer for its other users and drops the fused op's copy of its
/// result); here those users read the fused op's, which comes before them.
struct FuseIntoOnlyReader : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    if (!consumer.hasPureTensorSemantics() || consumer.getNumDpsInputs() != 1 ||
        consumer.getNumLoops() != consumer.getNumParallelLoops() || activationOf(consumer))
      return failure();
    OpOperand *operand = consumer.getDpsInputOperand(0);
    auto producer = operand->get().getDefiningOp<linalg::GenericOp>();
    if (!producer || producer->hasOneUse() ||
        producer.getNumLoops() != producer.getNumParallelLoops() ||
        !consumer.getMatchingIndexingMap(operand).isIdentity() ||
        !linalg::areElementwiseOpsFusable(operand))
      return failure();
    for (Operation *user : producer->getUsers())
      if (user != consumer &&
          (user->getBlock() != consumer->getBlock() || !consumer->isBeforeInBlock(user)))
        return failure();
    FailureOr<linalg::ElementwiseOpFusionResult> fused =
        linalg::fuseElementwiseOps(rewriter, operand);
    if (failed(fused))
      return failure();
    for (auto [original, replacement] : fused->replacements)
      rewriter.replaceAllUsesWith(original, replacement);
    rewriter.eraseOp(consumer);
    rewriter.eraseOp(producer);
    return success();
  }
};

/// A cast fused into the activation that reads it (the rounding of a
/// product's f32 sums to bf16 before a GELU): upstream's fusion makes a new
/// op without the consumer's attributes, and the control function below
/// keeps every other producer out of an activation, so the fused op is
/// still that activation of its (rounded) inputs and keeps its
/// `ftc.activation`.
struct FuseCastIntoActivation : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp consumer,
                                PatternRewriter &rewriter) const override {
    StringAttr activation = activationOf(consumer);
    if (!activation)
      return failure();
    for (OpOperand *operand : consumer.getDpsInputOperands()) {
      auto producer = operand->get().getDefiningOp<linalg::GenericOp>();
      if (!producer || !producer->hasOneUse() || !castOnly(producer) ||
          !linalg::areElementwiseOpsFusable(operand))
        continue;
      FailureOr<linalg::ElementwiseOpFusionResult> fused =
          linalg::fuseElementwiseOps(rewriter, operand);
      if (failed(fused))
        return failure();
      fused->fusedOp->setAttr(ftc::kActivationAttr, activation);
      for (auto [original, replacement] : fused->replacements)
        rewriter.replaceAllUsesWith(original, replacement);
      rewriter.eraseOp(consumer);
      rewriter.eraseOp(producer);
      return success();
    }
    return failure();
  }
};

/// Whether `value` is (a slice or reshape of) the f32 result of a product
/// of `type` operands: a result that, where it is only read rounded to
/// `type`, the product writes in `type` itself (ftc-gpu-library-
/// contractions), so that reading it rounded costs no more than reading a
/// rounded copy.
bool productSummingInF32(Value value, Type type) {
  while (Operation *def = value.getDefiningOp()) {
    if (!isa<tensor::ExtractSliceOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(def))
      break;
    value = def->getOperand(0);
  }
  auto product = value.getDefiningOp<linalg::LinalgOp>();
  return product && linalg::isaContractionOpInterface(product) &&
         getElementTypeOrSelf(value.getType()).isF32() && product.getNumDpsInputs() == 2 &&
         llvm::all_of(product.getDpsInputs(),
                      [&](Value in) { return getElementTypeOrSelf(in.getType()) == type; });
}

/// Whether `map` reads a broadcast: some of the loops' dimensions, in
/// order (a row's mean under each of its elements, a weight over rows).
bool broadcastMap(AffineMap map) {
  if (map.getNumResults() >= map.getNumDims() || !map.isProjectedPermutation())
    return false;
  for (size_t i = 1; i < map.getNumResults(); ++i)
    if (map.getDimPosition(i - 1) >= map.getDimPosition(i))
      return false;
  return true;
}

/// Cheap to compute again in each consumer rather than write once and read
/// back: all parallel, one input read whole and no wider than the result
/// (or a product's f32 sums: see productSummingInF32), scalars and
/// broadcasts besides, a few arithmetic ops (attention's scale and causal
/// mask: a division by a scalar, a comparison of indices and a select,
/// whose result a softmax's maximum, sum and normalization all read; a
/// layer norm backward's x̂ = (x - mean) rstd and dy w, which its row sums
/// and its input gradient read: recomputed, they are never written).
bool cheapToRecompute(linalg::GenericOp op) {
  if (!op.hasPureTensorSemantics() || op.getNumResults() != 1 ||
      op.getNumLoops() != op.getNumParallelLoops())
    return false;
  int64_t whole = 0;
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0 || broadcastMap(map))
      continue;
    Type from = getElementTypeOrSelf(in->get().getType()),
         to = getElementTypeOrSelf(op->getResult(0).getType());
    // Narrower than its input only where that is a product's f32 sums,
    // which the product will write rounded (the logits in bf16).
    bool narrows = from.isIntOrFloat() && to.isIntOrFloat() &&
                   from.getIntOrFloatBitWidth() > to.getIntOrFloatBitWidth();
    if (!map.isPermutation() || !from.isIntOrFloat() || !to.isIntOrFloat() ||
        (narrows && !productSummingInF32(in->get(), to)))
      return false;
    ++whole;
  }
  if (whole != 1)
    return false;
  int64_t work = 0;
  for (Operation &inner : op.getBody()->without_terminator()) {
    if (isa<math::MathDialect>(inner.getDialect()))
      return false;
    if (!isa<linalg::IndexOp, arith::ConstantOp>(inner))
      ++work;
  }
  return work <= 4;
}

/// A cheap producer that computes each element from the same element of
/// its input alone (identity maps, scalars besides, no indices): one
/// element of its result is its body applied to that element of the input.
bool elementByElement(linalg::GenericOp op) {
  if (!cheapToRecompute(op) || !op.getBody()->getOps<linalg::IndexOp>().empty())
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    if (map.getNumResults() != 0 && !map.isIdentity())
      return false;
  }
  return true;
}

/// The groups of `reshape`'s reassociation, as groups of the dimensions of
/// the producer's result (its source for a collapse, its result for an
/// expansion) and of the other side.
struct Regrouping {
  SmallVector<ReassociationIndices> groups;
  bool collapse;
};

Regrouping regroupingOf(Operation *reshape) {
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(reshape))
    return {collapse.getReassociationIndices(), true};
  return {cast<tensor::ExpandShapeOp>(reshape).getReassociationIndices(), false};
}

/// The loops' dimensions (of the producer's result) a broadcast read of
/// `map` covers, as the groups of `r` they make up (on the producer's
/// side for a collapse, single dimensions for an expansion), or nothing
/// where they cut a group.
std::optional<SmallVector<int64_t>> groupsRead(AffineMap map, const Regrouping &r) {
  SmallVector<int64_t> read;
  llvm::SmallDenseSet<unsigned> dims;
  for (AffineExpr e : map.getResults())
    dims.insert(cast<AffineDimExpr>(e).getPosition());
  if (r.collapse) {
    // Source dimension d is in group g; a group read whole or not at all.
    for (auto [g, group] : llvm::enumerate(r.groups)) {
      int64_t in = llvm::count_if(group, [&](int64_t d) { return dims.contains(d); });
      if (in != 0 && in != static_cast<int64_t>(group.size()))
        return std::nullopt;
      if (in)
        read.push_back(g);
    }
    return read;
  }
  // An expansion: the producer's dimension g becomes the group's
  // dimensions; a read of it reads all of them.
  for (auto [g, group] : llvm::enumerate(r.groups))
    if (dims.contains(g))
      read.push_back(g);
  return read;
}

/// A cheap producer whose result the same op computes through a reshape:
/// no indices, its inputs each the whole result (identity), a scalar or a
/// broadcast whose dimensions `reshape` moves whole (a row's mean under a
/// collapse of [batch, row] into rows, read as the collapse of the means).
bool movesThrough(linalg::GenericOp op, Operation *reshape) {
  if (!cheapToRecompute(op) || !op.getBody()->getOps<linalg::IndexOp>().empty() ||
      !op.getMatchingIndexingMap(op.getDpsInitOperand(0)).isIdentity())
    return false;
  Regrouping r = regroupingOf(reshape);
  for (OpOperand *in : op.getDpsInputOperands()) {
    AffineMap map = op.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0 || map.isIdentity())
      continue;
    if (!broadcastMap(map) || !groupsRead(map, r))
      return false;
  }
  return true;
}

/// `reshape` (of `producer`'s result, movesThrough) replaced by `producer`
/// applied to the same reshape of its inputs, so that the consumers behind
/// the reshape get their own copies of it (the logits' cast to f32, read
/// as [rows, vocab] by the loss's reductions: each reads the 16-bit logits
/// instead of an f32 copy written for them; a layer norm's x̂ over [rows,
/// C], read as [batch, T, C]: its row means and rstd expanded the same).
void sinkThroughReshape(IRRewriter &rewriter, linalg::GenericOp producer, Operation *reshape) {
  rewriter.setInsertionPoint(reshape);
  Location loc = reshape->getLoc();
  MLIRContext *ctx = rewriter.getContext();
  Regrouping r = regroupingOf(reshape);
  auto resultType = cast<RankedTensorType>(reshape->getResult(0).getType());
  auto sourceType = cast<RankedTensorType>(reshape->getOperand(0).getType());
  unsigned rank = resultType.getRank();
  // `value` (read over the producer's dimensions in `read`, each a whole
  // group of the reshape's or, expanded, one) reshaped like the result,
  // with its map over the result's dimensions.
  auto reshaped = [&](Value value, ArrayRef<int64_t> read) -> std::pair<Value, AffineMap> {
    auto type = cast<RankedTensorType>(value.getType());
    SmallVector<ReassociationIndices> groups;
    SmallVector<int64_t> shape;
    SmallVector<AffineExpr> exprs;
    int64_t at = 0;
    for (int64_t g : read) {
      ReassociationIndices group;
      if (r.collapse) {
        // Producer dims of group g, collapsed into the result's dim g.
        for (size_t k = 0; k < r.groups[g].size(); ++k)
          group.push_back(at++);
        shape.push_back(resultType.getDimSize(g));
        exprs.push_back(getAffineDimExpr(g, ctx));
      } else {
        // Producer dim g, expanded into the result's dims of group g.
        for (int64_t d : r.groups[g]) {
          group.push_back(shape.size());
          shape.push_back(resultType.getDimSize(d));
          exprs.push_back(getAffineDimExpr(d, ctx));
        }
      }
      groups.push_back(group);
    }
    AffineMap map = AffineMap::get(rank, 0, exprs, ctx);
    auto newType = RankedTensorType::get(shape, type.getElementType());
    if (newType == type)
      return {value, map};
    if (r.collapse)
      return {tensor::CollapseShapeOp::create(rewriter, loc, newType, value, groups), map};
    return {tensor::ExpandShapeOp::create(rewriter, loc, newType, value, groups), map};
  };
  SmallVector<Value> inputs;
  SmallVector<AffineMap> maps;
  for (OpOperand *in : producer.getDpsInputOperands()) {
    AffineMap map = producer.getMatchingIndexingMap(in);
    if (map.getNumResults() == 0) {
      inputs.push_back(in->get());
      maps.push_back(AffineMap::get(rank, 0, {}, ctx));
      continue;
    }
    SmallVector<int64_t> read;
    if (map.isIdentity())
      read = llvm::to_vector(llvm::seq<int64_t>(0, r.collapse ? r.groups.size()
                                                              : sourceType.getRank()));
    else
      read = *groupsRead(map, r);
    auto [value, newMap] = reshaped(in->get(), read);
    inputs.push_back(value);
    maps.push_back(newMap);
  }
  maps.push_back(rewriter.getMultiDimIdentityMap(rank));
  Value init = tensor::EmptyOp::create(rewriter, loc, resultType.getShape(),
                                       resultType.getElementType());
  auto sunk = linalg::GenericOp::create(
      rewriter, loc, TypeRange{resultType}, inputs, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(rank, utils::IteratorType::parallel));
  rewriter.cloneRegionBefore(producer.getRegion(), sunk.getRegion(), sunk.getRegion().end());
  rewriter.replaceOp(reshape, sunk->getResults());
}

/// `extract` (of an element of `producer`'s result) computed from that
/// element of its input (the loss reads the logit of each row's target).
void computeExtracted(IRRewriter &rewriter, linalg::GenericOp producer,
                      tensor::ExtractOp extract) {
  rewriter.setInsertionPoint(extract);
  Location loc = extract.getLoc();
  IRMapping map;
  Block *body = producer.getBody();
  for (OpOperand *in : producer.getDpsInputOperands()) {
    bool scalar = producer.getMatchingIndexingMap(in).getNumResults() == 0;
    Value value = in->get();
    if (isa<RankedTensorType>(value.getType()))
      value = tensor::ExtractOp::create(rewriter, loc, value,
                                        scalar ? ValueRange{} : extract.getIndices());
    map.map(producer.getMatchingBlockArgument(in), value);
  }
  for (Operation &op : body->without_terminator())
    rewriter.clone(op, map);
  Value result = map.lookupOrDefault(body->getTerminator()->getOperand(0));
  rewriter.replaceOp(extract, result);
}

/// Whether `use` of a cheap producer is a consumer that takes a copy of
/// it: an elementwise or reduction generic it can fuse into, not a product.
bool fusesCopy(OpOperand &use) {
  auto consumer = dyn_cast<linalg::GenericOp>(use.getOwner());
  return consumer && !linalg::isaContractionOpInterface(consumer) &&
         linalg::areElementwiseOpsFusable(&use);
}

/// Such a producer with several users: a copy for each elementwise or
/// reduction consumer it can fuse into (not products), so that each copy
/// has one use and fuses; the original stays only for the users left.
/// One read through a reshape, or an element at a time, computes each
/// element from its input alone: it is moved past the reshape (and copied
/// into the consumers there) and computed for the element. Repeated, so
/// that a chain of them is copied whole. (A producer that reads its
/// indices is not moved past a reshape: attention's mask, whose indices the
/// reshape would change.)
void copyCheapProducers(Operation *root) {
  IRRewriter rewriter(root->getContext());
  for (bool changed = true; changed;) {
    changed = false;
    SmallVector<linalg::GenericOp> producers;
    root->walk([&](linalg::GenericOp op) {
      if (op->use_empty() || !cheapToRecompute(op))
        return;
      bool movable = llvm::any_of(op->getUsers(), [&](Operation *user) {
        if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user))
          return movesThrough(op, user);
        return isa<tensor::ExtractOp>(user) && elementByElement(op);
      });
      // One that reads a broadcast is copied only where every user takes
      // a copy: kept for some user, it would be written all the same, and
      // its copies would read its inputs again (the embeddings' sum, which
      // the backward keeps).
      bool broadcasts = llvm::any_of(op.getDpsInputOperands(), [&](OpOperand *in) {
        return broadcastMap(op.getMatchingIndexingMap(in));
      });
      if (broadcasts && !llvm::all_of(op->getUses(), [&](OpOperand &use) {
            Operation *user = use.getOwner();
            if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user))
              return movesThrough(op, user);
            return fusesCopy(use);
          }))
        return;
      if (!op->hasOneUse() || movable)
        producers.push_back(op);
    });
    for (linalg::GenericOp producer : producers) {
      for (OpOperand &use : llvm::make_early_inc_range(producer->getResult(0).getUses())) {
        Operation *user = use.getOwner();
        if (isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(user) &&
            movesThrough(producer, user)) {
          sinkThroughReshape(rewriter, producer, user);
          changed = true;
          continue;
        }
        if (auto extract = dyn_cast<tensor::ExtractOp>(user);
            extract && elementByElement(producer)) {
          computeExtracted(rewriter, producer, extract);
          changed = true;
          continue;
        }
        if (!fusesCopy(use))
          continue;
        rewriter.setInsertionPointAfter(producer);
        use.set(rewriter.clone(*producer)->getResult(0));
        changed = true;
      }
      if (producer->use_empty()) {
        rewriter.eraseOp(producer);
        changed = true;
      }
    }
  }
}

struct GpuFuseElementwisePass
    : public ftc::impl::GpuFuseElementwiseBase<GpuFuseElementwisePass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    copyCheapProducers(getOperation());
    RewritePatternSet patterns(ctx);
    // Nothing fuses into a product, nor into an activation but its casts
    // (FuseCastIntoActivation).
    linalg::ControlFusionFn keepProducts = [](OpOperand *fused) {
      auto consumer = dyn_cast<linalg::LinalgOp>(fused->getOwner());
      if (consumer && linalg::isaContractionOpInterface(consumer))
        return false;
      return !activationOf(fused->getOwner()) && onlyUse(fused);
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, keepProducts);
    patterns.add<FuseIntoOnlyReader, FuseCastIntoActivation>(ctx);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, onlyUse);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, onlyUse);
    GreedyRewriteConfig config;
    config.setUseTopDownTraversal(true);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      return signalPassFailure();
  }
};

} // namespace
