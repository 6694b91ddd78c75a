//===- CpuCodegen.cpp - LLVM dialect to a shared library on the CPU -------===//

#include "ftc/Codegen/CpuCodegen.h"
#include "ftc/Codegen/CpuTiles.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include <cstdlib>

#ifndef FTC_OPENMP_DIR
#define FTC_OPENMP_DIR "/usr/lib/llvm-22/lib"
#endif

#ifndef FTC_CLANG_PATH
#define FTC_CLANG_PATH "clang++"
#endif

using namespace llvm;

Expected<std::unique_ptr<TargetMachine>> ftc::createCpuTargetMachine(StringRef cpu) {
  InitializeNativeTarget();
  InitializeNativeTargetAsmPrinter();
  Triple triple(sys::getDefaultTargetTriple());
  std::string error;
  const Target *target = TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return createStringError(inconvertibleErrorCode(), "no target for " +
                                                           triple.str() + ": " + error);
  std::string cpuName = cpu.empty() ? sys::getHostCPUName().str() : cpu.str();
  SubtargetFeatures features;
  if (cpu.empty())
    for (const auto &feature : sys::getHostCPUFeatures())
      features.AddFeature(feature.getKey(), feature.getValue());
  TargetOptions options;
  std::unique_ptr<TargetMachine> tm(target->createTargetMachine(
      triple, cpuName, features.getString(), options, Reloc::PIC_, std::nullopt,
      CodeGenOptLevel::Aggressive));
  if (!tm)
    return createStringError(inconvertibleErrorCode(),
                             "cannot create a target machine for CPU '" + cpuName + "'");
  return std::move(tm);
}

bool ftc::hasCpuFeature(const TargetMachine &tm, StringRef feature) {
  return tm.getMCSubtargetInfo()->checkFeatures(("+" + feature).str());
}

std::string ftc::cpuIsa(const TargetMachine &tm, bool bf16Dot) {
  return cpu::isaFor([&](StringRef f) { return hasCpuFeature(tm, f); }, bf16Dot);
}

Expected<std::unique_ptr<Module>>
ftc::translateAndOptimize(mlir::ModuleOp module, LLVMContext &context,
                          TargetMachine &tm) {
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  mlir::registerOpenMPDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);
  std::unique_ptr<Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, context, "ftc-step");
  if (!llvmModule)
    return createStringError(inconvertibleErrorCode(),
                             "cannot translate the module to LLVM IR");
  llvmModule->setDataLayout(tm.createDataLayout());
  llvmModule->setTargetTriple(tm.getTargetTriple());

  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  // No loop unrolling: a step is thousands of loop nests with constant trip
  // counts, which LLVM would unroll into tens of megabytes of IR (5x the
  // compile time) for no measured gain; the vectorizer still interleaves.
  PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  PassBuilder pb(&tm, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(OptimizationLevel::O3);
  mpm.run(*llvmModule, mam);
  return std::move(llvmModule);
}

Error ftc::emitObjectFile(Module &module, TargetMachine &tm, raw_pwrite_stream &os) {
  legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, CodeGenFileType::ObjectFile))
    return createStringError(inconvertibleErrorCode(),
                             "the target cannot emit object files");
  pm.run(module);
  return Error::success();
}

Error ftc::linkSharedLibrary(StringRef objectPath, StringRef outputPath,
                             StringRef runtimeArchive) {
  if (!sys::fs::exists(runtimeArchive))
    return createStringError(inconvertibleErrorCode(),
                             "the runtime library '" + runtimeArchive +
                                 "' does not exist (set FTC_RUNTIME_LIB)");
  ErrorOr<std::string> clang = sys::findProgramByName(FTC_CLANG_PATH);
  if (!clang)
    return createStringError(inconvertibleErrorCode(),
                             "cannot find the linker driver " FTC_CLANG_PATH);
  SmallString<128> tmp(outputPath);
  tmp += ".tmp-%%%%%%";
  SmallString<128> tmpPath;
  sys::fs::createUniquePath(tmp, tmpPath, /*MakeAbsolute=*/false);
  std::string wholeArchive = ("-Wl,--whole-archive," + runtimeArchive +
                              ",--no-whole-archive").str();
  // Export the C ABI (ftc_*) and nothing else: not the C++ runtime's
  // template instantiations, not the compiled functions' internals.
  SmallString<128> scriptPath;
  if (std::error_code ec =
          sys::fs::createTemporaryFile("ftc-exports", "map", scriptPath))
    return createStringError(ec, "cannot create a linker script: " + ec.message());
  {
    std::error_code ec;
    raw_fd_ostream script(scriptPath, ec);
    if (ec)
      return createStringError(ec, "cannot write a linker script: " + ec.message());
    script << "{ global: ftc_*; local: *; };\n";
  }
  std::string versionScript = ("-Wl,--version-script=" + scriptPath).str();
  // The parallel blocks run on LLVM's OpenMP runtime (libomp-22-dev), found
  // through the library's run path.
  SmallVector<StringRef> args{*clang,        "-shared",     "-fuse-ld=lld",
                              "-o",          tmpPath,       objectPath,
                              wholeArchive,  versionScript, "-lm",
                              "-L" FTC_OPENMP_DIR, "-lomp",
                              "-Wl,-rpath," FTC_OPENMP_DIR, "-Wl,--no-undefined"};
  std::string message;
  int rc = sys::ExecuteAndWait(*clang, args, std::nullopt, {}, 0, 0, &message);
  sys::fs::remove(scriptPath);
  if (rc != 0) {
    sys::fs::remove(tmpPath);
    return createStringError(inconvertibleErrorCode(),
                             "linking '" + outputPath + "' failed" +
                                 (message.empty() ? "" : ": " + message));
  }
  if (std::error_code ec = sys::fs::rename(tmpPath, outputPath)) {
    sys::fs::remove(tmpPath);
    return createStringError(ec, "cannot write '" + outputPath + "': " + ec.message());
  }
  return Error::success();
}

std::string ftc::findRuntimeArchive(const char *argv0) {
  if (const char *env = std::getenv("FTC_RUNTIME_LIB"))
    return env;
  std::string exe = sys::fs::getMainExecutable(argv0, (void *)&findRuntimeArchive);
  SmallString<256> path(sys::path::parent_path(sys::path::parent_path(exe)));
  sys::path::append(path, "lib", "libftc_runtime.a");
  return std::string(path);
}
