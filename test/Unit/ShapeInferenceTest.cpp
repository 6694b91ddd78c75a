//===- ShapeInferenceTest.cpp - the shape rules, called directly ----------===//

#include "ftc/Dialect/Train/IR/ShapeInference.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <functional>

using namespace mlir;
using namespace ftc::train;

namespace {
/// Runs a shape rule with a real diagnostic sink and keeps the message.
class ShapeRuleTest : public ::testing::Test {
protected:
  ShapeRuleTest()
      : handler(&context, [this](Diagnostic &diag) {
          message = diag.str();
          return success();
        }) {}

  /// A callable that outlives the call it is passed to.
  EmitErrorFn emitter() { return emitFn; }

  MLIRContext context;
  std::string message;
  ScopedDiagnosticHandler handler;
  std::function<InFlightDiagnostic()> emitFn = [this] {
    return emitError(UnknownLoc::get(&context));
  };
};
} // namespace

TEST_F(ShapeRuleTest, BroadcastAlignsFromTheRight) {
  EXPECT_EQ(*broadcastShapes({128, 10}, {10}), Shape({128, 10}));
  EXPECT_EQ(*broadcastShapes({4, 1, 3}, {5, 1}), Shape({4, 5, 3}));
  EXPECT_EQ(*broadcastShapes({}, {2, 3}), Shape({2, 3}));
}

TEST_F(ShapeRuleTest, BroadcastRejectsMismatchedSizes) {
  EXPECT_TRUE(failed(broadcastShapes({4, 3}, {4, 5}, emitter())));
  EXPECT_EQ(message, "operand shapes [4, 3] and [4, 5] do not broadcast: sizes "
                     "3 and 5 meet at result dimension 1; expected equal sizes "
                     "or a size of 1");
}

TEST_F(ShapeRuleTest, SilentWithoutEmitter) {
  EXPECT_TRUE(failed(broadcastShapes({3}, {4})));
  EXPECT_TRUE(message.empty());
}

TEST_F(ShapeRuleTest, ReduceDropsOrKeepsDims) {
  EXPECT_EQ(*reduceShape({2, 3, 4}, {1}, false), Shape({2, 4}));
  EXPECT_EQ(*reduceShape({2, 3, 4}, {0, 2}, true), Shape({1, 3, 1}));
  EXPECT_EQ(*reduceShape({5}, {0}, false), Shape({}));
}

TEST_F(ShapeRuleTest, ReduceChecksDims) {
  EXPECT_TRUE(failed(reduceShape({2, 3}, {}, false, emitter())));
  EXPECT_EQ(message, "dims must list at least one dimension to reduce");
  EXPECT_TRUE(failed(reduceShape({2, 3}, {2}, false, emitter())));
  EXPECT_EQ(message, "dimension 2 is out of range for an input of rank 2; "
                     "expected 0 to 1");
  EXPECT_TRUE(failed(reduceShape({2, 3}, {1, 0}, false, emitter())));
  EXPECT_EQ(message, "dims must be strictly increasing, got [1, 0]");
}

TEST_F(ShapeRuleTest, Transpose) {
  EXPECT_EQ(*transposeShape({2, 3, 4}, {2, 0, 1}), Shape({4, 2, 3}));
  EXPECT_TRUE(failed(transposeShape({2, 3}, {0, 0}, emitter())));
  EXPECT_EQ(message, "[0, 0] is not a permutation of the dimensions 0 to 1");
  EXPECT_TRUE(failed(transposeShape({2, 3}, {0}, emitter())));
  EXPECT_EQ(message, "permutation has 1 entries; expected 2 (the input rank)");
}

TEST_F(ShapeRuleTest, MatmulWithTransposes) {
  EXPECT_EQ(*matmulShape({4, 3}, {3, 5}, false, false), Shape({4, 5}));
  EXPECT_EQ(*matmulShape({3, 4}, {3, 5}, true, false), Shape({4, 5}));
  EXPECT_EQ(*matmulShape({4, 3}, {5, 3}, false, true), Shape({4, 5}));
  EXPECT_EQ(*matmulShape({8, 64, 16}, {8, 64, 16}, false, true),
            Shape({8, 64, 64}));
}

TEST_F(ShapeRuleTest, MatmulErrors) {
  EXPECT_TRUE(failed(matmulShape({4}, {4, 3}, false, false, emitter())));
  EXPECT_EQ(message, "operands must have rank 2 or more, got ranks 1 and 2");
  EXPECT_TRUE(failed(matmulShape({2, 4, 3}, {3, 5}, false, false, emitter())));
  EXPECT_EQ(message, "operands must have the same rank, got 3 and 2");
  EXPECT_TRUE(failed(matmulShape({2, 4, 3}, {3, 3, 5}, false, false, emitter())));
  EXPECT_EQ(message, "batch dimensions differ: [2] and [3]");
  EXPECT_TRUE(failed(matmulShape({4, 3}, {4, 5}, false, false, emitter())));
  EXPECT_EQ(message,
            "contracted sizes differ: the lhs has 3 columns and the rhs has 4 rows");
}

TEST_F(ShapeRuleTest, LinearFollowsPyTorchLayout) {
  EXPECT_EQ(*linearShape({128, 784}, {1024, 784}, ArrayRef<int64_t>{1024}),
            Shape({128, 1024}));
  EXPECT_EQ(*linearShape({8, 128, 256}, {768, 256}, std::nullopt),
            Shape({8, 128, 768}));
  EXPECT_TRUE(failed(linearShape({128, 784}, {784, 1024}, std::nullopt, emitter())));
  EXPECT_EQ(message, "input feature size 784 does not match weight [784, 1024]: "
                     "expected in = 1024");
  EXPECT_TRUE(failed(
      linearShape({128, 784}, {10, 784}, ArrayRef<int64_t>{784}, emitter())));
  EXPECT_EQ(message,
            "bias must have shape [10] to match weight [10, 784], got [784]");
}

TEST_F(ShapeRuleTest, CrossEntropyClassesLast) {
  EXPECT_TRUE(succeeded(verifyCrossEntropyShapes({128, 10}, {128})));
  EXPECT_TRUE(succeeded(verifyCrossEntropyShapes({8, 128, 4096}, {8, 128})));
  EXPECT_TRUE(failed(verifyCrossEntropyShapes({128, 10}, {10}, emitter())));
  EXPECT_EQ(message, "labels shape [10] does not match logits shape [128, 10] "
                     "without its class dimension: expected [128]");
}
