//===- ParallelToOpenMP.cpp - scf.parallel as an OpenMP team --------------===//
//
// Each scf.parallel loop (without reductions) becomes one `omp.parallel`
// region in which thread t of n runs iterations t, t + n, t + 2n, ... of the
// flattened iteration space. Upstream's convert-scf-to-openmp emits an
// OpenMP worksharing loop instead, whose scheduler in libomp
// (__kmpc_for_static_init) allocates heap memory on every loop; a step
// promises to allocate nothing, and a parallel region alone does not
// allocate once the threads exist. Which thread runs an iteration never
// changes a result: iterations of these loops write disjoint blocks.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace ftc {
#define GEN_PASS_DEF_PARALLELTOOPENMP
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

/// `func.func private @name() -> i32` in `module`, declared once.
func::FuncOp declareQuery(ModuleOp module, StringRef name) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
  auto func = func::FuncOp::create(b, module.getLoc(), name,
                                   b.getFunctionType({}, {b.getI32Type()}));
  func.setPrivate();
  return func;
}

struct ParallelToOpenMPPass
    : public ftc::impl::ParallelToOpenMPBase<ParallelToOpenMPPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<scf::ParallelOp> loops;
    // Outermost loops only: a nested scf.parallel runs inside its thread.
    module.walk<WalkOrder::PreOrder>([&](scf::ParallelOp loop) {
      loops.push_back(loop);
      return WalkResult::skip();
    });
    for (scf::ParallelOp loop : loops) {
      if (loop.getNumReductions() != 0) {
        loop.emitError("a parallel loop with reductions has no OpenMP lowering in ftc");
        return signalPassFailure();
      }
      func::FuncOp threadNum = declareQuery(module, "omp_get_thread_num");
      func::FuncOp numThreads = declareQuery(module, "omp_get_num_threads");
      lower(loop, threadNum, numThreads);
    }
  }

  void lower(scf::ParallelOp loop, func::FuncOp threadNum, func::FuncOp numThreads) {
    OpBuilder b(loop);
    Location loc = loop.getLoc();
    Type index = b.getIndexType();
    // Trip counts, and the flattened count, before the region.
    SmallVector<Value> trips;
    Value total = arith::ConstantIndexOp::create(b, loc, 1);
    for (auto [lb, ub, step] :
         llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
      Value span = arith::SubIOp::create(b, loc, ub, lb);
      Value trip = arith::CeilDivUIOp::create(b, loc, span, step);
      trips.push_back(trip);
      total = arith::MulIOp::create(b, loc, total, trip);
    }
    auto team = omp::ParallelOp::create(b, loc);
    Block *body = b.createBlock(&team.getRegion());
    b.setInsertionPointToStart(body);
    auto asIndex = [&](func::FuncOp query) {
      Value v = func::CallOp::create(b, loc, query, ValueRange{}).getResult(0);
      return arith::IndexCastOp::create(b, loc, index, v).getResult();
    };
    Value thread = asIndex(threadNum), threads = asIndex(numThreads);
    auto flat = scf::ForOp::create(b, loc, thread, total, threads);
    b.setInsertionPointToStart(flat.getBody());
    // The flat index back to one index per dimension, last fastest.
    IRMapping mapping;
    Value rest = flat.getInductionVar();
    for (int64_t d = trips.size() - 1; d >= 0; --d) {
      Value i = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, trips[d]).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(b, loc, rest, trips[d]);
      Value iv = arith::AddIOp::create(
          b, loc, loop.getLowerBound()[d],
          arith::MulIOp::create(b, loc, i, loop.getStep()[d]));
      mapping.map(loop.getInductionVars()[d], iv);
    }
    for (Operation &op : loop.getBody()->without_terminator())
      b.clone(op, mapping);
    b.setInsertionPointToEnd(body);
    omp::TerminatorOp::create(b, loc);
    loop.erase();
  }
};

} // namespace
