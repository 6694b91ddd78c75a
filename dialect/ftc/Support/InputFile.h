//===- InputFile.h - reading the model file the tools are given -*- C++ -*-===//

#ifndef FTC_SUPPORT_INPUTFILE_H
#define FTC_SUPPORT_INPUTFILE_H

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/MemoryBuffer.h"

namespace ftc {

/// True when `text` holds nothing but whitespace and `//` comments.
bool isBlankInput(llvm::StringRef text);

/// Reports an empty input as an MLIR diagnostic at its first line (printed
/// through a source manager of its own); success when there is content.
llvm::LogicalResult checkNotEmpty(const llvm::MemoryBuffer &file,
                                  mlir::MLIRContext &context);

} // namespace ftc

#endif // FTC_SUPPORT_INPUTFILE_H
