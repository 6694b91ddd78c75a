//===- CompileFuzzer.cpp - libFuzzer target: the whole compiler -----------===//
//
// Any bytes as a model file: parsing, verification and ftc's whole CPU
// pipeline down to the LLVM dialect, then the translation to LLVM IR, must
// each succeed or report an error; none may crash. Seeded with the example
// models and the tests' inputs (small ones: each input is a whole compile).
//
//===----------------------------------------------------------------------===//

#include "ftc/Codegen/CpuCodegen.h"
#include "ftc/Pipelines/Pipelines.h"
#include "ftc/Registration/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mlir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static DialectRegistry &registry = [] () -> DialectRegistry & {
    static DialectRegistry r;
    ftc::registerAllFtcDialects(r);
    return r;
  }();
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
  // NUL-terminated, as ftc's input files are (llvm::MemoryBuffer): MLIR's
  // lexer reads up to the terminator, and a buffer that has none makes it
  // read past the end (the first crash this fuzzer found was its own).
  std::string text(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context, "fuzz.mlir");
  if (!module)
    return 0;
  PassManager pm(&context, ModuleOp::getOperationName());
  ftc::PipelineOptions options;
  // The generic x86 tiles: the same code on every machine that fuzzes.
  options.cpuIsa = "avx2";
  if (failed(ftc::buildCpuPipeline(pm, options, [](const llvm::Twine &) { return failure(); })))
    __builtin_trap(); // the default pipeline always builds
  if (failed(pm.run(*module)))
    return 0;
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(*module, llvmContext);
  (void)llvmModule;
  return 0;
}
