//===- PolicyRegistriesTest.cpp - what plugins register into --------------===//
//
// The remat policies, autocast rules and tile sizes a plugin registers:
// found by name after ftc's own, listed in the messages, and refused when
// the name is taken (ftc's or another plugin's).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Transforms/Passes.h"
#include "ftc/Transforms/Remat.h"

#include <gtest/gtest.h>

using namespace ftc;

namespace {

class KeepAll : public remat::RematPolicy {
public:
  explicit KeepAll(llvm::StringRef name) : name(name) {}
  llvm::StringRef getName() const override { return name; }
  llvm::StringRef getDescription() const override { return "a test policy"; }
  remat::Schedule choose(const remat::StepGraph &) const override { return {}; }

private:
  llvm::StringRef name;
};

TEST(PolicyRegistries, RematPolicies) {
  // ftc's, in order.
  ASSERT_NE(remat::lookupRematPolicy("none"), nullptr);
  ASSERT_NE(remat::lookupRematPolicy("blocks"), nullptr);
  ASSERT_NE(remat::lookupRematPolicy("sqrt"), nullptr);
  EXPECT_EQ(remat::lookupRematPolicy("test-keep-all"), nullptr);
  EXPECT_EQ(remat::rematPolicyNames(), "none, blocks, sqrt");

  ASSERT_TRUE(succeeded(remat::registerRematPolicy(std::make_unique<KeepAll>("test-keep-all"))));
  const remat::RematPolicy *found = remat::lookupRematPolicy("test-keep-all");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->getDescription(), "a test policy");
  EXPECT_EQ(remat::rematPolicyNames(), "none, blocks, sqrt, test-keep-all");
  EXPECT_EQ(remat::getRematPolicies().back(), found);

  // Taken names: ftc's, the plugin's own, and budget (ftc-remat's mode).
  EXPECT_TRUE(failed(remat::registerRematPolicy(std::make_unique<KeepAll>("blocks"))));
  EXPECT_TRUE(failed(remat::registerRematPolicy(std::make_unique<KeepAll>("test-keep-all"))));
  EXPECT_TRUE(failed(remat::registerRematPolicy(std::make_unique<KeepAll>("budget"))));
  EXPECT_EQ(remat::lookupRematPolicy("blocks")->getDescription(),
            "recompute inside each of the model's functions (torch.utils.checkpoint per "
            "block)");
}

class AllFp32 : public AutocastRules {
public:
  explicit AllFp32(llvm::StringRef name) : name(name) {}
  llvm::StringRef getName() const override { return name; }
  llvm::StringRef getDescription() const override { return "every op in f32"; }
  AutocastPolicy decide(mlir::Operation *) const override { return AutocastPolicy::Fp32; }

private:
  llvm::StringRef name;
};

TEST(PolicyRegistries, AutocastRules) {
  const AutocastRules *torch = lookupAutocastRules("torch");
  ASSERT_NE(torch, nullptr);
  // ftc's rules are its table.
  EXPECT_EQ(torch->getTable().size(), getAutocastPolicy().size());
  EXPECT_EQ(autocastRulesNames(), "torch");
  ASSERT_TRUE(succeeded(registerAutocastRules(std::make_unique<AllFp32>("test-fp32"))));
  ASSERT_NE(lookupAutocastRules("test-fp32"), nullptr);
  EXPECT_TRUE(lookupAutocastRules("test-fp32")->getTable().empty());
  EXPECT_EQ(autocastRulesNames(), "torch, test-fp32");
  EXPECT_TRUE(failed(registerAutocastRules(std::make_unique<AllFp32>("torch"))));
  EXPECT_TRUE(failed(registerAutocastRules(std::make_unique<AllFp32>("test-fp32"))));
}

TEST(PolicyRegistries, TileSizes) {
  EXPECT_TRUE(failed(cpu::tileConfigFor("test-tiles")));
  cpu::TileConfig tiles{{{6, 16}, {4, 16}, {2, 16}}, 96, 256, 128};
  ASSERT_TRUE(succeeded(cpu::registerTileConfig("test-tiles", tiles)));
  mlir::FailureOr<cpu::TileConfig> found = cpu::tileConfigFor("test-tiles");
  ASSERT_TRUE(succeeded(found));
  EXPECT_EQ(found->registerTiles[0].mr, 6);
  EXPECT_EQ(found->kc, 128);
  EXPECT_EQ(cpu::knownIsas(), "avx512, avx512bf16, avx2, generic, test-tiles");
  // An instruction set's name, or one registered already, is taken.
  EXPECT_TRUE(failed(cpu::registerTileConfig("avx2", tiles)));
  EXPECT_TRUE(failed(cpu::registerTileConfig("test-tiles", tiles)));
  EXPECT_EQ(cpu::tileConfigFor("avx2")->registerTiles[0].mr, 4);
}

} // namespace
