//===- Plugins.cpp - pass and dialect plugins in ftc's tools --------------===//

#include "ftc/Support/Plugins.h"

#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;

ftc::PluginFlags ftc::findPluginFlags(int argc, char **argv) {
  PluginFlags flags;
  if (argc > 0)
    flags.otherArgs.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef arg = argv[i];
    bool dashes = arg.consume_front("--") || arg.consume_front("-");
    SmallVector<std::string> *list = nullptr;
    if (dashes && arg.consume_front("load-pass-plugin"))
      list = &flags.passPlugins;
    else if (dashes && arg.consume_front("load-dialect-plugin"))
      list = &flags.dialectPlugins;
    std::string value;
    if (list && arg.consume_front("="))
      value = arg.str();
    else if (list && arg.empty() && i + 1 < argc)
      value = argv[++i];
    else {
      // Not a plugin flag (or one without a value: the parser reports it).
      flags.otherArgs.push_back(argv[i]);
      continue;
    }
    if (!llvm::is_contained(*list, value))
      list->push_back(value);
  }
  return flags;
}

std::string ftc::loadPassPlugins(llvm::ArrayRef<std::string> paths) {
  for (const std::string &path : paths) {
    llvm::Expected<PassPlugin> plugin = PassPlugin::load(path);
    if (!plugin)
      return "--load-pass-plugin=" + path + ": " + llvm::toString(plugin.takeError());
    plugin->registerPassRegistryCallbacks();
  }
  return "";
}

std::string ftc::loadDialectPlugins(llvm::ArrayRef<std::string> paths,
                                    DialectRegistry &registry) {
  for (const std::string &path : paths) {
    llvm::Expected<DialectPlugin> plugin = DialectPlugin::load(path);
    if (!plugin)
      return "--load-dialect-plugin=" + path + ": " + llvm::toString(plugin.takeError());
    plugin->registerDialectRegistryCallbacks(registry);
  }
  return "";
}
