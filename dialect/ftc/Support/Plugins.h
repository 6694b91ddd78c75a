//===- Plugins.h - pass and dialect plugins in ftc's tools ------*- C++ -*-===//
//
// ftc and ftc-opt load plugins (--load-pass-plugin=LIB,
// --load-dialect-plugin=LIB) before they parse the rest of their command
// line: a plugin's passes can then be named as flags, in pipelines and in
// --mlir-print-ir-after, and its remat policies in --remat.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_SUPPORT_PLUGINS_H
#define FTC_SUPPORT_PLUGINS_H

#include "mlir/IR/DialectRegistry.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace ftc {

/// The plugins named in a command line, each library once, in order.
struct PluginFlags {
  llvm::SmallVector<std::string> passPlugins, dialectPlugins;
  /// argv without the plugin flags (and their values), argv[0] first.
  llvm::SmallVector<char *> otherArgs;
};

/// Reads --load-pass-plugin and --load-dialect-plugin, as `--flag=LIB`,
/// `-flag=LIB` or `--flag LIB`.
PluginFlags findPluginFlags(int argc, char **argv);

/// Loads the pass plugins and runs their registration; the message of the
/// first that fails to load, or "".
std::string loadPassPlugins(llvm::ArrayRef<std::string> paths);

/// Loads the dialect plugins into `registry`; the first failure, or "".
std::string loadDialectPlugins(llvm::ArrayRef<std::string> paths,
                               mlir::DialectRegistry &registry);

} // namespace ftc

#endif // FTC_SUPPORT_PLUGINS_H
