//===- TrainDialect.h - the train dialect -----------------------*- C++ -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAINDIALECT_H
#define FTC_DIALECT_TRAIN_IR_TRAINDIALECT_H

#include "mlir/IR/Dialect.h"

#include "ftc/Dialect/Train/IR/TrainDialect.h.inc"

#endif // FTC_DIALECT_TRAIN_IR_TRAINDIALECT_H
