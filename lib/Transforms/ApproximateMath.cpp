//===- ApproximateMath.cpp - Inline polynomial approximations -------------===//
//
// Applies upstream's polynomial approximations of math functions (which
// upstream provides as patterns only) so that elementwise loops over
// transcendental functions vectorize instead of calling libm per element.
//
//===----------------------------------------------------------------------===//

#include "ftc/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ftc {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "ftc/Transforms/Passes.h.inc"
} // namespace ftc

using namespace mlir;

namespace {

struct ApproximateMathPass : public ftc::impl::ApproximateMathBase<ApproximateMathPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<std::string> names(ops.begin(), ops.end());
    if (names.empty())
      names = {"math.tanh", "math.exp", "math.erf"};
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [&](StringRef op) { return llvm::is_contained(names, op); });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
