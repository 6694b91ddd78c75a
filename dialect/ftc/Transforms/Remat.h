//===- Remat.h - what the backward keeps, what it recomputes ----*- C++ -*-===//
//
// ftc-remat's pieces, each testable on its own (the ftc-test-remat-* passes)
// and used by `ftc --report`:
//
// - the cost model: bytes and FLOPs of each forward value of a gradient
//   function, and the values the backward reads (StepGraph);
// - the memory model: the peak of live tensors in the gradient function
//   for a schedule, by simulating the rewritten function (simulate);
// - the schedules: which forward ops the backward recomputes instead of
//   keeping their results, by policy (none, blocks, sqrt) or for a
//   memory budget (scheduleForBudget);
// - the rewrite: the recomputed ops cloned into the backward, each just
//   before its first reader there (rewrite).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_TRANSFORMS_REMAT_H
#define FTC_TRANSFORMS_REMAT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <memory>

#include <optional>
#include <string>

namespace ftc::remat {

/// FLOPs of one op (an estimate: 2 per multiply-add of a product, a few
/// per element of the other ops; 0 for views). Attention's gradient: its
/// products and the softmax's gradient, reading the forward's
/// probabilities (computing them again is probabilityFlops more).
double estimateFlops(mlir::Operation *op);

/// Scratch bytes an op needs while it runs, beyond its operands and results:
/// the packed operands of a product, attention's scores.
int64_t transientBytes(mlir::Operation *op);

/// FLOPs of attention's probabilities (q k^T and the softmax), which its
/// gradient computes again where it cannot read the forward's.
double probabilityFlops(mlir::Operation *attentionOrGrad);

/// The matrix products (linear, matmul, attention): expensive to recompute.
bool isProduct(mlir::Operation *op);

/// The gradient function as ftc-remat sees it.
struct StepGraph {
  mlir::func::FuncOp func;
  /// The backward's first op: autodiff's seed (train.loss_seed).
  mlir::Operation *seed = nullptr;
  /// The ops before the seed, and from the seed to the terminator.
  llvm::SmallVector<mlir::Operation *> forward, backward;
  /// Forward values the backward reads: autodiff's saved tensors, each
  /// declared by its reader's op in getSavedForBackward.
  llvm::SetVector<mlir::Value> saved;
  /// Forward ops by segment (-1: in none): the model's functions, as the
  /// inliner's call sites tell them apart, else the stretches between the
  /// forward's articulation values (one value carries everything on).
  llvm::DenseMap<mlir::Operation *, int> segmentOf;
  int numSegments = 0;
  bool segmentsAreCalls = false;
  /// The FLOPs of the function (forward and backward), for the overhead.
  double stepFlops = 0;
  /// Attention that the fused kernels take (FusedAttentionOp::takes) runs
  /// as them (--target=cuda): the forward keeps each row's log-sum-exp,
  /// not the probabilities, and the gradient computes them again.
  bool fusedAttention = false;

  /// A forward value available to the backward at no memory cost: an
  /// argument, a parameter read, a result of an op without operands.
  bool isFree(mlir::Value v) const;
  /// A forward op the backward may run again: side-effect free, no
  /// regions, operands, not free, no result returned.
  bool canRecompute(mlir::Operation *op) const;
  /// Whether `op`, an attention or its gradient, runs as a fused kernel.
  bool runsFused(mlir::Operation *op) const;
  /// Whether `op`'s result is a view of its first operand's buffer: a
  /// train.reshape or train.split; with fusedAttention also a
  /// train.transpose into or out of a fused attention, which the kernels
  /// read and write in place (ftc-gpu-elide-copies).
  bool isView(mlir::Operation *op) const;
  /// Bytes held by `v` itself: 0 for a view of another tensor, its
  /// elements' bytes otherwise.
  int64_t storageBytes(mlir::Value v) const;
  /// The value whose buffer `v` is: through views, to the tensor they view.
  mlir::Value storageRoot(mlir::Value v) const;
};

/// Fails (with a diagnostic) when `grad` has no seed or more than one block.
mlir::FailureOr<StepGraph> analyzeStep(mlir::func::FuncOp grad, bool fusedAttention = false);

/// The forward ops whose results the backward recomputes.
using Schedule = llvm::DenseSet<mlir::Operation *>;

/// The memory model's verdict on a schedule.
struct Estimate {
  /// Most bytes of tensors live at once in the rewritten function
  /// (parameters and arguments apart; each tensor from its op to its last
  /// reader; views share their source's bytes).
  int64_t peakBytes = 0;
  /// Bytes live when the backward starts: what the forward keeps.
  int64_t keptBytes = 0;
  /// FLOPs of the recomputed ops.
  double recomputeFlops = 0;
  int64_t recomputedOps = 0;
};
Estimate simulate(const StepGraph &graph, const Schedule &schedule);

/// The ops of each group of `groupSize` consecutive segments (those for
/// which `include` holds) that the backward can recompute from what the
/// group reads: every forward reader of their results is in the group.
/// `blocks` is groups of 1, `sqrt` of about sqrt(n).
Schedule recomputeInsideGroups(const StepGraph &graph, int groupSize,
                               llvm::function_ref<bool(mlir::Operation *)> include);

/// A remat policy: which forward ops the backward recomputes. ftc's are
/// `none`, `blocks` and `sqrt`; a plugin registers its own (from its
/// mlirGetPassPluginInfo callback) and `ftc --remat=NAME` or
/// `ftc-remat{policy=NAME}` uses it. The memory model, the rewrite and the
/// report are ftc-remat's whatever the policy. (`budget` is not one: it
/// takes a budget, ftc-remat's memory-budget.)
class RematPolicy {
public:
  virtual ~RematPolicy();
  /// The name --remat takes.
  virtual llvm::StringRef getName() const = 0;
  /// One line: what it recomputes.
  virtual llvm::StringRef getDescription() const = 0;
  /// The forward ops whose results the backward recomputes: ops of
  /// graph.forward that graph.canRecompute allows (ftc-remat checks).
  virtual Schedule choose(const StepGraph &graph) const = 0;
};

/// Registers `policy`; fails when its name is taken (or is `budget`).
mlir::LogicalResult registerRematPolicy(std::unique_ptr<RematPolicy> policy);

/// The policy registered as `name`, or null.
const RematPolicy *lookupRematPolicy(llvm::StringRef name);

/// Every registered policy, ftc's first, then in order of registration.
llvm::SmallVector<const RematPolicy *> getRematPolicies();

/// "none, blocks, sqrt" and the plugins' names, for messages.
std::string rematPolicyNames();

/// The choice of the budget policy: for each segment, keep everything,
/// recompute all but the products, all but the matrix products (attention
/// too), or everything;
/// dynamic programming over the segments for the fewest recomputed FLOPs
/// whose peak fits, checked by simulation.
struct BudgetResult {
  Schedule schedule;
  Estimate estimate;
  bool feasible = false;
  /// The least peak reachable (the `min` schedule's).
  int64_t minimumPeak = 0;
  /// A lower bound on the recomputed FLOPs of any schedule, per value,
  /// whose peak fits (a fractional knapsack over the saved values: each
  /// recomputed value frees at most its bytes and costs at least its op).
  double lowerBoundFlops = 0;
};
BudgetResult scheduleForBudget(const StepGraph &graph, int64_t budgetBytes);

/// Clones the recomputed ops into the backward, each before its first
/// reader there, reading the kept values through train.remat_barrier; the
/// clones carry `train.recomputed`.
void rewrite(const StepGraph &graph, const Schedule &schedule);

/// "512MiB", "1.5GiB", "3000000" (also KiB, GiB, KB, MB, GB) as bytes.
std::optional<int64_t> parseBytes(llvm::StringRef text);

/// train.remat_barrier's bufferization: its operand's buffer.
void registerBufferizationModels(mlir::DialectRegistry &registry);

} // namespace ftc::remat

#endif // FTC_TRANSFORMS_REMAT_H
