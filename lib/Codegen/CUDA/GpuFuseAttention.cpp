//===- GpuFuseAttention.cpp - 16-bit attention as the fused ops -----------===//
//
// See ftc-gpu-fuse-attention in Passes.td. On train ops: attention and its
// gradient become train.fused_attention and train.fused_attention_grad,
// which bufferize to themselves on buffers (the models below) and which
// ftc-gpu-attention-kernels (GpuAttentionKernels.cpp) makes kernels.
//
//===----------------------------------------------------------------------===//

#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"

namespace ftc {
#define GEN_PASS_DEF_GPUFUSEATTENTION
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;

namespace {

/// [..., T] f32: one number per row of `matrix` ([..., T, D]).
RankedTensorType rowsType(Value matrix) {
  auto type = cast<RankedTensorType>(matrix.getType());
  return RankedTensorType::get(type.getShape().drop_back(),
                               Float32Type::get(type.getContext()));
}

Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type) {
  return tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
}

FusedAttentionOp createForward(OpBuilder &b, Location loc, Value query, Value key, Value value,
                               bool causal, FloatAttr scale) {
  auto out = cast<RankedTensorType>(query.getType());
  RankedTensorType lse = rowsType(query);
  return FusedAttentionOp::create(b, loc, TypeRange{out, lse}, query, key, value,
                                  emptyLike(b, loc, out), emptyLike(b, loc, lse), causal,
                                  scale);
}

/// The forward op a gradient belongs to: the same operands and attributes.
bool sameAttention(FusedAttentionOp forward, AttentionGradOp grad) {
  return forward.getQuery() == grad.getQuery() && forward.getKey() == grad.getKey() &&
         forward.getValue() == grad.getValue() && forward.getCausal() == grad.getCausal() &&
         forward.getScaleAttr() == grad.getScaleAttr();
}

struct GpuFuseAttentionPass : public ftc::impl::GpuFuseAttentionBase<GpuFuseAttentionPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<FusedAttentionOp> forwards;
    func.walk([&](AttentionOp op) {
      if (!FusedAttentionOp::takes(op.getQuery(), op.getKey(), op.getValue()))
        return;
      OpBuilder b(op);
      FusedAttentionOp fused = createForward(b, op.getLoc(), op.getQuery(), op.getKey(),
                                             op.getValue(), op.getCausal(), op.getScaleAttr());
      op.getResult().replaceAllUsesWith(fused.getResult(0));
      op.erase();
      forwards.push_back(fused);
    });
    DominanceInfo dominance(func);
    func.walk([&](AttentionGradOp op) {
      if (!FusedAttentionGradOp::takes(op.getQuery(), op.getKey(), op.getValue(), op.getGrad()))
        return;
      Location loc = op.getLoc();
      OpBuilder b(op);
      auto found = llvm::find_if(forwards, [&](FusedAttentionOp forward) {
        return sameAttention(forward, op) && dominance.properlyDominates(forward, op);
      });
      // No forward op before it (its result unused, say): run it again.
      FusedAttentionOp forward =
          found != forwards.end()
              ? *found
              : createForward(b, loc, op.getQuery(), op.getKey(), op.getValue(),
                              op.getCausal(), op.getScaleAttr());
      // delta = rowsum(grad * out), in f32.
      auto wide = cast<RankedTensorType>(op.getGrad().getType()).clone(b.getF32Type());
      Value product = MulOp::create(b, loc, CastOp::create(b, loc, wide, op.getGrad()),
                                    CastOp::create(b, loc, wide, forward.getResult(0)));
      Value delta = SumOp::create(b, loc, product, ArrayRef<int64_t>{wide.getRank() - 1},
                                  /*keepdim=*/false);
      auto type = cast<RankedTensorType>(op.getQuery().getType());
      auto grads = FusedAttentionGradOp::create(
          b, loc, TypeRange{type, type, type}, op.getGrad(), op.getQuery(), op.getKey(),
          op.getValue(), forward.getResult(1), delta, emptyLike(b, loc, type),
          emptyLike(b, loc, type), emptyLike(b, loc, type), op.getCausal(),
          op.getScaleAttr());
      op.replaceAllUsesWith(grads.getResults());
      op.erase();
    });
  }
};

namespace bz = mlir::bufferization;

/// Either fused op on buffers: the same op on the operands' buffers, the
/// destinations' buffers its results. The destinations are written whole,
/// never read.
template <typename Op>
struct FusedAttentionBufferization
    : bz::DstBufferizableOpInterfaceExternalModel<FusedAttentionBufferization<Op>, Op> {
  bool bufferizesToMemoryRead(Operation *op, OpOperand &operand,
                              const bz::AnalysisState &) const {
    return !cast<DestinationStyleOpInterface>(op).isDpsInit(&operand);
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bz::BufferizationOptions &options,
                          bz::BufferizationState &state) const {
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      FailureOr<Value> buffer = bz::getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    rewriter.setInsertionPoint(op);
    OperationState onBuffers(op->getLoc(), op->getName(), buffers, TypeRange{},
                             op->getAttrs());
    rewriter.create(onBuffers);
    unsigned inits = cast<DestinationStyleOpInterface>(op).getNumDpsInits();
    bz::replaceOpWithBufferizedValues(rewriter, op,
                                      ArrayRef<Value>(buffers).take_back(inits));
    return success();
  }
};

} // namespace

void ftc::registerFusedAttentionBufferization(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, TrainDialect *) {
    FusedAttentionOp::attachInterface<FusedAttentionBufferization<FusedAttentionOp>>(*context);
    FusedAttentionGradOp::attachInterface<FusedAttentionBufferization<FusedAttentionGradOp>>(
        *context);
  });
}
