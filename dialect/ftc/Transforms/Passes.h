//===- Passes.h - ftc passes ------------------------------------*- C++ -*-===//

#ifndef FTC_TRANSFORMS_PASSES_H
#define FTC_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "ftc/Dialect/Train/IR/TrainDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace ftc {

#define GEN_PASS_DECL
#include "ftc/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "ftc/Transforms/Passes.h.inc"

} // namespace ftc

#endif // FTC_TRANSFORMS_PASSES_H
