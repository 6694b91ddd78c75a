//===- CpuTiles.h - Tile sizes per CPU instruction set ----------*- C++ -*-===//
//
// The schedule of ftc-cpu-tile-contractions is the same on every CPU; its
// sizes are not. The register tile fills the vector registers of the
// instruction set with accumulators (MR rows of C by NR columns, NR a
// multiple of the vector width), leaving room for the B vectors and the
// broadcast of A; the cache tiles keep a block of packed A in L2 and a
// panel of packed B in L1 across the register loop.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_CODEGEN_CPUTILES_H
#define FTC_CODEGEN_CPUTILES_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace ftc::cpu {

/// A block of C kept in vector registers: MR rows by NR columns (NR a
/// multiple of the vector width).
struct RegisterTile {
  int64_t mr = 0;
  int64_t nr = 0;
};

/// Tile sizes of a matrix product C[M, N] += A[M, K] B[K, N].
struct TileConfig {
  /// Register tiles in order of preference: a product takes the first that
  /// divides its M and N; else the first, with the rest split off.
  RegisterTile registerTiles[3];
  int64_t mc; ///< cache tile: rows of C per block
  int64_t nc; ///< cache tile: columns of C per block
  int64_t kc; ///< cache tile: most k per block (the largest dividing tile below it)
  /// The instruction set sums bf16 pairs into f32 (AVX512_BF16's vdpbf16ps):
  /// bf16 products pack k in pairs and use it.
  bool bf16Dot = false;
};

/// The tiles for an instruction set: "avx512bf16", "avx512", "avx2" or
/// "generic", or tiles registered under a name of their own.
mlir::FailureOr<TileConfig> tileConfigFor(llvm::StringRef isa);

/// The names tileConfigFor knows, for messages.
std::string knownIsas();

/// Registers tile sizes under a name of their own, as a plugin does from
/// its registration callback; `ftc --cpu-tiles=NAME`, `ftc-cpu{cpu-isa=NAME}`
/// or `ftc-cpu-tile-contractions{isa=NAME}` then tile the products with
/// them, for the CPU the code is compiled for (its vector width: NR a
/// multiple of it). Fails when the name is taken.
mlir::LogicalResult registerTileConfig(llvm::StringRef name, const TileConfig &config);

/// The instruction set of a target with features `hasFeature` (LLVM's
/// names: "avx512f", "avx512bf16", "avx2", "fma"): "avx512" with AVX-512F
/// ("avx512bf16" when `bf16Dot` asks for AVX512_BF16's dot products and the
/// target has them), "avx2" with AVX2 and FMA, else "generic". The dot
/// products are not the default: on the AVX512_BF16 Xeon measured,
/// vdpbf16ps does fewer multiply-adds per second than FMAs on bf16 widened
/// to f32 after packing (bench/results/2026-11-28-precision-table.txt).
std::string isaFor(llvm::function_ref<bool(llvm::StringRef)> hasFeature,
                   bool bf16Dot = false);

/// The instruction set of this host.
std::string hostIsa();

/// A block size of at most `size` for a parallel loop of `range`
/// iterations that shares it evenly among threads: the largest one down to
/// size / 2 that divides the range into an even number of blocks (or 16 or
/// more), else `size`. gpt2-tiny's 128 register rows of C in blocks of 12
/// were 11 blocks, 6 on one thread of 2 and 5 on the other; in blocks of 8,
/// 16.
int64_t evenBlocks(int64_t range, int64_t size);

} // namespace ftc::cpu

#endif // FTC_CODEGEN_CPUTILES_H
