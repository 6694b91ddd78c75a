//===- AttrsTest.cpp - initializer and optimizer attributes ---------------===//

#include "ftc/Dialect/Train/IR/TrainAttrs.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"

#include "mlir/AsmParser/AsmParser.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace ftc::train;

namespace {
class AttrTest : public ::testing::Test {
protected:
  AttrTest() { context.loadDialect<TrainDialect>(); }

  /// Parses `text`, failing the test (not crashing) on bad input.
  Attribute parse(StringRef text) {
    ScopedDiagnosticHandler silence(&context, [](Diagnostic &) { return success(); });
    return parseAttribute(text, &context);
  }

  static std::string print(Attribute attr) {
    std::string out;
    llvm::raw_string_ostream os(out);
    attr.print(os);
    return out;
  }

  MLIRContext context;
};
} // namespace

TEST_F(AttrTest, AdamWDefaultsArePyTorchs) {
  auto adamw = dyn_cast_or_null<AdamWAttr>(parse("#train.adamw"));
  ASSERT_TRUE(adamw);
  EXPECT_EQ(adamw.getLr().convertToDouble(), 1e-3);
  EXPECT_EQ(adamw.getBeta1().convertToDouble(), 0.9);
  EXPECT_EQ(adamw.getBeta2().convertToDouble(), 0.999);
  EXPECT_EQ(adamw.getEps().convertToDouble(), 1e-8);
  EXPECT_EQ(adamw.getWeightDecay().convertToDouble(), 0.01);
  EXPECT_EQ(print(adamw), "#train.adamw<lr = 0.001, beta1 = 0.9, beta2 = 0.999, "
                          "eps = 1.0e-08, weight_decay = 0.01>");
}

TEST_F(AttrTest, FieldsInAnyOrderOverrideDefaults) {
  auto sgd = dyn_cast_or_null<SGDAttr>(
      parse("#train.sgd<nesterov = true, momentum = 0.9, lr = 0.1>"));
  ASSERT_TRUE(sgd);
  EXPECT_EQ(sgd.getLr().convertToDouble(), 0.1);
  EXPECT_EQ(sgd.getMomentum().convertToDouble(), 0.9);
  EXPECT_EQ(sgd.getDampening().convertToDouble(), 0.0);
  EXPECT_TRUE(sgd.getNesterov());
}

TEST_F(AttrTest, PrintedFloatsReadBackExactly) {
  for (double value : {0.1, 1.0 / 3.0, 2.5e-7, 123456.789, -0.02}) {
    auto attr = NormalAttr::get(&context, llvm::APFloat(0.0), llvm::APFloat(std::abs(value)));
    auto back = dyn_cast_or_null<NormalAttr>(parse(print(attr)));
    ASSERT_TRUE(back) << print(attr);
    EXPECT_EQ(back.getStd().convertToDouble(), std::abs(value)) << print(attr);
    auto constant = ConstantInitAttr::get(&context, llvm::APFloat(value));
    EXPECT_EQ(parse(print(constant)), constant) << print(constant);
  }
}

TEST_F(AttrTest, RejectsBadFields) {
  EXPECT_FALSE(parse("#train.adamw<learning_rate = 0.1>"));
  EXPECT_FALSE(parse("#train.adamw<lr = 0.1, lr = 0.2>"));
  EXPECT_FALSE(parse("#train.adamw<beta1 = 1.0>"));
  EXPECT_FALSE(parse("#train.sgd<nesterov = true>"));
  EXPECT_FALSE(parse("#train.uniform<low = 1.0, high = 0.0>"));
  EXPECT_FALSE(parse("#train.linear_bias<fan_in = 0>"));
}

TEST_F(AttrTest, KaimingFanInIsEverythingButTheFirstDim) {
  EXPECT_EQ(KaimingUniformAttr::getFanIn({1024, 784}), 784);
  EXPECT_EQ(KaimingUniformAttr::getFanIn({16, 3, 5, 5}), 75);
}

TEST_F(AttrTest, InitializersCheckTheParameterType) {
  std::string message;
  ScopedDiagnosticHandler capture(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto emit = [&] { return emitError(UnknownLoc::get(&context)); };
  auto f32 = Float32Type::get(&context);
  auto kaiming = cast<InitializerAttrInterface>(KaimingUniformAttr::get(&context));
  EXPECT_TRUE(succeeded(kaiming.verifyFor(RankedTensorType::get({4, 3}, f32), emit)));
  EXPECT_TRUE(failed(kaiming.verifyFor(RankedTensorType::get({4}, f32), emit)));
  EXPECT_EQ(message, "#train.kaiming_uniform needs a parameter of rank 2 or "
                     "more to compute fan_in, got 'tensor<4xf32>'");
  auto zeros = cast<InitializerAttrInterface>(ZerosAttr::get(&context));
  EXPECT_TRUE(succeeded(zeros.verifyFor(RankedTensorType::get({4}, f32), emit)));
}
