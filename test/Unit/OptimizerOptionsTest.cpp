//===- OptimizerOptionsTest.cpp - ftc-optimizer's options, declared once ---===//

#include "ftc/Transforms/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"

#include <gtest/gtest.h>

using namespace mlir;

namespace {
std::string printed(Pass &pass) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pass.printAsTextualPipeline(os);
  return text;
}

LogicalResult initialize(Pass &pass, StringRef options, std::string &error) {
  return pass.initializeOptions(options, [&](const Twine &message) {
    error = message.str();
    return failure();
  });
}
} // namespace

// `ftc` makes its flags from this list: every option of Passes.td, described.
TEST(OptimizerOptions, ListsEveryDeclaredOption) {
  std::unique_ptr<Pass> pass = ftc::createOptimizer();
  std::vector<std::string> names;
  for (llvm::cl::Option *option : ftc::getOptimizerOptions(*pass)) {
    names.push_back(option->ArgStr.str());
    EXPECT_FALSE(option->HelpStr.empty()) << option->ArgStr.str();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"beta1", "beta2", "clip-grad-norm", "dampening",
                                             "decay-params", "eps", "guard-updates", "lr",
                                             "lr-scale", "momentum", "nesterov", "optimizer",
                                             "weight-decay"}));
}

// Options not given print as nan (or empty) and parse back as not given.
TEST(OptimizerOptions, NotGivenSurvivesPrinting) {
  std::unique_ptr<Pass> pass = ftc::createOptimizer();
  std::string error;
  ASSERT_TRUE(succeeded(initialize(*pass, "lr=0.5", error))) << error;
  std::string text = printed(*pass);
  EXPECT_NE(text.find("lr=5.000000e-01"), std::string::npos) << text;
  EXPECT_NE(text.find("momentum=nan"), std::string::npos) << text;

  StringRef options = StringRef(text).drop_until([](char c) { return c == '{'; });
  std::unique_ptr<Pass> replay = ftc::createOptimizer();
  ASSERT_TRUE(succeeded(initialize(*replay, options.drop_front().drop_back(), error)))
      << error;
  EXPECT_EQ(printed(*replay), text);
}

TEST(OptimizerOptions, BadValuesFailWhenParsed) {
  {
    std::string error;
    std::unique_ptr<Pass> pass = ftc::createOptimizer();
    EXPECT_TRUE(failed(initialize(*pass, "clip-grad-norm=0", error)));
    EXPECT_EQ(error, "--clip-grad-norm: expected a positive bound, got 0");
    pass = ftc::createOptimizer();
    EXPECT_TRUE(succeeded(initialize(*pass, "clip-grad-norm=inf lr-scale=a=0.5,b=2", error)))
        << error;
  }
  std::string error;
  std::unique_ptr<Pass> pass = ftc::createOptimizer();
  EXPECT_TRUE(failed(initialize(*pass, "weight-decay=-0.1", error)));
  EXPECT_EQ(error, "--weight-decay: expected a non-negative number, got -0.1");
  pass = ftc::createOptimizer();
  EXPECT_TRUE(failed(initialize(*pass, "optimizer=adam", error)));
  EXPECT_EQ(error, "--optimizer: expected adamw or sgd, got 'adam'");
}

// A pass made from OptimizerOptions is not parsed: its values are checked
// when it runs.
TEST(OptimizerOptions, BadValuesFromCppFailWhenRun) {
  DialectRegistry registry;
  registry.insert<ftc::train::TrainDialect, func::FuncDialect>();
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    train.param @w : tensor<4xf32> init #train.zeros
    func.func @loss(%x: tensor<4xf32> {train.input = "x"}) -> tensor<f32> attributes {train.loss} {
      %w = train.get_param @w : tensor<4xf32>
      %l = train.mse_loss %w, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<f32>
      return %l : tensor<f32>
    })mlir", &context);
  ASSERT_TRUE(module);
  std::string error;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diag) {
    error = diag.str();
    return success();
  });
  ftc::OptimizerOptions options;
  options.lr = -1;
  PassManager pm(&context);
  pm.addPass(ftc::createAutodiff());
  pm.addPass(ftc::createOptimizer(options));
  EXPECT_TRUE(failed(pm.run(*module)));
  EXPECT_EQ(error, "--lr: expected a non-negative number, got -1");
}
