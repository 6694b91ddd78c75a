//===- NamedRegistry.h - what ftc and plugins register by name --*- C++ -*-===//
//
// The remat policies, autocast rules and tile sizes that ftc registers and
// plugins add to: each name once, in order of registration, kept for the
// life of the process (a plugin is never unloaded).
//
//===----------------------------------------------------------------------===//

#ifndef FTC_SUPPORT_NAMEDREGISTRY_H
#define FTC_SUPPORT_NAMEDREGISTRY_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ftc {

/// `T` has `llvm::StringRef getName() const`.
template <typename T>
class NamedRegistry {
public:
  /// Takes `item`; fails (and drops it) when its name is taken.
  mlir::LogicalResult add(std::unique_ptr<T> item) {
    std::lock_guard<std::mutex> lock(mutex);
    if (find(item->getName()))
      return mlir::failure();
    items.push_back(std::move(item));
    return mlir::success();
  }

  /// The item registered as `name`, or null.
  const T *lookup(llvm::StringRef name) const {
    std::lock_guard<std::mutex> lock(mutex);
    return find(name);
  }

  /// Every item, in order of registration.
  llvm::SmallVector<const T *> list() const {
    std::lock_guard<std::mutex> lock(mutex);
    llvm::SmallVector<const T *> all;
    for (const std::unique_ptr<T> &item : items)
      all.push_back(item.get());
    return all;
  }

  /// "a, b, c", for messages.
  std::string names() const {
    std::string text;
    for (const T *item : list())
      text += (text.empty() ? "" : ", ") + item->getName().str();
    return text;
  }

private:
  const T *find(llvm::StringRef name) const {
    for (const std::unique_ptr<T> &item : items)
      if (item->getName() == name)
        return item.get();
    return nullptr;
  }

  mutable std::mutex mutex;
  std::vector<std::unique_ptr<T>> items;
};

} // namespace ftc

#endif // FTC_SUPPORT_NAMEDREGISTRY_H
