//===- CpuTiles.cpp - Tile sizes per CPU instruction set ------------------===//

#include "ftc/Codegen/CpuTiles.h"
#include "ftc/Support/NamedRegistry.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"


using namespace llvm;

namespace {
struct IsaTiles {
  StringLiteral isa;
  ftc::cpu::TileConfig tiles;
};

// The AVX-512 tiles were timed on an AVX-512 Xeon at the models' shapes
// (8 x 32: 113-126 GFLOP/s single-threaded); the AVX2 4 x 16 tile is the
// probe's in ../shared/probes/gemm-avx2; the others fill the registers the
// same way and are checked for spills by test/Unit/CpuTilesTest.cpp.
constexpr IsaTiles kTiles[] = {
    // 32 zmm registers: 8 x 2 accumulators, 2 for B, 1 broadcast.
    {"avx512", {{{8, 32}, {8, 16}, {4, 16}}, 96, 512, 256}},
    // The same registers and tiles; bf16 products on vdpbf16ps (a k pair of
    // B per vector, a k pair of A broadcast).
    {"avx512bf16", {{{8, 32}, {8, 16}, {4, 16}}, 96, 512, 256, /*bf16Dot=*/true}},
    // 16 ymm registers: 4 x 2 accumulators, 2 for B, 1 broadcast.
    {"avx2", {{{4, 16}, {4, 8}, {2, 16}}, 96, 512, 256}},
    // 16 xmm registers (SSE2, every x86-64): 4 x 2 accumulators.
    {"generic", {{{4, 8}, {4, 4}, {2, 8}}, 96, 256, 256}},
};
} // namespace

namespace {
/// Tiles a plugin registered under a name of their own.
struct NamedTiles {
  std::string name;
  ftc::cpu::TileConfig tiles;
  StringRef getName() const { return name; }
};

ftc::NamedRegistry<NamedTiles> &registeredTiles() {
  static ftc::NamedRegistry<NamedTiles> registry;
  return registry;
}
} // namespace

mlir::FailureOr<ftc::cpu::TileConfig> ftc::cpu::tileConfigFor(StringRef isa) {
  for (const IsaTiles &entry : kTiles)
    if (entry.isa == isa)
      return entry.tiles;
  if (const NamedTiles *named = registeredTiles().lookup(isa))
    return named->tiles;
  return mlir::failure();
}

std::string ftc::cpu::knownIsas() {
  SmallVector<StringRef> names;
  for (const IsaTiles &entry : kTiles)
    names.push_back(entry.isa);
  std::string registered = registeredTiles().names();
  return join(names, ", ") + (registered.empty() ? "" : ", " + registered);
}

mlir::LogicalResult ftc::cpu::registerTileConfig(StringRef name, const TileConfig &config) {
  if (llvm::any_of(kTiles, [&](const IsaTiles &entry) { return entry.isa == name; }))
    return mlir::failure();
  return registeredTiles().add(std::make_unique<NamedTiles>(NamedTiles{name.str(), config}));
}

std::string ftc::cpu::isaFor(function_ref<bool(StringRef)> hasFeature, bool bf16Dot) {
  if (hasFeature("avx512f"))
    return bf16Dot && hasFeature("avx512bf16") ? "avx512bf16" : "avx512";
  if (hasFeature("avx2") && hasFeature("fma"))
    return "avx2";
  return "generic";
}

std::string ftc::cpu::hostIsa() {
  StringMap<bool> features = sys::getHostCPUFeatures();
  return isaFor([&](StringRef f) { return features.lookup(f); });
}

int64_t ftc::cpu::evenBlocks(int64_t range, int64_t size) {
  if (range <= size)
    return size;
  for (int64_t b = size; b >= std::max<int64_t>(1, size / 2); --b)
    if (range % b == 0 && ((range / b) % 2 == 0 || range / b >= 16))
      return b;
  return size;
}
