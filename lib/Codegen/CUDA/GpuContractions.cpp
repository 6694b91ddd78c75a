//===- GpuContractions.cpp - Matrix products as cuBLASLt calls ------------===//
//
// A matrix product as ftc-gpu-map-loops maps it is one thread per result
// element, summing its row of A times its column of B from global memory:
// no tensor cores, no reuse through shared memory. On an H100 that is two
// orders of magnitude below what the card does for the products that make
// most of a transformer's step. This pass hands each product the runtime's
// BLAS can take to it instead: a call `ftcrt_gemm(desc, a, b, c)` that
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

#include "ftc/Codegen/Gemm.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Utils/MemRefUtils.h"
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

bool touches(Operation *op, Value root) {
  WalkResult walk = op->walk([&](Operation *inner) {
    for (Value v : inner->getOperands())
      if (auto memref = dyn_cast<MemrefValue>(v);
          memref && memref::skipViewLikeOps(memref) == root)
        return WalkResult::interrupt();
    return WalkResult::advance();
  });
  return walk.wasInterrupted();
}

/// The zero fill of `op`'s result that nothing reads or writes between it
/// and `op`, if there is one.
linalg::FillOp zeroFillBefore(linalg::LinalgOp op) {
  Value c = op.getDpsInitOperand(0)->get();
  Value root = memref::skipViewLikeOps(cast<MemrefValue>(c));
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev);
        fill && fill.hasPureBufferSemantics() && fill.getOutputs()[0] == c)
      return matchPattern(fill.getInputs()[0], m_AnyZeroFloat()) ? fill : nullptr;
    if (touches(prev, root))
      return nullptr;
  }
  return nullptr;
}

struct GpuLibraryContractionsPass
    : public ftc::impl::GpuLibraryContractionsBase<GpuLibraryContractionsPass> {
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
      auto decl = func::FuncOp::create(mb, loc, gemm::kGemmSymbol,
                                       mb.getFunctionType({index, index, index, index}, {}));
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
      desc[gemm::kBeta] = !fill;
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
      Value args[] = {address(descriptor), address(op.getDpsInputOperand(0)->get()),
                      address(op.getDpsInputOperand(1)->get()),
                      address(op.getDpsInitOperand(0)->get())};
      func::CallOp::create(b, l, gemm::kGemmSymbol, TypeRange{}, args);
      op->erase();
      if (fill)
        fill->erase();
    }
  }
};

} // namespace
