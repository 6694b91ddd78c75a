//===- ExampleDialect.cpp - a dialect loaded from a plugin ----------------===//

#include "ExampleDialect.h"

#include "mlir/IR/OpImplementation.h"
#include "mlir/Transforms/InliningUtils.h"

using namespace mlir;

#include "ExampleDialect.cpp.inc"

namespace {
/// Its ops may be inlined: a model's block functions that use them are
/// inlined into the loss like any other (ftc's pipeline inlines first).
struct ExampleInliner : public DialectInlinerInterface {
  using DialectInlinerInterface::DialectInlinerInterface;
  bool isLegalToInline(Operation *, Region *, bool, IRMapping &) const final { return true; }
};
} // namespace

void example::ExampleDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ExampleOps.cpp.inc"
      >();
  addInterfaces<ExampleInliner>();
}

#define GET_OP_CLASSES
#include "ExampleOps.cpp.inc"
