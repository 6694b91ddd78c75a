//===- InputFile.cpp - reading the model file the tools are given ---------===//

#include "ftc/Support/InputFile.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

bool ftc::isBlankInput(llvm::StringRef text) {
  while (!text.empty()) {
    text = text.ltrim();
    if (!text.starts_with("//"))
      return text.empty();
    text = text.drop_until([](char c) { return c == '\n'; });
  }
  return true;
}

LogicalResult ftc::checkNotEmpty(const llvm::MemoryBuffer &file,
                                 MLIRContext &context) {
  if (!isBlankInput(file.getBuffer()))
    return success();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBuffer(file.getMemBufferRef()), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  emitError(FileLineColLoc::get(&context, file.getBufferIdentifier(), 1, 1))
      << "the input is empty: expected a module with a model or IR to process";
  return failure();
}
