//===- CpuTiles.cpp - Tile sizes per CPU instruction set ------------------===//

#include "ftc/Codegen/CpuTiles.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>
#include <vector>

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
/// Tiles registered by plugins.
struct Registered {
  std::mutex mutex;
  std::vector<std::pair<std::string, ftc::cpu::TileConfig>> tiles;
  static Registered &get() {
    static Registered registered;
    return registered;
  }
};
} // namespace

mlir::FailureOr<ftc::cpu::TileConfig> ftc::cpu::tileConfigFor(StringRef isa) {
  for (const IsaTiles &entry : kTiles)
    if (entry.isa == isa)
      return entry.tiles;
  Registered &registered = Registered::get();
  std::lock_guard<std::mutex> lock(registered.mutex);
  for (const auto &[name, tiles] : registered.tiles)
    if (name == isa)
      return tiles;
  return mlir::failure();
}

std::string ftc::cpu::knownIsas() {
  SmallVector<std::string> names;
  for (const IsaTiles &entry : kTiles)
    names.push_back(entry.isa.str());
  Registered &registered = Registered::get();
  std::lock_guard<std::mutex> lock(registered.mutex);
  for (const auto &entry : registered.tiles)
    names.push_back(entry.first);
  return join(names, ", ");
}

mlir::LogicalResult ftc::cpu::registerTileConfig(StringRef name, const TileConfig &config) {
  if (succeeded(tileConfigFor(name)))
    return mlir::failure();
  Registered &registered = Registered::get();
  std::lock_guard<std::mutex> lock(registered.mutex);
  registered.tiles.emplace_back(name.str(), config);
  return mlir::success();
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
