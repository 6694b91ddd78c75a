//===- CpuCodegen.h - LLVM dialect to a shared library on the CPU -*- C++ -*-===//

#ifndef FTC_CODEGEN_CPUCODEGEN_H
#define FTC_CODEGEN_CPUCODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <string>

namespace ftc {

/// The target machine for this host (or `cpu`, e.g. "x86-64-v3"), PIC, -O3.
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createCpuTargetMachine(llvm::StringRef cpu = "");

/// The vector instruction set `tm` generates code for, as the tile tables
/// name it (ftc/Codegen/CpuTiles.h): avx512, avx2 or generic; avx512bf16
/// with `bf16Dot` where `tm` has AVX512_BF16.
std::string cpuIsa(const llvm::TargetMachine &tm, bool bf16Dot = false);
/// Whether `tm` has CPU feature `feature` (LLVM's name, "avx512bf16").
bool hasCpuFeature(const llvm::TargetMachine &tm, llvm::StringRef feature);

/// Translates an LLVM-dialect module to LLVM IR for `tm` and optimizes it at -O3.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateAndOptimize(mlir::ModuleOp module, llvm::LLVMContext &context,
                     llvm::TargetMachine &tm);

/// Writes `module` as an object file.
llvm::Error emitObjectFile(llvm::Module &module, llvm::TargetMachine &tm,
                           llvm::raw_pwrite_stream &os);

/// Links `objectPath` and the runtime archive into a shared library at
/// `outputPath` (through a temporary file renamed into place) with clang as
/// the driver and ld.lld as the linker.
llvm::Error linkSharedLibrary(llvm::StringRef objectPath, llvm::StringRef outputPath,
                              llvm::StringRef runtimeArchive);

/// libftc_runtime.a: $FTC_RUNTIME_LIB, else `<dir of argv0>/../lib/`.
std::string findRuntimeArchive(const char *argv0);

} // namespace ftc

#endif // FTC_CODEGEN_CPUCODEGEN_H
