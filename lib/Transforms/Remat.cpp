//===- Remat.cpp - keep or recompute each forward value for the backward --===//
//
// The cost model, the memory model, the schedules and the rewrite of
// ftc/Transforms/Remat.h, and the pass that chains them, ftc-remat.
//
// Upstream MLIR has no rematerialization for a joint forward and backward
// (its liveness analyses answer "what is live here", not "what should be
// kept"), so this file is ftc's own; the rewrite's clones are ordinary ops
// that the rest of the pipeline lowers, fuses and plans like any other.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Remat.h"

#include "ftc/Dialect/Train/IR/TrainModel.h"
#include "ftc/Support/NamedRegistry.h"
#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/DebugLog.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#define DEBUG_TYPE "ftc-remat"

namespace ftc {
#define GEN_PASS_DEF_REMAT
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
using namespace ftc::train;
namespace remat = ftc::remat;

//===----------------------------------------------------------------------===//
// The cost model
//===----------------------------------------------------------------------===//

namespace {

double elements(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.hasStaticShape() ? static_cast<double>(type.getNumElements()) : 0;
}

/// Ops that bufferize to views on every target.
bool isView(Operation *op) { return isa_and_nonnull<ReshapeOp, SplitOp>(op); }

/// Bytes of a tensor's elements (an i1 takes a byte).
int64_t tensorBytes(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  return type.getNumElements() * ((type.getElementTypeBitWidth() + 7) / 8);
}

/// Elements of attention's T x S scores (per batch and head, all heads).
int64_t scoreElements(Value query, Value key) {
  auto q = cast<RankedTensorType>(query.getType());
  auto k = cast<RankedTensorType>(key.getType());
  return q.getNumElements() / q.getDimSize(q.getRank() - 1) * k.getDimSize(k.getRank() - 2);
}

/// The depth D of [..., T, D] attention operands.
double depthOf(Value query) {
  auto q = cast<RankedTensorType>(query.getType());
  return static_cast<double>(q.getDimSize(q.getRank() - 1));
}

/// Q K^T (2 FLOPs per multiply-add) and the softmax: the probabilities.
double scoresFlops(Value query, Value key) {
  return static_cast<double>(scoreElements(query, key)) * (2 * depthOf(query) + 5);
}

/// The probabilities and P V.
double attentionFlops(Value query, Value key) {
  return scoresFlops(query, key) +
         static_cast<double>(scoreElements(query, key)) * 2 * depthOf(query);
}

/// Bytes of the probabilities an expanded attention keeps for its gradient
/// (ExpandComposites): f32, and rounded to v's type for the products where
/// that is 16-bit.
int64_t probabilitiesBytes(AttentionOp op) {
  unsigned width = cast<RankedTensorType>(op.getValue().getType()).getElementTypeBitWidth();
  return scoreElements(op.getQuery(), op.getKey()) * (4 + (width < 32 ? width / 8 : 0));
}

/// Bytes of a fused attention's log-sum-exp: an f32 per row of q.
int64_t logSumExpBytes(Value query) {
  return cast<RankedTensorType>(query.getType()).getNumElements() /
         static_cast<int64_t>(depthOf(query)) * 4;
}

} // namespace

int64_t remat::transientBytes(Operation *op) {
  // The codegen packs both operands of a product into panels: copies that
  // live while it runs.
  if (isa<LinearOp, MatmulOp>(op))
    return tensorBytes(op->getOperand(0)) + tensorBytes(op->getOperand(1));
  // Attention is expanded into products over a T x S matrix of f32 scores:
  // the scores and the probabilities in the forward, the probabilities
  // again, their gradient and the scores' in the backward.
  if (auto attention = dyn_cast<AttentionOp>(op))
    return 2 * 4 * scoreElements(attention.getQuery(), attention.getKey());
  if (auto grad = dyn_cast<AttentionGradOp>(op))
    return 3 * 4 * scoreElements(grad.getQuery(), grad.getKey());
  return 0;
}

double remat::probabilityFlops(Operation *op) {
  if (auto attention = dyn_cast<AttentionOp>(op))
    return scoresFlops(attention.getQuery(), attention.getKey());
  if (auto grad = dyn_cast<AttentionGradOp>(op))
    return scoresFlops(grad.getQuery(), grad.getKey());
  return 0;
}

bool remat::isProduct(Operation *op) { return isa<LinearOp, MatmulOp, AttentionOp>(op); }

double remat::estimateFlops(Operation *op) {
  if (isa<LinearOp, MatmulOp>(op)) // and the bias, one add per output
    return productFlops(op) + (op->getNumOperands() > 2 ? elements(op->getResult(0)) : 0);
  if (auto attention = dyn_cast<AttentionOp>(op))
    return attentionFlops(attention.getQuery(), attention.getKey());
  if (auto grad = dyn_cast<AttentionGradOp>(op)) // 4 products, the softmax's gradient
    return static_cast<double>(scoreElements(grad.getQuery(), grad.getKey())) *
           (8 * depthOf(grad.getQuery()) + 5);
  if (isView(op) || isa<GetParamOp>(op) || op->getNumResults() == 0)
    return 0;
  double n = 0;
  for (Value r : op->getResults())
    n += elements(r);
  if (isa<LayerNormOp, LayerNormGradOp>(op))
    return 8 * n;
  if (isa<GeluOp, GeluGradOp>(op))
    return 10 * n;
  if (isa<SoftmaxOp, LogSoftmaxOp, DropoutOp>(op))
    return 5 * n;
  if (isa<CrossEntropyOp, CrossEntropyGradOp, MseLossOp, SumOp, MeanOp, MaxOp>(op))
    return 5 * elements(op->getOperand(0));
  return n;
}

//===----------------------------------------------------------------------===//
// The gradient function
//===----------------------------------------------------------------------===//

bool remat::StepGraph::isView(Operation *op) const {
  if (::isView(op))
    return true;
  if (!fusedAttention || !isa_and_nonnull<TransposeOp>(op))
    return false;
  auto fused = [&](Operation *user) {
    return isa<AttentionOp, AttentionGradOp>(user) && runsFused(user);
  };
  Operation *source = op->getOperand(0).getDefiningOp();
  return (source && fused(source)) ||
         (!op->getResult(0).use_empty() && llvm::all_of(op->getResult(0).getUsers(), fused));
}

int64_t remat::StepGraph::storageBytes(Value v) const {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type || !type.hasStaticShape() || isView(v.getDefiningOp()))
    return 0;
  return tensorBytes(v);
}

Value remat::StepGraph::storageRoot(Value v) const {
  while (Operation *def = v.getDefiningOp()) {
    if (!isView(def))
      break;
    v = def->getOperand(0);
  }
  return v;
}

bool remat::StepGraph::isFree(Value v) const {
  v = storageRoot(v);
  Operation *def = v.getDefiningOp();
  return !def || isa<GetParamOp>(def) || def->getNumOperands() == 0;
}

bool remat::StepGraph::canRecompute(Operation *op) const {
  if (op->getNumRegions() || op->getNumOperands() == 0 || isa<GetParamOp>(op) ||
      !isMemoryEffectFree(op))
    return false;
  func::FuncOp f = func; // a handle: const members cannot query it
  Operation *terminator = f.getBody().front().getTerminator();
  for (Value r : op->getResults())
    if (!isa<RankedTensorType>(r.getType()) ||
        llvm::is_contained(r.getUsers(), terminator))
      return false;
  return true;
}

bool remat::StepGraph::runsFused(Operation *op) const {
  if (!fusedAttention)
    return false;
  if (auto attention = dyn_cast<AttentionOp>(op))
    return FusedAttentionOp::takes(attention.getQuery(), attention.getKey(),
                                   attention.getValue());
  if (auto grad = dyn_cast<AttentionGradOp>(op))
    return FusedAttentionGradOp::takes(grad.getQuery(), grad.getKey(), grad.getValue(),
                                       grad.getGrad());
  return false;
}

namespace {

/// The outermost call site an op was inlined from, if any.
Attribute callSiteOf(Location loc) {
  if (auto site = dyn_cast<CallSiteLoc>(loc))
    return site.getCaller();
  return nullptr;
}

/// Segments by call site: each run of ops inlined from one call.
bool segmentByCalls(remat::StepGraph &graph) {
  Attribute current;
  int segment = -1;
  for (Operation *op : graph.forward) {
    Attribute site = callSiteOf(op->getLoc());
    if (!site) {
      graph.segmentOf[op] = -1;
      continue;
    }
    if (site != current) {
      current = site;
      ++segment;
    }
    graph.segmentOf[op] = segment;
  }
  graph.numSegments = segment + 1;
  return graph.numSegments > 0;
}

/// Segments between articulation values: after an op whose result is the
/// only non-free forward value the rest of the forward reads.
void segmentByArticulation(remat::StepGraph &graph) {
  llvm::DenseMap<Value, int64_t> lastForwardUse;
  for (auto [i, op] : llvm::enumerate(graph.forward))
    for (Value v : op->getOperands())
      if (!graph.isFree(v)) // defined by a forward op
        lastForwardUse[v] = static_cast<int64_t>(i);
  llvm::DenseSet<Value> open;
  int segment = 0;
  for (auto [i, op] : llvm::enumerate(graph.forward)) {
    graph.segmentOf[op] =
        op->getNumResults() == 0 || graph.isFree(op->getResult(0)) ? -1 : segment;
    for (Value r : op->getResults())
      if (lastForwardUse.lookup(r) > static_cast<int64_t>(i))
        open.insert(r);
    llvm::SmallVector<Value> done;
    for (Value v : open)
      if (lastForwardUse.lookup(v) <= static_cast<int64_t>(i))
        done.push_back(v);
    for (Value v : done)
      open.erase(v);
    if (open.size() == 1 && graph.segmentOf[op] >= 0 &&
        llvm::is_contained(op->getResults(), *open.begin()))
      ++segment;
  }
  graph.numSegments = segment;
  // The ops after the last articulation value form one more segment.
  for (Operation *op : graph.forward)
    graph.numSegments = std::max(graph.numSegments, graph.segmentOf[op] + 1);
}

} // namespace

FailureOr<remat::StepGraph> remat::analyzeStep(func::FuncOp grad, bool fusedAttention) {
  if (!grad.getBody().hasOneBlock())
    return grad.emitError() << "ftc-remat needs a gradient function with one block";
  StepGraph graph;
  graph.func = grad;
  graph.fusedAttention = fusedAttention;
  Block &body = grad.getBody().front();
  for (Operation &op : body)
    if (op.hasAttr(TrainDialect::getLossSeedAttrName())) {
      graph.seed = &op;
      break;
    }
  // No seed: no backward (no gradient reaches the loss; canonicalization
  // removed the unused seed). With gradients, something lost the mark.
  if (!graph.seed && grad.getNumResults() > 1)
    return grad.emitError() << "ftc-remat: '" << grad.getSymName()
                            << "' returns gradients but has no backward seed "
                               "(train.loss_seed)";
  llvm::DenseSet<Operation *> forwardOps;
  bool inBackward = false;
  for (Operation &op : body.without_terminator()) {
    inBackward |= &op == graph.seed;
    (inBackward ? graph.backward : graph.forward).push_back(&op);
    if (!inBackward)
      forwardOps.insert(&op);
  }
  for (Operation *op : graph.backward)
    for (Value v : op->getOperands())
      if (v.getDefiningOp() && forwardOps.contains(v.getDefiningOp()))
        graph.saved.insert(v);
  graph.segmentsAreCalls = segmentByCalls(graph);
  if (!graph.segmentsAreCalls)
    segmentByArticulation(graph);
  // A fused gradient computes the probabilities again, always.
  for (Operation &op : body)
    graph.stepFlops +=
        estimateFlops(&op) + (graph.runsFused(&op) ? probabilityFlops(&op) : 0);
  return graph;
}

//===----------------------------------------------------------------------===//
// The memory model
//===----------------------------------------------------------------------===//

namespace {

/// For each backward op, the forward ops the schedule clones just before
/// it, producers first: each recomputed op once, before its first reader in
/// the backward. The simulation and the rewrite share it.
SmallVector<SmallVector<Operation *>> planClones(const remat::StepGraph &graph,
                                                 const remat::Schedule &schedule) {
  SmallVector<SmallVector<Operation *>> plan(graph.backward.size());
  llvm::DenseSet<Operation *> done;
  std::function<void(Operation *, SmallVector<Operation *> &)> visit =
      [&](Operation *op, SmallVector<Operation *> &list) {
        if (!done.insert(op).second)
          return;
        for (Value v : op->getOperands())
          if (Operation *def = v.getDefiningOp(); def && schedule.contains(def))
            visit(def, list);
        list.push_back(op);
      };
  for (auto [i, op] : llvm::enumerate(graph.backward))
    for (Value v : op->getOperands())
      if (Operation *def = v.getDefiningOp(); def && schedule.contains(def))
        visit(def, plan[i]);
  return plan;
}

/// The simulated run of a schedule: live bytes at each point, and by
/// segment what it keeps and recomputes and where its backward runs.
struct Timeline {
  std::vector<int64_t> live;
  int64_t seedTime = 0;
  std::vector<int64_t> keptBySegment;
  std::vector<double> flopsBySegment;
  std::vector<int64_t> backwardBegin, backwardEnd; // -1: none
  /// When the tensors of each forward op (not clones) are live.
  llvm::DenseMap<Operation *, std::pair<int64_t, int64_t>> spans;
  remat::Estimate estimate;
};

Timeline simulateTimeline(const remat::StepGraph &graph, const remat::Schedule &schedule) {
  struct Tensor {
    int64_t bytes, def, last;
    int segment;
    bool forward;
    Operation *owner = nullptr; // the forward op, for originals
  };
  std::vector<Tensor> tensors;
  llvm::DenseMap<Value, int64_t> original, copy;
  Timeline timeline;
  int segments = graph.numSegments;
  timeline.keptBySegment.assign(segments, 0);
  timeline.flopsBySegment.assign(segments, 0);
  timeline.backwardBegin.assign(segments, -1);
  timeline.backwardEnd.assign(segments, -1);
  int64_t t = 0;
  auto touch = [&](int64_t id, bool inBackward) {
    Tensor &tensor = tensors[id];
    tensor.last = std::max(tensor.last, t);
    if (inBackward && tensor.segment >= 0) {
      int64_t &begin = timeline.backwardBegin[tensor.segment];
      begin = begin < 0 ? t : std::min(begin, t);
      timeline.backwardEnd[tensor.segment] = std::max(timeline.backwardEnd[tensor.segment], t);
    }
  };
  // The tensor `v` names where `op` reads it: the backward and the clones
  // read recomputed values from the clones.
  auto lookup = [&](Value v, bool inBackward) -> std::optional<int64_t> {
    Operation *def = v.getDefiningOp();
    auto &names = inBackward && def && schedule.contains(def) ? copy : original;
    auto it = names.find(v);
    return it == names.end() ? std::nullopt : std::optional<int64_t>(it->second);
  };
  // What attention keeps for its gradient, a hidden tensor per attention
  // (or its clone), keyed by the values it reads (an original or a clone:
  // a clone of a view is another value on the same buffer). Expanded, the
  // gradient computes the probabilities again from q and k, which CSE
  // folds into the forward's when both read the same q and k: the
  // probabilities are kept from one to the other. Fused, the gradient
  // reads the log-sum-exp and the output of the forward op with its q, k
  // and v (ftc-gpu-fuse-attention), else runs the forward again. What is
  // computed again counts as recomputed, in the segment of the gradient's
  // q.
  auto keyOf = [&](Value v, bool inBackward) {
    Operation *def = v.getDefiningOp();
    bool cloned = inBackward && def && schedule.contains(def);
    return reinterpret_cast<intptr_t>(v.getAsOpaquePointer()) | (cloned ? 1 : 0);
  };
  auto attentionKey = [&](Operation *op, Value query, Value key, Value value,
                          bool inBackward) {
    bool fused = graph.runsFused(op);
    return std::tuple{fused, keyOf(query, inBackward), keyOf(key, inBackward),
                      fused ? keyOf(value, inBackward) : intptr_t(0)};
  };
  struct Kept {
    int64_t hidden, output = -1;
  };
  std::map<std::tuple<bool, intptr_t, intptr_t, intptr_t>, Kept> attentionKept;
  // `cloned`: a clone of the forward op `op`, run in the backward.
  auto run = [&](Operation *op, bool cloned, bool inBackward) {
    int64_t scratch = remat::transientBytes(op);
    Kept *kept = nullptr;
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      bool fused = graph.runsFused(op);
      kept = &attentionKept[attentionKey(op, attention.getQuery(), attention.getKey(),
                                         attention.getValue(), inBackward)];
      kept->hidden = static_cast<int64_t>(tensors.size());
      tensors.push_back({fused ? logSumExpBytes(attention.getQuery())
                               : probabilitiesBytes(attention),
                         t, t, graph.segmentOf.lookup(op), true, cloned ? nullptr : op});
      scratch = fused ? 0 : scratch / 2; // the scores, until the softmax
    } else if (auto grad = dyn_cast<AttentionGradOp>(op)) {
      bool fused = graph.runsFused(op);
      auto it = attentionKept.find(attentionKey(op, grad.getQuery(), grad.getKey(),
                                                grad.getValue(), inBackward));
      if (it != attentionKept.end()) {
        touch(it->second.hidden, false);
        if (fused && it->second.output >= 0)
          touch(it->second.output, false);
        scratch = fused ? 0 : scratch * 2 / 3; // the probabilities are not computed again
      } else {
        // Computed again, beyond what a clone computes.
        double again = fused ? attentionFlops(grad.getQuery(), grad.getKey())
                             : remat::probabilityFlops(op);
        if (fused) // the forward's output and log-sum-exp, while it runs
          scratch = tensorBytes(grad.getQuery()) + logSumExpBytes(grad.getQuery());
        if (std::optional<int64_t> id = lookup(grad.getQuery(), inBackward))
          if (int segment = tensors[*id].segment; segment >= 0)
            timeline.flopsBySegment[segment] += again;
        timeline.estimate.recomputeFlops += again;
      }
    }
    for (Value v : op->getOperands())
      if (!graph.isFree(v))
        if (std::optional<int64_t> id = lookup(v, inBackward))
          touch(*id, inBackward);
    int segment = graph.segmentOf.lookup(op);
    bool forward = !inBackward || cloned;
    if (!forward)
      segment = -1;
    auto &names = cloned ? copy : original;
    for (Value r : op->getResults()) {
      if (graph.isFree(r))
        continue;
      if (graph.isView(op)) { // the viewed tensor's bytes, and lifetime
        if (std::optional<int64_t> id = lookup(op->getOperand(0), inBackward))
          names[r] = *id;
        continue;
      }
      names[r] = static_cast<int64_t>(tensors.size());
      tensors.push_back({graph.storageBytes(r), t, t, segment, forward,
                         inBackward ? nullptr : op});
      if (inBackward)
        touch(names[r], true);
    }
    if (kept && op->getNumResults() == 1)
      if (auto it = names.find(op->getResult(0)); it != names.end())
        kept->output = it->second;
    if (scratch)
      tensors.push_back({scratch, t, t, segment, false});
    if (cloned) {
      double flops = remat::estimateFlops(op);
      timeline.estimate.recomputeFlops += flops;
      ++timeline.estimate.recomputedOps;
      if (segment >= 0)
        timeline.flopsBySegment[segment] += flops;
    }
    ++t;
  };
  for (Operation *op : graph.forward)
    run(op, false, false);
  timeline.seedTime = t;
  SmallVector<SmallVector<Operation *>> plan = planClones(graph, schedule);
  for (auto [i, op] : llvm::enumerate(graph.backward)) {
    for (Operation *clone : plan[i])
      run(clone, true, true);
    run(op, false, true);
  }
  // The returned values live to the end.
  func::FuncOp f = graph.func;
  for (Value v : f.getBody().front().getTerminator()->getOperands())
    if (std::optional<int64_t> id = lookup(v, /*inBackward=*/true))
      touch(*id, false);
  ++t;

  timeline.live.assign(t + 1, 0);
  for (const Tensor &tensor : tensors) {
    timeline.live[tensor.def] += tensor.bytes;
    timeline.live[tensor.last + 1] -= tensor.bytes;
  }
  for (int64_t i = 1; i <= t; ++i)
    timeline.live[i] += timeline.live[i - 1];
  timeline.live.pop_back();
  for (const Tensor &tensor : tensors)
    if (tensor.owner) {
      auto [it, inserted] = timeline.spans.try_emplace(tensor.owner, tensor.def, tensor.last);
      it->second.second = std::max(it->second.second, tensor.last);
    }
  for (const Tensor &tensor : tensors)
    if (tensor.forward && tensor.def < timeline.seedTime && tensor.last >= timeline.seedTime) {
      timeline.estimate.keptBytes += tensor.bytes;
      if (tensor.segment >= 0)
        timeline.keptBySegment[tensor.segment] += tensor.bytes;
    }
  timeline.estimate.peakBytes = *std::max_element(timeline.live.begin(), timeline.live.end());

  return timeline;
}

} // namespace

remat::Estimate remat::simulate(const StepGraph &graph, const Schedule &schedule) {
  return simulateTimeline(graph, schedule).estimate;
}

//===----------------------------------------------------------------------===//
// The schedules
//===----------------------------------------------------------------------===//

remat::Schedule remat::recomputeInsideGroups(const StepGraph &graph, int groupSize,
                                             function_ref<bool(Operation *)> include) {
  auto groupOf = [&](Operation *op) {
    int segment = graph.segmentOf.lookup(op);
    return segment < 0 ? -1 : segment / groupSize;
  };
  llvm::DenseSet<Operation *> forward(graph.forward.begin(), graph.forward.end());
  Schedule schedule;
  for (Operation *op : graph.forward) {
    int group = groupOf(op);
    if (group < 0 || !include(op) || !graph.canRecompute(op))
      continue;
    bool inside = llvm::all_of(op->getUsers(), [&](Operation *user) {
      return !forward.contains(user) || groupOf(user) == group;
    });
    if (inside)
      schedule.insert(op);
  }
  return schedule;
}

remat::RematPolicy::~RematPolicy() = default;

namespace {

/// A policy of ftc's own: a name, a line and a function.
class BuiltinPolicy : public remat::RematPolicy {
public:
  using Choose = remat::Schedule (*)(const remat::StepGraph &);
  BuiltinPolicy(StringRef name, StringRef description, Choose choose)
      : name(name), description(description), chooser(choose) {}
  StringRef getName() const override { return name; }
  StringRef getDescription() const override { return description; }
  remat::Schedule choose(const remat::StepGraph &graph) const override {
    return chooser(graph);
  }

private:
  StringRef name, description;
  Choose chooser;
};

/// The registered policies, ftc's first.
ftc::NamedRegistry<remat::RematPolicy> &policies() {
  static ftc::NamedRegistry<remat::RematPolicy> registry;
  static const bool builtins = [] {
    (void)registry.add(std::make_unique<BuiltinPolicy>(
        "none", "keep every value the backward reads",
        [](const remat::StepGraph &) { return remat::Schedule(); }));
    (void)registry.add(std::make_unique<BuiltinPolicy>(
        "blocks",
        "recompute inside each of the model's functions (torch.utils.checkpoint per block)",
        [](const remat::StepGraph &graph) {
          return remat::recomputeInsideGroups(graph, 1, [](Operation *) { return true; });
        }));
    (void)registry.add(std::make_unique<BuiltinPolicy>(
        "sqrt", "recompute inside about sqrt(n) groups of blocks (Chen et al. 2016)",
        [](const remat::StepGraph &graph) {
          int group = std::max(1, static_cast<int>(std::ceil(std::sqrt(graph.numSegments))));
          return remat::recomputeInsideGroups(graph, group, [](Operation *) { return true; });
        }));
    return true;
  }();
  (void)builtins;
  return registry;
}

} // namespace

LogicalResult remat::registerRematPolicy(std::unique_ptr<RematPolicy> policy) {
  // `budget` is ftc-remat's own mode (it takes a budget).
  if (policy->getName() == "budget")
    return failure();
  return policies().add(std::move(policy));
}

const remat::RematPolicy *remat::lookupRematPolicy(StringRef name) {
  return policies().lookup(name);
}

SmallVector<const remat::RematPolicy *> remat::getRematPolicies() { return policies().list(); }

std::string remat::rematPolicyNames() { return policies().names(); }

remat::BudgetResult remat::scheduleForBudget(const StepGraph &graph, int64_t budget) {
  // Each segment's choices: keep all, recompute all but the products, all
  // but the matrix products (attention too), or all (blocks' choice). A
  // view goes with what it views: its clone frees nothing of a kept
  // buffer, and a fused attention reading a clone of q, k or v is no longer
  // its gradient's forward.
  enum { Keep, Cheap, Attention, All, Choices };
  auto withViews = [&](function_ref<bool(Operation *)> include) {
    std::function<bool(Operation *)> recomputed = [&, include](Operation *op) {
      if (!graph.isView(op))
        return include(op);
      Operation *source = op->getOperand(0).getDefiningOp();
      return source && graph.canRecompute(source) && recomputed(source);
    };
    return recomputeInsideGroups(graph, 1, recomputed);
  };
  Schedule choices[Choices] = {
      {}, withViews([](Operation *op) { return !isProduct(op); }),
      withViews([](Operation *op) { return !isa<LinearOp, MatmulOp>(op); }),
      lookupRematPolicy("blocks")->choose(graph)};
  Timeline runs[Choices];
  int least = Keep; // the choice with the least peak, made everywhere
  for (int c = 0; c < Choices; ++c) {
    runs[c] = simulateTimeline(graph, choices[c]);
    if (runs[c].estimate.peakBytes < runs[least].estimate.peakBytes)
      least = c;
  }

  BudgetResult result;
  result.minimumPeak = runs[least].estimate.peakBytes;

  // Lower bound: a saved tensor's bytes are freed only by recomputing the op
  // that computes them (through views: the op whose buffer they view; a
  // fused attention's log-sum-exp too), which costs at least that op's
  // FLOPs; an expanded attention's probabilities by having its gradient
  // compute them again, at least their FLOPs. At every point of the run
  // without recomputation where more than the budget is live, the bytes
  // freed there must cover the excess: a
  // fractional knapsack over the ops live there bounds any schedule's
  // FLOPs; the bound is the largest over the points.
  struct Item {
    double bytes, flops;
    int64_t begin, end;
  };
  std::vector<Item> items;
  llvm::DenseMap<Operation *, double> savedBytes;
  llvm::DenseSet<Value> roots;
  for (Value v : graph.saved)
    if (Value root = graph.storageRoot(v); roots.insert(root).second)
      if (Operation *def = root.getDefiningOp(); def && graph.canRecompute(def))
        savedBytes[def] += graph.storageBytes(root);
  for (Operation *op : graph.forward) {
    auto attention = dyn_cast<AttentionOp>(op);
    auto span = runs[Keep].spans.find(op);
    if (!attention || span == runs[Keep].spans.end())
      continue;
    if (graph.runsFused(op)) // its gradient reads the output too
      savedBytes[op] += logSumExpBytes(attention.getQuery()) +
                        (graph.saved.contains(attention.getResult())
                             ? 0
                             : graph.storageBytes(attention.getResult()));
    else
      items.push_back({static_cast<double>(probabilitiesBytes(attention)),
                       probabilityFlops(op), span->second.first, span->second.second});
  }
  for (auto [op, bytes] : savedBytes)
    if (auto span = runs[Keep].spans.find(op); span != runs[Keep].spans.end())
      items.push_back({bytes, estimateFlops(op), span->second.first, span->second.second});
  llvm::sort(items, [](const Item &a, const Item &b) {
    return a.flops * b.bytes < b.flops * a.bytes; // cheapest per byte first
  });
  const std::vector<int64_t> &live = runs[Keep].live;
  for (int64_t t = 0; t < static_cast<int64_t>(live.size()); ++t) {
    double toFree = static_cast<double>(live[t] - budget), cost = 0;
    for (const Item &item : items) {
      if (toFree <= 0)
        break;
      if (item.begin > t || t > item.end)
        continue;
      double part = std::min(1.0, toFree / std::max(item.bytes, 1.0));
      cost += part * item.flops;
      toFree -= part * item.bytes;
    }
    if (toFree > 0)
      cost = std::numeric_limits<double>::infinity(); // nothing fits there
    result.lowerBoundFlops = std::max(result.lowerBoundFlops, cost);
  }

  // The chain model: while the backward runs segment s, the segments before
  // it hold what they keep, and s itself its peak less theirs (measured on
  // the run where every segment made the same choice).
  int segments = graph.numSegments;
  std::vector<std::array<int64_t, Choices>> kept(segments), transient(segments);
  std::vector<std::array<double, Choices>> flops(segments);
  for (int c = 0; c < Choices; ++c) {
    const Timeline &run = runs[c];
    int64_t before = 0;
    for (int s = 0; s < segments; ++s) {
      kept[s][c] = run.keptBySegment[s];
      flops[s][c] = run.flopsBySegment[s];
      int64_t peak = 0;
      if (run.backwardBegin[s] >= 0)
        for (int64_t t = run.backwardBegin[s]; t <= run.backwardEnd[s]; ++t)
          peak = std::max(peak, run.live[t]);
      transient[s][c] = peak - before;
      before += kept[s][c];
    }
  }
  int64_t keptOutside = runs[Keep].estimate.keptBytes;
  for (int s = 0; s < segments; ++s)
    keptOutside -= kept[s][Keep];

  // Dynamic programming over the segments in forward order, keeping the
  // Pareto front of (bytes kept so far, FLOPs recomputed so far).
  struct State {
    int64_t kept;
    double flops;
    int parent, choice;
  };
  auto solve = [&](int64_t limit) -> std::optional<std::vector<int>> {
    std::vector<std::vector<State>> fronts(segments + 1);
    fronts[0].push_back({0, 0, -1, -1});
    for (int s = 0; s < segments; ++s) {
      std::vector<State> next;
      for (auto [i, state] : llvm::enumerate(fronts[s]))
        for (int c = 0; c < Choices; ++c)
          if (state.kept + transient[s][c] <= limit)
            next.push_back({state.kept + kept[s][c], state.flops + flops[s][c],
                            static_cast<int>(i), c});
      llvm::sort(next, [](const State &a, const State &b) {
        return a.kept != b.kept ? a.kept < b.kept : a.flops < b.flops;
      });
      for (const State &state : next)
        if (fronts[s + 1].empty() || state.flops < fronts[s + 1].back().flops)
          fronts[s + 1].push_back(state);
    }
    int best = -1;
    for (auto [i, state] : llvm::enumerate(fronts[segments]))
      if (keptOutside + state.kept <= limit &&
          (best < 0 || state.flops < fronts[segments][best].flops))
        best = static_cast<int>(i);
    if (best < 0)
      return std::nullopt;
    std::vector<int> picked(segments);
    for (int s = segments; s > 0; --s) {
      picked[s - 1] = fronts[s][best].choice;
      best = fronts[s][best].parent;
    }
    return picked;
  };

  // The chain model is checked by simulating the schedule it picks. Where
  // the simulation exceeds the budget, the model's limit is lowered: by the
  // excess, repeatedly, and at evenly spaced limits down to the least peak
  // (the model is not monotone in its limit); the fitting pick with the
  // fewest FLOPs wins.
  auto tryLimit = [&](int64_t limit) -> std::optional<int64_t> {
    std::optional<std::vector<int>> picked = solve(limit);
    if (!picked)
      return std::nullopt;
    Schedule schedule;
    for (Operation *op : graph.forward) {
      int s = graph.segmentOf.lookup(op);
      if (s >= 0 && choices[(*picked)[s]].contains(op))
        schedule.insert(op);
    }
    Estimate estimate = simulate(graph, schedule);
    LDBG() << "budget " << budget << ", model limit " << limit << ": peak "
           << estimate.peakBytes << ", " << estimate.recomputeFlops << " FLOPs";
    int64_t peak = estimate.peakBytes;
    if (peak <= budget &&
        (!result.feasible || estimate.recomputeFlops < result.estimate.recomputeFlops)) {
      result.schedule = std::move(schedule);
      result.estimate = estimate;
      result.feasible = true;
    }
    return peak;
  };
  int64_t limit = budget;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::optional<int64_t> peak = tryLimit(limit);
    if (!peak || *peak <= budget)
      break;
    limit -= *peak - budget;
  }
  const int probes = 32;
  for (int i = 1; i < probes && budget > result.minimumPeak; ++i)
    tryLimit(budget - (budget - result.minimumPeak) * i / probes);
  if (result.feasible)
    return result;
  // No choice fits: the least peak found.
  result.schedule = choices[least];
  result.estimate = runs[least].estimate;
  result.feasible = result.estimate.peakBytes <= budget;
  return result;
}

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

void remat::rewrite(const StepGraph &graph, const Schedule &schedule) {
  SmallVector<SmallVector<Operation *>> plan = planClones(graph, schedule);
  // Forward values to their clones, and kept values to their barriers
  // (one each, made before the first clone that reads it).
  IRMapping clones;
  func::FuncOp f = graph.func;
  OpBuilder b(f.getContext());
  for (auto [i, op] : llvm::enumerate(graph.backward)) {
    b.setInsertionPoint(op);
    for (Operation *original : plan[i]) {
      for (Value v : original->getOperands())
        if (!clones.contains(v))
          clones.map(v, RematBarrierOp::create(b, v.getLoc(), v).getResult());
      Operation *clone = b.clone(*original, clones);
      clone->setAttr(TrainDialect::getRecomputedAttrName(), b.getUnitAttr());
    }
    for (OpOperand &use : op->getOpOperands())
      if (Operation *def = use.get().getDefiningOp(); def && schedule.contains(def))
        use.set(clones.lookup(use.get()));
  }
}

std::optional<int64_t> remat::parseBytes(StringRef text) {
  text = text.trim();
  size_t digits = text.find_first_not_of("0123456789.");
  StringRef number = text.take_front(digits), unit = text.drop_front(number.size()).trim();
  double value;
  if (number.empty() || number.getAsDouble(value) || value < 0)
    return std::nullopt;
  double scale = llvm::StringSwitch<double>(unit.lower())
                     .Cases({"", "b"}, 1)
                     .Cases({"kib", "k"}, 1024.0)
                     .Cases({"mib", "m"}, 1024.0 * 1024)
                     .Cases({"gib", "g"}, 1024.0 * 1024 * 1024)
                     .Case("kb", 1e3)
                     .Case("mb", 1e6)
                     .Case("gb", 1e9)
                     .Default(-1);
  if (scale < 0)
    return std::nullopt;
  return static_cast<int64_t>(std::floor(value * scale));
}

//===----------------------------------------------------------------------===//
// train.remat_barrier in bufferization
//===----------------------------------------------------------------------===//

namespace {

namespace bz = mlir::bufferization;

/// The identity on buffers: the result is its operand's buffer.
struct RematBarrierBufferization
    : bz::BufferizableOpInterface::ExternalModel<RematBarrierBufferization, RematBarrierOp> {
  bool bufferizesToMemoryRead(Operation *, OpOperand &, const bz::AnalysisState &) const {
    return false;
  }
  bool bufferizesToMemoryWrite(Operation *, OpOperand &, const bz::AnalysisState &) const {
    return false;
  }
  bz::AliasingValueList getAliasingValues(Operation *op, OpOperand &,
                                          const bz::AnalysisState &) const {
    return {{op->getResult(0), bz::BufferRelation::Equivalent}};
  }
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const bz::BufferizationOptions &options,
                          bz::BufferizationState &state) const {
    FailureOr<Value> buffer = bz::getBuffer(rewriter, op->getOperand(0), options, state);
    if (failed(buffer))
      return failure();
    bz::replaceOpWithBufferizedValues(rewriter, op, *buffer);
    return success();
  }
};

} // namespace

void remat::registerBufferizationModels(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *context, TrainDialect *) {
    RematBarrierOp::attachInterface<RematBarrierBufferization>(*context);
  });
}

//===----------------------------------------------------------------------===//
// ftc-remat
//===----------------------------------------------------------------------===//

namespace {

struct RematPass : public ftc::CheckedOptionsPass<RematPass, ftc::impl::RematBase<RematPass>> {
  using CheckedOptionsPass::CheckedOptionsPass;

  LogicalResult checkOptions(function_ref<LogicalResult(const Twine &)> errorHandler) {
    chosen = policy == "budget" ? nullptr : remat::lookupRematPolicy(policy);
    if (!chosen && policy != "budget")
      return errorHandler("ftc-remat: policy: expected " + remat::rematPolicyNames() +
                          " or budget, got '" + policy + "'");
    budget.reset();
    if (!memoryBudget.empty()) {
      budget = remat::parseBytes(memoryBudget);
      if (!budget)
        return errorHandler("ftc-remat: memory-budget: expected bytes (as 3000000, 512KiB, "
                            "300MiB or 1.5GiB), got '" +
                            memoryBudget + "'");
      if (policy != "none" && policy != "budget")
        return errorHandler("ftc-remat: memory-budget goes with policy=budget, not policy=" +
                            policy);
      chosen = nullptr;
    } else if (!chosen) {
      return errorHandler("ftc-remat: policy=budget needs memory-budget");
    }
    return success();
  }

  void runOnOperation() override {
    if (failed(checkOptions([&](const Twine &message) {
          return getOperation().emitError(message);
        })))
      return signalPassFailure();
    // The gradient function (one: a model has one loss), if autodiff ran.
    func::FuncOp grad =
        findMarkedFunction(getOperation(), TrainDialect::getGradientOfAttrName());
    if (grad && failed(runOn(grad)))
      return signalPassFailure();
  }

  LogicalResult runOn(func::FuncOp grad) {
    FailureOr<remat::StepGraph> graph = remat::analyzeStep(grad, fusedAttention);
    if (failed(graph))
      return failure();
    remat::Schedule schedule;
    remat::Estimate estimate;
    double lowerBound = -1;
    if (!chosen) {
      remat::BudgetResult result = remat::scheduleForBudget(*graph, *budget);
      if (!result.feasible)
        return grad.emitError() << "ftc-remat: memory-budget=" << *budget
                                << " bytes is below the least peak of tensors this "
                                   "step can reach, "
                                << result.minimumPeak
                                << " bytes (every block recomputed; ftc-remat's memory "
                                   "model, before fusion)";
      schedule = std::move(result.schedule);
      estimate = result.estimate;
      lowerBound = result.lowerBoundFlops;
    } else {
      schedule = chosen->choose(*graph);
      // A plugin's policy may choose what cannot run twice.
      llvm::DenseSet<Operation *> forward(graph->forward.begin(), graph->forward.end());
      for (Operation *op : schedule)
        if (!forward.contains(op) || !graph->canRecompute(op))
          return op->emitError() << "ftc-remat: policy '" << chosen->getName()
                                 << "' recomputes an op the backward cannot run again (not "
                                    "a side-effect-free forward op with operands, no "
                                    "regions and no returned result)";
      estimate = remat::simulate(*graph, schedule);
    }
    remat::rewrite(*graph, schedule);
    // What was decided, for `ftc --report` and the tests.
    Builder b(grad.getContext());
    SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("policy", b.getStringAttr(chosen ? chosen->getName() : "budget")),
        b.getNamedAttr("peak", b.getI64IntegerAttr(estimate.peakBytes)),
        b.getNamedAttr("kept", b.getI64IntegerAttr(estimate.keptBytes)),
        b.getNamedAttr("recomputed_ops", b.getI64IntegerAttr(estimate.recomputedOps)),
        b.getNamedAttr("recompute_flops", b.getF64FloatAttr(estimate.recomputeFlops)),
        b.getNamedAttr("step_flops", b.getF64FloatAttr(graph->stepFlops))};
    if (fusedAttention) // the memory model the verdict is in
      fields.push_back(b.getNamedAttr("fused_attention", b.getBoolAttr(true)));
    if (lowerBound >= 0)
      fields.push_back(b.getNamedAttr("lower_bound_flops", b.getF64FloatAttr(lowerBound)));
    grad->getParentOp()->setAttr(TrainDialect::getRematAttrName(), b.getDictionaryAttr(fields));
    return success();
  }

  /// Null for the budget policy.
  const remat::RematPolicy *chosen = nullptr;
  std::optional<int64_t> budget;
};

} // namespace
