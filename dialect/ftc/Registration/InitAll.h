//===- InitAll.h - one registration entry point for every tool --*- C++ -*-===//

#ifndef FTC_REGISTRATION_INITALL_H
#define FTC_REGISTRATION_INITALL_H

#include "mlir/IR/DialectRegistry.h"

namespace ftc {

/// The train dialect, the upstream dialects the pipeline uses and their
/// interface extensions.
void registerAllFtcDialects(mlir::DialectRegistry &registry);

/// Every ftc pass and pipeline, and the upstream passes, so that any
/// pipeline ftc runs can be replayed with ftc-opt.
void registerAllFtcPasses();

} // namespace ftc

#endif // FTC_REGISTRATION_INITALL_H
