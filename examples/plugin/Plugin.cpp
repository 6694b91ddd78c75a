//===- Plugin.cpp - an example ftc plugin: a pass and a remat policy ------===//
//
// Loaded with --load-pass-plugin into ftc or ftc-opt, it adds:
//
// - `example-quick-gelu`, a pass on the model: every train.gelu becomes
//   x * sigmoid(1.702 x) (the "quick GELU" of Hendrycks and Gimpel 2016,
//   CLIP's activation), written in train.fill and upstream arith and math
//   ops on tensors. Run before ftc-autodiff (ftc
//   --insert-pass=after-inline:example-quick-gelu), the backward follows
//   from those ops' derivative rules;
// - `selective`, a remat policy (ftc --remat=selective): the backward
//   recomputes every forward op but the matrix products, keeping only what
//   is expensive to compute again;
// - `fp32-head`, autocast rules (ftc --precision=bf16
//   --autocast-rules=fp32-head): ftc's rules, except that a product whose
//   result goes straight into the loss (the classifier, the LM head)
//   computes in f32;
// - tile sizes, `example-12x16` (ftc --cpu-tiles=example-12x16): register
//   blocks of 12 rows of C by 16 columns for the matrix products;
// - the `example` dialect (--load-dialect-plugin), whose `example.swish`
//   the `example-lower-swish` pass rewrites into x * sigmoid(x) like the
//   quick GELU, so that ftc differentiates and compiles it.
//
//===----------------------------------------------------------------------===//

#include "ExampleDialect.h"

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"
#include "ftc/Dialect/Train/IR/TrainOps.h"
#include "ftc/Transforms/Passes.h"
#include "ftc/Transforms/Remat.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Config/llvm-config.h"

using namespace mlir;
namespace train = ftc::train;
namespace remat = ftc::remat;

namespace {

//===----------------------------------------------------------------------===//
// example-quick-gelu
//===----------------------------------------------------------------------===//

/// x * sigmoid(scale x), as x / (1 + exp(-scale x)), at `b`'s insertion point.
Value timesSigmoid(OpBuilder &b, Location loc, Value x, double scale) {
  auto splat = [&](double value) -> Value {
    return train::FillOp::create(b, loc, x.getType(), b.getF64FloatAttr(value));
  };
  Value scaled = arith::MulFOp::create(b, loc, x, splat(-scale));
  Value exp = math::ExpOp::create(b, loc, scaled);
  Value denominator = arith::AddFOp::create(b, loc, exp, splat(1.0));
  return arith::DivFOp::create(b, loc, x, denominator);
}

struct QuickGeluPass : public PassWrapper<QuickGeluPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(QuickGeluPass)

  StringRef getArgument() const override { return "example-quick-gelu"; }
  StringRef getName() const override { return "QuickGelu"; }
  StringRef getDescription() const override {
    return "Every train.gelu as x * sigmoid(1.702 x), in arith and math ops";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect>();
  }

  void runOnOperation() override {
    getOperation().walk([](train::GeluOp gelu) {
      OpBuilder b(gelu);
      gelu.replaceAllUsesWith(timesSigmoid(b, gelu.getLoc(), gelu.getInput(), 1.702));
      gelu.erase();
    });
  }
};

//===----------------------------------------------------------------------===//
// example-lower-swish
//===----------------------------------------------------------------------===//

struct LowerSwishPass : public PassWrapper<LowerSwishPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerSwishPass)

  StringRef getArgument() const override { return "example-lower-swish"; }
  StringRef getName() const override { return "LowerSwish"; }
  StringRef getDescription() const override {
    return "Every example.swish as x * sigmoid(x), in ops ftc differentiates";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, math::MathDialect, example::ExampleDialect>();
  }

  void runOnOperation() override {
    getOperation().walk([](example::SwishOp swish) {
      OpBuilder b(swish);
      swish.replaceAllUsesWith(timesSigmoid(b, swish.getLoc(), swish.getInput(), 1.0));
      swish.erase();
    });
  }
};

//===----------------------------------------------------------------------===//
// The `selective` remat policy
//===----------------------------------------------------------------------===//

class SelectivePolicy : public remat::RematPolicy {
public:
  StringRef getName() const override { return "selective"; }
  StringRef getDescription() const override {
    return "recompute every forward op but the matrix products";
  }
  remat::Schedule choose(const remat::StepGraph &graph) const override {
    remat::Schedule schedule;
    for (Operation *op : graph.forward)
      if (graph.canRecompute(op) && !remat::isProduct(op))
        schedule.insert(op);
    return schedule;
  }
};

//===----------------------------------------------------------------------===//
// The `fp32-head` autocast rules
//===----------------------------------------------------------------------===//

class Fp32HeadRules : public ftc::AutocastRules {
public:
  StringRef getName() const override { return "fp32-head"; }
  StringRef getDescription() const override {
    return "ftc's rules, with the products that feed the loss in f32";
  }
  ftc::AutocastPolicy decide(Operation *op) const override {
    bool feedsLoss = llvm::any_of(op->getUsers(), [](Operation *user) {
      return isa<train::CrossEntropyOp>(user);
    });
    if (isa<train::LinearOp, train::MatmulOp>(op) && feedsLoss)
      return ftc::AutocastPolicy::Fp32;
    return ftc::lookupAutocastRules("torch")->decide(op);
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// The plugin's entry point
//===----------------------------------------------------------------------===//

extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "FtcExamplePlugin", LLVM_VERSION_STRING, [] {
            PassRegistration<QuickGeluPass>();
            PassRegistration<LowerSwishPass>();
            if (failed(remat::registerRematPolicy(std::make_unique<SelectivePolicy>())))
              llvm::report_fatal_error("FtcExamplePlugin: a remat policy 'selective' "
                                       "is registered already");
            if (failed(ftc::registerAutocastRules(std::make_unique<Fp32HeadRules>())))
              llvm::report_fatal_error("FtcExamplePlugin: autocast rules 'fp32-head' "
                                       "are registered already");
            // 12 x 16 register blocks (then 8 x 16, 4 x 16 where they do not
            // divide a product), ftc's cache blocks (96 rows, 512 columns,
            // k blocks of at most 256).
            ftc::cpu::TileConfig tiles{{{12, 16}, {8, 16}, {4, 16}}, 96, 512, 256};
            if (failed(ftc::cpu::registerTileConfig("example-12x16", tiles)))
              llvm::report_fatal_error("FtcExamplePlugin: tiles 'example-12x16' are "
                                       "registered already");
          }};
}

extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "FtcExampleDialect", LLVM_VERSION_STRING,
          [](DialectRegistry *registry) { registry->insert<example::ExampleDialect>(); }};
}
