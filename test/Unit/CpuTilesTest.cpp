//===- CpuTilesTest.cpp - tile sizes per CPU instruction set --------------===//

#include "ftc/Codegen/CpuTiles.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <gtest/gtest.h>

using namespace ftc::cpu;

namespace {

TEST(CpuTiles, IsaFromFeatures) {
  auto isaOf = [](std::initializer_list<const char *> features, bool bf16Dot = false) {
    llvm::StringSet<> set;
    for (const char *f : features)
      set.insert(f);
    return isaFor([&](llvm::StringRef f) { return set.contains(f); }, bf16Dot);
  };
  EXPECT_EQ(isaOf({"avx512f", "avx2", "fma"}), "avx512");
  // vdpbf16ps only when asked for (--bf16-dot), and only where it exists.
  EXPECT_EQ(isaOf({"avx512f", "avx512bf16", "avx2", "fma"}), "avx512");
  EXPECT_EQ(isaOf({"avx512f", "avx512bf16", "avx2", "fma"}, true), "avx512bf16");
  EXPECT_EQ(isaOf({"avx512f", "avx2", "fma"}, true), "avx512");
  EXPECT_EQ(isaOf({"avx2", "fma"}), "avx2");
  EXPECT_EQ(isaOf({"avx2"}), "generic"); // AVX2 without FMA
  EXPECT_EQ(isaOf({"sse2"}), "generic");
  EXPECT_EQ(isaOf({}), "generic");
}

TEST(CpuTiles, TablesAreConsistent) {
  // Vector width in f32 lanes per instruction set; accumulators plus one
  // register per B vector and one broadcast must fit the register file.
  struct Isa {
    const char *name;
    int64_t lanes, registers;
  };
  for (Isa isa : {Isa{"avx512bf16", 16, 32}, Isa{"avx512", 16, 32}, Isa{"avx2", 8, 16},
                  Isa{"generic", 4, 16}}) {
    llvm::FailureOr<TileConfig> cfg = tileConfigFor(isa.name);
    ASSERT_TRUE(succeeded(cfg)) << isa.name;
    for (RegisterTile rt : cfg->registerTiles) {
      EXPECT_GT(rt.mr, 0) << isa.name;
      EXPECT_EQ(rt.nr % isa.lanes, 0) << isa.name << ": nr " << rt.nr;
      int64_t vectors = rt.nr / isa.lanes;
      EXPECT_LE(rt.mr * vectors + vectors + 1, isa.registers)
          << isa.name << ": " << rt.mr << " x " << rt.nr << " spills";
    }
    EXPECT_GT(cfg->kc, 0);
    EXPECT_GE(cfg->mc, cfg->registerTiles[0].mr);
    EXPECT_GE(cfg->nc, cfg->registerTiles[0].nr);
  }
  // vdpbf16ps only where the instruction set has it.
  EXPECT_TRUE(tileConfigFor("avx512bf16")->bf16Dot);
  EXPECT_FALSE(tileConfigFor("avx512")->bf16Dot);
  EXPECT_TRUE(failed(tileConfigFor("neon")));
  EXPECT_NE(knownIsas().find("avx512"), std::string::npos);
}

TEST(CpuTiles, HostIsaIsKnown) {
  EXPECT_TRUE(succeeded(tileConfigFor(hostIsa()))) << hostIsa();
}

} // namespace
