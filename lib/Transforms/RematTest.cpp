//===- RematTest.cpp - ftc-remat's cost model and schedules, as remarks ---===//
//
// Tests only: ftc-test-remat-cost and ftc-test-remat-schedule print what
// ftc-remat would decide (ftc/Transforms/Remat.h), one remark per op, so
// that lit tests pin each piece down with --verify-diagnostics.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"
#include "ftc/Transforms/Remat.h"

#include "ftc/Dialect/Train/IR/TrainDialect.h"
#include "ftc/Dialect/Train/IR/TrainModel.h"

#include "llvm/Support/FormatVariadic.h"

namespace ftc {
#define GEN_PASS_DEF_TESTREMATCOST
#define GEN_PASS_DEF_TESTREMATSCHEDULE
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;
namespace remat = ftc::remat;

namespace {

/// The gradient function of `module` (one, or none before autodiff), as a
/// list to loop over.
SmallVector<func::FuncOp> gradients(ModuleOp module) {
  func::FuncOp grad = ftc::train::findMarkedFunction(
      module, ftc::train::TrainDialect::getGradientOfAttrName());
  return grad ? SmallVector<func::FuncOp>{grad} : SmallVector<func::FuncOp>{};
}

struct TestRematCostPass : ftc::impl::TestRematCostBase<TestRematCostPass> {
  void runOnOperation() override {
    for (func::FuncOp grad : gradients(getOperation())) {
      FailureOr<remat::StepGraph> graph = remat::analyzeStep(grad);
      if (failed(graph))
        return signalPassFailure();
      grad.emitRemark() << llvm::formatv(
          "{0} segments ({1}), {2:e3} FLOPs in the step", graph->numSegments,
          graph->segmentsAreCalls ? "calls" : "articulation values", graph->stepFlops);
      for (Operation *op : graph->forward) {
        int64_t bytes = 0;
        for (Value r : op->getResults())
          bytes += graph->storageBytes(r);
        InFlightDiagnostic remark = op->emitRemark()
                                    << bytes << " bytes, "
                                    << llvm::formatv("{0:e3}", remat::estimateFlops(op))
                                    << " FLOPs, segment " << graph->segmentOf.lookup(op);
        if (llvm::any_of(op->getResults(), [&](Value r) { return graph->saved.contains(r); }))
          remark << ", saved";
        if (remat::isProduct(op))
          remark << ", product";
        if (op->getNumResults() && graph->isFree(op->getResult(0)))
          remark << ", free";
      }
    }
  }
};

struct TestRematSchedulePass : ftc::impl::TestRematScheduleBase<TestRematSchedulePass> {
  using TestRematScheduleBase::TestRematScheduleBase;
  void runOnOperation() override {
    const remat::RematPolicy *chosen = remat::lookupRematPolicy(policy);
    std::optional<int64_t> budget =
        memoryBudget.empty() ? std::nullopt : remat::parseBytes(memoryBudget);
    if ((!chosen && policy != "budget") || (policy == "budget") != budget.has_value()) {
      getOperation().emitError("ftc-test-remat-schedule: a policy, and memory-budget "
                               "exactly with policy=budget");
      return signalPassFailure();
    }
    for (func::FuncOp grad : gradients(getOperation())) {
      FailureOr<remat::StepGraph> graph = remat::analyzeStep(grad, fusedAttention);
      if (failed(graph))
        return signalPassFailure();
      remat::Schedule schedule;
      remat::Estimate estimate;
      InFlightDiagnostic summary = grad.emitRemark();
      if (!chosen) {
        remat::BudgetResult result = remat::scheduleForBudget(*graph, *budget);
        schedule = result.schedule;
        estimate = result.estimate;
        summary << (result.feasible ? "feasible" : "infeasible") << ", least peak "
                << result.minimumPeak << " bytes, lower bound "
                << llvm::formatv("{0:e3}", result.lowerBoundFlops) << " FLOPs, ";
      } else {
        schedule = chosen->choose(*graph);
        estimate = remat::simulate(*graph, schedule);
      }
      summary << "peak " << estimate.peakBytes << " bytes, kept " << estimate.keptBytes
              << " bytes, recomputes " << estimate.recomputedOps << " ops, "
              << llvm::formatv("{0:e3}", estimate.recomputeFlops) << " FLOPs";
      summary.report();
      for (Operation *op : graph->forward)
        if (llvm::any_of(op->getResults(), [&](Value r) { return graph->saved.contains(r); }))
          op->emitRemark() << (schedule.contains(op) ? "recomputed" : "kept");
    }
  }
};

} // namespace
