//===- ftc-opt.cpp - mlir-opt with the train dialect and ftc's passes -----===//
//
// Replays any ftc pipeline, or any single pass, on a file. Beyond mlir-opt it
// rejects an input with nothing in it: a model file that is empty is a
// mistake, not an empty model.
//
//===----------------------------------------------------------------------===//

#include "ftc/Registration/InitAll.h"
#include "ftc/Support/InputFile.h"
#include "ftc/Support/Plugins.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

int main(int argc, char **argv) {
  DialectRegistry registry;
  ftc::registerAllFtcDialects(registry);
  ftc::registerAllFtcPasses();
  // Plugins before the command line, unlike mlir-opt: their passes are then
  // flags (--example-quick-gelu), not only names in --pass-pipeline. Their
  // flags are not passed on (mlir-opt's parser would load them again).
  ftc::PluginFlags plugins = ftc::findPluginFlags(argc, argv);
  std::string failure = ftc::loadPassPlugins(plugins.passPlugins);
  if (failure.empty())
    failure = ftc::loadDialectPlugins(plugins.dialectPlugins, registry);
  if (!failure.empty()) {
    llvm::errs() << "ftc-opt: error: " << failure << "\n";
    return 1;
  }
  argc = static_cast<int>(plugins.otherArgs.size());
  argv = plugins.otherArgs.data();
  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "ftc optimizer driver: the train dialect and ftc's passes",
      registry);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects() || config.shouldListPasses())
    return asMainReturnCode(
        MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  std::string message;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFilename, &message);
  if (!file) {
    llvm::errs() << message << "\n";
    return 1;
  }
  {
    MLIRContext context;
    if (failed(ftc::checkNotEmpty(*file, context)))
      return 1;
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &message);
  if (!output) {
    llvm::errs() << message << "\n";
    return 1;
  }
  if (failed(MlirOptMain(output->os(), std::move(file), registry, config)))
    return 1;
  output->keep();
  return 0;
}
