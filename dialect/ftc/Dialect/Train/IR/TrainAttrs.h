//===- TrainAttrs.h - initializers and optimizer settings -------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINATTRS_H
#define FTC_DIALECT_TRAIN_IR_TRAINATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectImplementation.h"

#include "ftc/Dialect/Train/IR/TrainAttrInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ftc/Dialect/Train/IR/TrainAttrs.h.inc"

#endif // FTC_DIALECT_TRAIN_IR_TRAINATTRS_H
