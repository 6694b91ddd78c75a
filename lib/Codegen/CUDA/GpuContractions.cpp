//===- GpuContractions.cpp - Matrix products as cuBLASLt calls ------------===//
//
// A matrix product as ftc-gpu-map-loops maps it is one thread per result
// element, summing its row of A times its column of B from global memory:
// no tensor cores, no reuse through shared memory. On an H100 that is two
// orders of magnitude below what the card does for the products that make
// most of a transformer's step. This pass hands each product the runtime's
// BLAS can take to it instead: a call `ftcrt_gemm(desc, a, b, c, bias)` that
// lib/Runtime/Cuda.cpp runs with cuBLASLt on the step's stream.
//
// Why cuBLASLt and not generated tensor-core code: MLIR 22's nvgpu path to
// WGMMA needs the tiling, the TMA descriptors and the warp specialization
// written out per shape (its tests are hand-built kernels); cuBLASLt has them
// for every shape, layout and 16-bit type, tuned per GPU, deterministic on a
// given GPU with one stream and our workspace. It is loaded with dlopen, as
// the driver is, so step.so still links without CUDA.
//
// The products are linalg contractions on buffers (linalg.contract, and the
// generics elementwise fusion makes of them by folding reshapes in, with
// several m, n or k dimensions); each kind of dimension must collapse into
// one stride per operand (attention's [batch, head] do, a head's [h, d]). Each operand's element strides come from
// its memref type, so views (a head's slice, a transposed weight) are read
// in place. What cuBLAS cannot read (no unit stride in a matrix) stays a
// linalg op and becomes a kernel.
//
//===----------------------------------------------------------------------===//

#include "BufferUses.h"
#include "ftc/Codegen/Gemm.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace ftc {
#define GEN_PASS_DEF_GPULIBRARYCONTRACTIONS
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
namespace gemm = ftc::gemm;

namespace {

std::optional<gemm::Elem> elemOf(Type t) {
  if (t.isF32())
    return gemm::Elem::F32;
  if (t.isBF16())
    return gemm::Elem::BF16;
  if (t.isF16())
    return gemm::Elem::F16;
  return std::nullopt;
}

/// The element strides of `operand` along each loop dimension of `op` (0
/// where it does not index it), or nothing for a layout with dynamic
/// strides.
std::optional<SmallVector<int64_t>> loopStrides(linalg::LinalgOp op, OpOperand &operand) {
  auto type = dyn_cast<MemRefType>(operand.get().getType());
  if (!type || !type.hasStaticShape())
    return std::nullopt;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) ||
      llvm::any_of(strides, ShapedType::isDynamic))
    return std::nullopt;
  AffineMap map = op.getMatchingIndexingMap(&operand);
  if (!map.isProjectedPermutation(/*allowZeroInResults=*/false))
    return std::nullopt;
  SmallVector<int64_t> byLoop(op.getNumLoops(), 0);
  for (auto [r, expr] : llvm::enumerate(map.getResults()))
    byLoop[cast<AffineDimExpr>(expr).getPosition()] = strides[r];
  return byLoop;
}

/// The descriptor (ftc/Codegen/Gemm.h) of the product `op` (beta 0), or
/// nothing where it is not one cuBLAS computes.
std::optional<SmallVector<int64_t>> describe(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      !linalg::isaContractionOpInterface(op))
    return std::nullopt;
  FailureOr<linalg::ContractionDimensions> dims = linalg::inferContractionDims(op);
  if (failed(dims) || dims->m.empty() || dims->n.empty() || dims->k.empty())
    return std::nullopt;
  OpOperand &a = *op.getDpsInputOperand(0), &b = *op.getDpsInputOperand(1),
            &c = *op.getDpsInitOperand(0);
  std::optional<gemm::Elem> ta = elemOf(getElementTypeOrSelf(a.get().getType())),
                            tb = elemOf(getElementTypeOrSelf(b.get().getType())),
                            tc = elemOf(getElementTypeOrSelf(c.get().getType()));
  if (!ta || ta != tb || tc != gemm::Elem::F32)
    return std::nullopt;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (llvm::any_of(ranges, ShapedType::isDynamic))
    return std::nullopt;
  std::optional<SmallVector<int64_t>> sa = loopStrides(op, a), sb = loopStrides(op, b),
                                      sc = loopStrides(op, c);
  if (!sa || !sb || !sc)
    return std::nullopt;
  // Each kind of dimension (batch, m, n, k) as one: its flat index (over
  // the dimensions in loop order, the last fastest) steps each operand by
  // the stride of the innermost, so every outer one must be the inner
  // one's stride times its size. (Elementwise fusion folds reshapes into
  // products: a head's [h, d] reduced together, a [batch, t] of rows.)
  struct Group {
    int64_t size = 1, a = 0, b = 0, c = 0;
  };
  auto group = [&](ArrayRef<unsigned> all) -> std::optional<Group> {
    SmallVector<unsigned> dimsOf;
    for (unsigned d : all)
      if (ranges[d] != 1)
        dimsOf.push_back(d);
    Group g;
    for (unsigned d : dimsOf)
      g.size *= ranges[d];
    if (dimsOf.empty())
      return g;
    for (ArrayRef<int64_t> s : {ArrayRef<int64_t>(*sa), ArrayRef<int64_t>(*sb),
                                ArrayRef<int64_t>(*sc)})
      for (size_t i = 0; i + 1 < dimsOf.size(); ++i)
        if (s[dimsOf[i]] != s[dimsOf[i + 1]] * ranges[dimsOf[i + 1]])
          return std::nullopt;
    g.a = (*sa)[dimsOf.back()], g.b = (*sb)[dimsOf.back()], g.c = (*sc)[dimsOf.back()];
    return g;
  };
  std::optional<Group> batch = group(dims->batch), m = group(dims->m), n = group(dims->n),
                       k = group(dims->k);
  if (!batch || !m || !n || !k)
    return std::nullopt;
  SmallVector<int64_t> desc(gemm::kFieldCount, 0);
  desc[gemm::kVersion] = gemm::kDescriptorVersion;
  desc[gemm::kOperandType] = static_cast<int64_t>(*ta);
  desc[gemm::kResultType] = static_cast<int64_t>(*tc);
  desc[gemm::kBatch] = batch->size;
  desc[gemm::kM] = m->size;
  desc[gemm::kN] = n->size;
  desc[gemm::kK] = k->size;
  desc[gemm::kStrideAB] = batch->a;
  desc[gemm::kStrideAM] = m->a;
  desc[gemm::kStrideAK] = k->a;
  desc[gemm::kStrideBB] = batch->b;
  desc[gemm::kStrideBK] = k->b;
  desc[gemm::kStrideBN] = n->b;
  desc[gemm::kStrideCB] = batch->c;
  desc[gemm::kStrideCM] = m->c;
  desc[gemm::kStrideCN] = n->c;
  if (!gemm::toColumnMajor(desc.data()))
    return std::nullopt;
  return desc;
}

/// The zero fill of `op`'s result (of the same elements: the result or a
/// reshape of it) that nothing reads or writes between it and `op`, if
/// there is one.
linalg::FillOp zeroFillBefore(linalg::LinalgOp op) {
  linalg::FillOp fill =
      ftc::cuda::fillRightBefore(op, op.getDpsInitOperand(0)->get(), /*throughReshapes=*/true);
  return fill && matchPattern(fill.getInputs()[0], m_AnyZeroFloat()) ? fill : nullptr;
}

/// A product's f32 result that is only ever read rounded to its operands'
/// 16-bit type: a linear's output under --precision=bf16 (the product sums
/// in f32 into a buffer that holds the bias, then a kernel rounds it), a
/// backward product's gradient of a 16-bit value. cuBLASLt writes it in
/// that type itself, rounding each f32 sum once as the kernels did, and
/// reads the bias in that type too (it was one: the f32 buffer held it
/// extended). Half the bytes written, read and kept for each such result.
struct Narrowing {
  memref::AllocOp alloc;              // the result's f32 buffer
  Type type;                          // bf16 or f16: the operands' type
  linalg::GenericOp writer;           // sets it before the product (the bias), if any
  SmallVector<Operation *> views;     // views of it, each after its source
  SmallVector<OpOperand *> reads;     // generics' inputs that read it rounded
  SmallVector<memref::LoadOp> loads;  // loads of an element, rounded (in a kernel's body)
  SmallVector<memref::DeallocOp> deallocs;
};

/// Whether product `op`'s result (zero-filled by `fill`, or not) can be
/// written in its operands' 16-bit type: its buffer is a temporary of the
/// product's block that is, besides views and its deallocation, written
/// only by the product and by one generic before it that stores 16-bit
/// values extended, and read only after it, by generics that round each
/// element they read to that type before anything else.
std::optional<Narrowing> narrowable(linalg::LinalgOp op, linalg::FillOp fill) {
  Type type = getElementTypeOrSelf(op.getDpsInputOperand(0)->get().getType());
  if (!type.isBF16() && !type.isF16())
    return std::nullopt;
  OpOperand *init = op.getDpsInitOperand(0);
  auto alloc = memref::skipViewLikeOps(cast<MemrefValue>(init->get()))
                   .getDefiningOp<memref::AllocOp>();
  Block *block = op->getBlock();
  if (!alloc || alloc->getBlock() != block)
    return std::nullopt;
  Narrowing n{alloc, type, nullptr, {}, {}, {}, {}};
  auto roundedOnly = [&](Value v) {
    return llvm::all_of(v.getUsers(), [&](Operation *user) {
      return isa<arith::TruncFOp>(user) && user->getResult(0).getType() == type;
    });
  };
  SmallVector<Value> work{alloc.getResult()};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      // An element loaded and rounded, in the body of an op after the
      // product (the loss's logit of each row's target).
      if (auto load = dyn_cast<memref::LoadOp>(user)) {
        Operation *outer = block->findAncestorOpInBlock(*load);
        if (!outer || !op->isBeforeInBlock(outer) || !roundedOnly(load.getResult()))
          return std::nullopt;
        n.loads.push_back(load);
        continue;
      }
      if (user->getBlock() != block)
        return std::nullopt;
      if (isa<memref::SubViewOp, memref::ExpandShapeOp, memref::CollapseShapeOp,
              memref::TransposeOp, memref::CastOp>(user)) {
        n.views.push_back(user);
        work.push_back(user->getResult(0));
        continue;
      }
      if (user == op.getOperation() && &use == init)
        continue;
      if (fill && user == fill.getOperation())
        continue;
      if (auto dealloc = dyn_cast<memref::DeallocOp>(user)) {
        n.deallocs.push_back(dealloc);
        continue;
      }
      auto generic = dyn_cast<linalg::GenericOp>(user);
      if (!generic || !generic.hasPureBufferSemantics())
        return std::nullopt;
      BlockArgument arg = generic.getMatchingBlockArgument(&use);
      if (generic.isDpsInit(&use)) {
        // The writer: stores extended 16-bit values, reads none of C.
        auto ext = generic.getMatchingYieldValue(&use)->get().getDefiningOp<arith::ExtFOp>();
        if (n.writer || !user->isBeforeInBlock(op) || !arg.use_empty() || !ext ||
            ext.getIn().getType() != type)
          return std::nullopt;
        n.writer = generic;
        continue;
      }
      if (!op->isBeforeInBlock(user) || !roundedOnly(arg))
        return std::nullopt;
      n.reads.push_back(&use);
    }
  }
  // The views were found source first: each one's source is the buffer or
  // a view before it in the list.
  return n;
}

/// `n`'s buffer in its 16-bit type: a new buffer, its views, the writer
/// and the readers moved onto it (storing the 16-bit values, reading them
/// without rounding). Returns what `value` (the buffer or a view of it)
/// became. The old buffer and its views are left for the caller to erase,
/// once the product and its fill are gone.
Value narrow(Narrowing &n, Value value) {
  OpBuilder b(n.alloc);
  b.setInsertionPointAfter(n.alloc);
  MemRefType oldType = n.alloc.getType();
  auto alloc = memref::AllocOp::create(
      b, n.alloc.getLoc(), MemRefType(MemRefType::Builder(oldType).setElementType(n.type)),
      n.alloc.getDynamicSizes(), n.alloc.getSymbolOperands(), n.alloc.getAlignmentAttr());
  IRMapping map;
  map.map(n.alloc.getResult(), alloc.getResult());
  for (Operation *view : n.views) {
    OpBuilder vb(view);
    Operation *clone = vb.clone(*view, map);
    clone->getResult(0).setType(
        MemRefType::Builder(cast<MemRefType>(view->getResult(0).getType()))
            .setElementType(n.type));
    map.map(view->getResult(0), clone->getResult(0));
  }
  if (n.writer) {
    for (OpOperand &out : n.writer.getDpsInitsMutable()) {
      if (!map.contains(out.get()))
        continue;
      n.writer.getMatchingBlockArgument(&out).setType(n.type);
      OpOperand *yielded = n.writer.getMatchingYieldValue(&out);
      auto ext = yielded->get().getDefiningOp<arith::ExtFOp>();
      yielded->set(ext.getIn());
      if (ext->use_empty())
        ext->erase();
      out.set(map.lookup(out.get()));
    }
  }
  for (OpOperand *read : n.reads) {
    BlockArgument arg =
        cast<linalg::LinalgOp>(read->getOwner()).getMatchingBlockArgument(read);
    arg.setType(n.type);
    for (Operation *trunc : llvm::make_early_inc_range(arg.getUsers())) {
      trunc->getResult(0).replaceAllUsesWith(arg);
      trunc->erase();
    }
    read->set(map.lookup(read->get()));
  }
  for (memref::LoadOp load : n.loads) {
    load.getMemrefMutable().set(map.lookup(load.getMemref()));
    load.getResult().setType(n.type);
    for (Operation *trunc : llvm::make_early_inc_range(load.getResult().getUsers())) {
      trunc->getResult(0).replaceAllUsesWith(load.getResult());
      trunc->erase();
    }
  }
  for (memref::DeallocOp dealloc : n.deallocs)
    dealloc->setOperand(0, map.lookup(dealloc.getMemref()));
  return map.lookup(value);
}

/// Erases `n`'s old buffer and views, which nothing uses any more.
void eraseOld(Narrowing &n) {
  for (Operation *view : llvm::reverse(n.views))
    view->erase();
  n.alloc->erase();
}

/// The bias broadcast into product `op`'s result right before it (a
/// linear's bias under its rows, the product then adding its sums to it),
/// if cuBLASLt's bias epilogue can add it instead: a generic that writes
/// every element of the result's buffer (through reshapes), each from the
/// element of one vector at its innermost index, possibly cast, reading
/// nothing else; nothing between it and the product uses the buffer; the
/// result's rows are contiguous with that innermost index as n (`desc`),
/// one product, not a batch.
linalg::GenericOp biasBefore(linalg::LinalgOp op, ArrayRef<int64_t> desc) {
  if (desc[gemm::kBatch] != 1 || desc[gemm::kStrideCN] != 1 ||
      desc[gemm::kStrideCM] != desc[gemm::kN])
    return nullptr;
  Value result = op.getDpsInitOperand(0)->get();
  Value root = memref::skipViewLikeOps(cast<MemrefValue>(result));
  Value elements = ftc::cuda::beforeReshapes(result);
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (isa<ViewLikeOpInterface>(prev) || !ftc::cuda::touches(prev, root))
      continue;
    auto writer = dyn_cast<linalg::GenericOp>(prev);
    if (!writer || !writer.hasPureBufferSemantics() || writer.getNumDpsInputs() != 1 ||
        writer.getNumDpsInits() != 1 || writer.getNumReductionLoops() != 0)
      return nullptr;
    OpOperand *out = writer.getDpsInitOperand(0);
    OpOperand *in = writer.getDpsInputOperand(0);
    auto outType = dyn_cast<MemRefType>(out->get().getType());
    auto inType = dyn_cast<MemRefType>(in->get().getType());
    unsigned n = writer.getNumLoops();
    if (!outType || !inType || ftc::cuda::beforeReshapes(out->get()) != elements ||
        !outType.getLayout().isIdentity() || n == 0 ||
        outType.getShape().back() != desc[gemm::kN] ||
        !writer.getMatchingIndexingMap(out).isIdentity() ||
        writer.getMatchingIndexingMap(in) !=
            AffineMap::get(n, 0, getAffineDimExpr(n - 1, op.getContext())) ||
        inType.getRank() != 1 || !writer.getMatchingBlockArgument(out).use_empty())
      return nullptr;
    // The body: casts of the vector's element, nothing else.
    for (Operation &inner : writer.getBlock()->without_terminator())
      if (!isa<arith::ExtFOp, arith::TruncFOp>(inner))
        return nullptr;
    return writer;
  }
  return nullptr;
}

/// `writer`'s bias as a vector of `type` (the product's result type): its
/// vector where the body stores it as it is, else a new one the body
/// computes into (without the extension to f32 where the result is
/// narrowed: `narrowed`), made at the start of the function where the
/// vector is an argument (a parameter's: with the weights' 16-bit copies,
/// a kernel ftc-gpu-fuse-launches merges with theirs), else before the
/// writer. The new buffer is freed after `product`.
Value biasVector(linalg::GenericOp writer, Type type, bool narrowed, Operation *product) {
  OpOperand *in = writer.getDpsInputOperand(0);
  Value yielded = writer.getMatchingYieldValue(writer.getDpsInitOperand(0))->get();
  if (narrowed)
    yielded = yielded.getDefiningOp<arith::ExtFOp>().getIn();
  BlockArgument arg = writer.getMatchingBlockArgument(in);
  auto inType = cast<MemRefType>(in->get().getType());
  if (yielded == arg && inType.getElementType() == type && inType.getLayout().isIdentity()) {
    // Read by the product now: freed after it, not after the writer (a
    // recomputed linear's 16-bit bias, freed before the product by then).
    ftc::cuda::freeAfter(memref::skipViewLikeOps(cast<MemrefValue>(in->get())), product);
    return in->get();
  }
  OpBuilder b(writer);
  auto func = writer->getParentOfType<func::FuncOp>();
  if (auto vector = dyn_cast<BlockArgument>(in->get());
      vector && vector.getOwner() == &func.getBody().front())
    b.setInsertionPointToStart(&func.getBody().front());
  Location loc = writer.getLoc();
  auto alloc = memref::AllocOp::create(b, loc, MemRefType::get(inType.getShape(), type),
                                       b.getI64IntegerAttr(64));
  AffineMap id = b.getMultiDimIdentityMap(1);
  linalg::GenericOp::create(
      b, loc, in->get(), alloc.getResult(), ArrayRef<AffineMap>{id, id},
      ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        IRMapping map;
        map.map(arg, args[0]);
        SmallVector<Operation *> cloned;
        for (Operation &inner : writer.getBlock()->without_terminator())
          cloned.push_back(nb.clone(inner, map));
        linalg::YieldOp::create(nb, nl, map.lookupOrDefault(yielded));
        // The extension to f32 a narrowed result no longer needs.
        for (Operation *op : llvm::reverse(cloned))
          if (op->use_empty())
            op->erase();
      });
  OpBuilder after(product);
  after.setInsertionPointAfter(product);
  memref::DeallocOp::create(after, loc, alloc.getResult());
  return alloc.getResult();
}

/// Whether every use of buffer `root` (through views) is a view, a
/// deallocation or one of `ops`.
bool onlyUsedBy(Value root, ArrayRef<Operation *> ops) {
  SmallVector<Value> work{root};
  while (!work.empty()) {
    Value v = work.pop_back_val();
    for (Operation *user : v.getUsers()) {
      if (isa<ViewLikeOpInterface>(user) && user->getOperand(0) == v) {
        work.push_back(user->getResult(0));
        continue;
      }
      if (!isa<memref::DeallocOp>(user) && !llvm::is_contained(ops, user))
        return false;
    }
  }
  return true;
}

/// Erases buffer `root`, which only views and deallocations use.
void eraseBuffer(Value root) {
  SmallVector<Operation *> ops{root.getDefiningOp()};
  for (size_t i = 0; i < ops.size(); ++i)
    for (Operation *user : ops[i]->getUsers())
      ops.push_back(user);
  for (Operation *op : llvm::reverse(ops))
    op->erase();
}

/// Whether `a` and `b` are memrefs of one shape and one layout (strides and
/// offset): one descriptor's C describes both.
bool sameLayout(Value a, Value b) {
  auto ta = dyn_cast<MemRefType>(a.getType()), tb = dyn_cast<MemRefType>(b.getType());
  if (!ta || !tb || ta.getShape() != tb.getShape())
    return false;
  SmallVector<int64_t> sa, sb;
  int64_t oa, ob;
  return succeeded(ta.getStridesAndOffset(sa, oa)) && succeeded(tb.getStridesAndOffset(sb, ob)) &&
         sa == sb && oa == ob && !llvm::any_of(sa, ShapedType::isDynamic) &&
         !ShapedType::isDynamic(oa);
}

/// `value` without the casts (extf, truncf) it went through.
Value beforeCasts(Value value) {
  while (isa_and_nonnull<arith::ExtFOp, arith::TruncFOp>(value.getDefiningOp()))
    value = value.getDefiningOp()->getOperand(0);
  return value;
}

/// An activation (ftc::kActivationAttr) that cuBLASLt's epilogue computes
/// in product `op` instead: the first op after the product to use its
/// result, an elementwise generic on buffers, every map the identity, that
/// reads the result as it is (GELU's x, or its gradient's dy) and writes
/// every element of `out`, laid out as the result. Its gradient's other
/// input `x` (the activation's input, cuBLASLt's aux matrix) is laid out
/// so too. Nothing between the two uses `out` or `x`.
struct ActivationAfter {
  linalg::GenericOp generic;
  bool gradient = false;
  Value out, x;
};

std::optional<ActivationAfter> activationAfter(linalg::LinalgOp op) {
  Value result = op.getDpsInitOperand(0)->get();
  Value root = memref::skipViewLikeOps(cast<MemrefValue>(result));
  Operation *next = op->getNextNode();
  while (next && (isa<ViewLikeOpInterface>(next) || !ftc::cuda::touches(next, root)))
    next = next->getNextNode();
  auto generic = dyn_cast_or_null<linalg::GenericOp>(next);
  if (!generic)
    return std::nullopt;
  auto name = generic->getAttrOfType<StringAttr>(ftc::kActivationAttr);
  if (!name || (name != ftc::kGeluTanh && name != ftc::kGeluTanhGrad) ||
      !generic.hasPureBufferSemantics() || generic.getNumDpsInits() != 1 ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      !llvm::all_of(generic.getIndexingMapsArray(), [](AffineMap m) { return m.isIdentity(); }))
    return std::nullopt;
  ActivationAfter found;
  found.generic = generic;
  found.gradient = name == ftc::kGeluTanhGrad;
  OpOperand *out = generic.getDpsInitOperand(0);
  found.out = out->get();
  if (!generic.getMatchingBlockArgument(out).use_empty() || !sameLayout(found.out, result))
    return std::nullopt;
  if (!found.gradient) {
    if (generic.getNumDpsInputs() != 1 || generic.getDpsInputs()[0] != result)
      return std::nullopt;
  } else {
    // dy gelu'(x): dy is the yielded product's operand that is an input
    // (possibly rounded); it must be the result, x the other input.
    auto mul = generic.getMatchingYieldValue(out)->get().getDefiningOp<arith::MulFOp>();
    if (generic.getNumDpsInputs() != 2 || !mul)
      return std::nullopt;
    OpOperand *dy = nullptr;
    for (Value factor : {mul.getLhs(), mul.getRhs()})
      if (auto arg = dyn_cast<BlockArgument>(beforeCasts(factor));
          arg && arg.getOwner() == generic.getBlock() && !dy)
        dy = &generic->getOpOperand(arg.getArgNumber());
    if (!dy || !generic.isDpsInput(dy) || dy->get() != result)
      return std::nullopt;
    found.x = generic.getDpsInputs()[dy->getOperandNumber() == 0 ? 1 : 0];
    if (found.x == result || !sameLayout(found.x, result))
      return std::nullopt;
  }
  // Written (and, for x, read) at the product instead: nothing between
  // the two uses those buffers.
  for (Value moved : {found.out, found.x}) {
    if (!moved)
      continue;
    Value movedRoot = memref::skipViewLikeOps(cast<MemrefValue>(moved));
    if (movedRoot == root)
      return std::nullopt;
    for (Operation *between = op->getNextNode(); between != generic.getOperation();
         between = between->getNextNode())
      if (!isa<ViewLikeOpInterface>(between) && ftc::cuda::touches(between, movedRoot))
        return std::nullopt;
  }
  // The product writes the output in place of its result: not a buffer
  // it reads.
  Value outRoot = memref::skipViewLikeOps(cast<MemrefValue>(found.out));
  for (Value in : op.getDpsInputs())
    if (memref::skipViewLikeOps(cast<MemrefValue>(in)) == outRoot)
      return std::nullopt;
  // The output's buffer, where it is made between the two, can be made
  // before the product: an allocation with no operands, views of it.
  for (Value v = found.out;;) {
    Operation *def = v.getDefiningOp();
    if (!def || def->getBlock() != op->getBlock() || def->isBeforeInBlock(op))
      break;
    if (isa<memref::AllocOp>(def) && def->getNumOperands() == 0)
      break;
    if (!isa<ViewLikeOpInterface>(def) || def->getNumOperands() != 1)
      return std::nullopt;
    v = def->getOperand(0);
  }
  return found;
}

/// The epilogue that computes `a` in product `op`, or None: GELU where
/// the product's result is a temporary nothing else reads (`unread`: it
/// goes), GELU_AUX where the result another op reads is of the GELU's
/// output type (`resultType`: f32, or its 16-bit type where it is
/// narrowed), DGELU where dy is a temporary nothing else reads and x is of
/// the gradient's output type. The output, and the bias (`bias`, if any),
/// of a type cuBLASLt writes: f32 or the operands'. Only for 16-bit
/// operands: cuBLASLt does not document how exactly its epilogue computes
/// tanh, which a 16-bit result's rounding (2^-8 relative for bf16) hides
/// and an f32 step's parity with float64 (numerical contract) would not.
gemm::Activation epilogueOf(linalg::LinalgOp op, const ActivationAfter &a, bool unread,
                            Type resultType, Value bias) {
  Type outType = getElementTypeOrSelf(a.out.getType());
  Type operandType = getElementTypeOrSelf(op.getDpsInputOperand(0)->get().getType());
  if (operandType.isF32() || (!outType.isF32() && outType != operandType) ||
      (bias && getElementTypeOrSelf(bias.getType()) != outType))
    return gemm::Activation::None;
  if (a.gradient)
    return unread && getElementTypeOrSelf(a.x.getType()) == outType
               ? gemm::Activation::GeluGrad
               : gemm::Activation::None;
  if (unread)
    return gemm::Activation::Gelu;
  return outType == resultType ? gemm::Activation::GeluAux : gemm::Activation::None;
}

/// Moves the allocation of `value` and its views, where they come after
/// `op`, before it (activationAfter checked that they can move).
void makeBefore(Value value, Operation *op) {
  SmallVector<Operation *> chain;
  for (Operation *def = value.getDefiningOp();
       def && def->getBlock() == op->getBlock() && op->isBeforeInBlock(def);
       def = def->getNumOperands() ? def->getOperand(0).getDefiningOp() : nullptr)
    chain.push_back(def);
  for (Operation *def : llvm::reverse(chain))
    def->moveBefore(op);
}

struct GpuLibraryContractionsPass
    : public ftc::impl::GpuLibraryContractionsBase<GpuLibraryContractionsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Each product cuBLAS can take, with its descriptor (beta set below).
    SmallVector<std::pair<linalg::LinalgOp, SmallVector<int64_t>>> products;
    module.walk([&](linalg::LinalgOp op) {
      if (std::optional<SmallVector<int64_t>> desc = describe(op))
        products.push_back({op, std::move(*desc)});
    });
    if (products.empty())
      return;
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    Location loc = module.getLoc();
    IndexType index = mb.getIndexType();
    if (!module.lookupSymbol(gemm::kGemmSymbol)) {
      auto decl = func::FuncOp::create(
          mb, loc, gemm::kGemmSymbol,
          mb.getFunctionType({index, index, index, index, index, index}, {}));
      decl.setPrivate();
    }
    // How many calls there are, for the runtime (it loads cuBLASLt only
    // for a step with some).
    auto countType = MemRefType::get({1}, mb.getI32Type());
    memref::GlobalOp::create(
        mb, loc, gemm::kGemmCountSymbol, /*sym_visibility=*/nullptr, countType,
        DenseElementsAttr::get(RankedTensorType::get({1}, mb.getI32Type()),
                               mb.getI32IntegerAttr(static_cast<int32_t>(products.size()))),
        /*constant=*/true, /*alignment=*/nullptr);
    auto descType = MemRefType::get({gemm::kFieldCount}, mb.getI64Type());
    for (auto [number, product] : llvm::enumerate(products)) {
      auto &[op, desc] = product;
      linalg::FillOp fill = zeroFillBefore(op);
      // A bias broadcast into the result: cuBLASLt's epilogue adds it.
      linalg::GenericOp bias = !fill && biasEpilogue ? biasBefore(op, desc) : nullptr;
      desc[gemm::kBeta] = !fill && !bias;
      std::optional<Narrowing> narrowing = narrowable(op, fill);
      if (bias) {
        desc[gemm::kBias] = gemm::kBiasN;
        if (!gemm::toColumnMajor(desc.data())) {
          desc[gemm::kBias] = gemm::kNoBias;
          desc[gemm::kBeta] = 1;
          bias = nullptr;
        }
      }
      Value biasValues;
      if (bias) {
        Type type = narrowing ? narrowing->type : Type(mb.getF32Type());
        biasValues = biasVector(bias, type, narrowing.has_value(), op);
        // The broadcast goes; the narrowing leaves it alone.
        if (narrowing)
          narrowing->writer = nullptr;
      }
      // A GELU after the product (or its gradient, reading the product's
      // result as dy): cuBLASLt's epilogue computes it, into the GELU's
      // output, instead of a kernel. The product's result then goes where
      // nothing else reads it; a GELU's input another op reads (its
      // gradient in the backward) is kept as the epilogue's aux matrix.
      Value result = op.getDpsInitOperand(0)->get();
      Value resultRoot = memref::skipViewLikeOps(cast<MemrefValue>(result));
      std::optional<ActivationAfter> activation;
      if (geluEpilogue && !desc[gemm::kBeta])
        activation = activationAfter(op);
      Value d, aux;
      gemm::Activation kind = gemm::Activation::None;
      if (activation) {
        Operation *g = activation->generic;
        Type outType = getElementTypeOrSelf(activation->out.getType());
        // A temporary that only these use goes with them.
        bool unread = resultRoot.getDefiningOp<memref::AllocOp>() &&
                      onlyUsedBy(resultRoot, {op, g, fill, bias});
        kind = epilogueOf(op, *activation, unread,
                          narrowing ? narrowing->type : Type(mb.getF32Type()), biasValues);
        desc[gemm::kActivation] = static_cast<int64_t>(kind);
        desc[gemm::kResultType] = static_cast<int64_t>(*elemOf(outType));
        if (kind == gemm::Activation::None || !gemm::toColumnMajor(desc.data())) {
          kind = gemm::Activation::None;
          desc[gemm::kActivation] = static_cast<int64_t>(kind);
          desc[gemm::kResultType] = static_cast<int64_t>(gemm::Elem::F32);
          activation.reset();
        } else {
          makeBefore(activation->out, op);
          d = activation->out;
          if (kind == gemm::Activation::GeluGrad)
            aux = activation->x;
          if (kind == gemm::Activation::GeluAux && narrowing)
            llvm::erase_if(narrowing->reads,
                           [&](OpOperand *read) { return read->getOwner() == g; });
          else if (kind != gemm::Activation::GeluAux)
            narrowing.reset(); // the result goes
        }
      }
      if (narrowing) {
        result = narrow(*narrowing, result);
        desc[gemm::kResultType] = static_cast<int64_t>(*elemOf(narrowing->type));
      }
      if (kind == gemm::Activation::GeluAux)
        aux = result;
      if (!d)
        d = result;
      std::string name = "ftc_gemm_" + std::to_string(number);
      memref::GlobalOp::create(
          mb, op.getLoc(), name, mb.getStringAttr("private"), descType,
          DenseElementsAttr::get(RankedTensorType::get({gemm::kFieldCount}, mb.getI64Type()),
                                 ArrayRef<int64_t>(desc)),
          /*constant=*/true, mb.getI64IntegerAttr(8));
      OpBuilder b(op);
      Location l = op.getLoc();
      auto address = [&](Value memref) -> Value {
        Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, l, memref);
        auto type = cast<MemRefType>(memref.getType());
        if (type.getLayout().isIdentity())
          return base;
        auto meta = memref::ExtractStridedMetadataOp::create(b, l, memref);
        int64_t bytes = type.getElementTypeBitWidth() / 8;
        Value offset = arith::MulIOp::create(b, l, meta.getOffset(),
                                             arith::ConstantIndexOp::create(b, l, bytes));
        return arith::AddIOp::create(b, l, base, offset);
      };
      Value descriptor = memref::GetGlobalOp::create(b, l, descType, name);
      Value zero;
      auto none = [&] {
        if (!zero)
          zero = arith::ConstantIndexOp::create(b, l, 0);
        return zero;
      };
      Value args[] = {address(descriptor),
                      address(op.getDpsInputOperand(0)->get()),
                      address(op.getDpsInputOperand(1)->get()),
                      address(d),
                      biasValues ? address(biasValues) : none(),
                      aux ? address(aux) : none()};
      func::CallOp::create(b, l, gemm::kGemmSymbol, TypeRange{}, args);
      if (bias)
        bias->erase();
      op->erase();
      if (fill)
        fill->erase();
      if (activation)
        activation->generic->erase();
      if (narrowing)
        eraseOld(*narrowing);
      // The product's result, which nothing reads any more where the
      // epilogue computed its only reader (GELU_AUX's is the aux matrix).
      if (kind == gemm::Activation::Gelu || kind == gemm::Activation::GeluGrad)
        eraseBuffer(resultRoot);
    }
  }
};

} // namespace
