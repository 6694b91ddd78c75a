//===- TrainOps.h - train dialect operations --------------------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINOPS_H
#define FTC_DIALECT_TRAIN_IR_TRAINOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ftc/Dialect/Train/IR/ShapeInference.h"
#include "ftc/Dialect/Train/IR/TrainAttrs.h"
#include "ftc/Dialect/Train/IR/TrainDialect.h"

#include "ftc/Dialect/Train/IR/TrainInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ftc/Dialect/Train/IR/TrainOps.h.inc"

#endif // FTC_DIALECT_TRAIN_IR_TRAINOPS_H
