//===- ExampleDialect.h - a dialect loaded from a plugin --------*- C++ -*-===//

#ifndef EXAMPLE_DIALECT_H
#define EXAMPLE_DIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ExampleDialect.h.inc"

#define GET_OP_CLASSES
#include "ExampleOps.h.inc"

#endif // EXAMPLE_DIALECT_H
