//===- TrainInterfaces.td - op interfaces of the train dialect --*- tablegen -*-===//

#ifndef FTC_DIALECT_TRAIN_IR_TRAININTERFACES_TD
#define FTC_DIALECT_TRAIN_IR_TRAININTERFACES_TD

include "mlir/IR/OpBase.td"

def Train_ReverseModeOpInterface : OpInterface<"ReverseModeOpInterface"> {
  let cppNamespace = "::ftc::train";
  let description = [{
    The reverse-mode derivative rule of an op: given the adjoints of its
    results (d loss / d result), build the adjoints of its operands
    (d loss / d operand) with ops inserted at the builder's point.

    `ftc-autodiff` walks the loss function backwards and calls this on every
    op that lies between a trainable parameter and the loss. Each rule
    carries its maths in a one-line comment where it is implemented
    (lib/Dialect/Train/IR/DerivativeRules.cpp). Ops of other dialects get the
    same interface through external models.
  }];
  let methods = [
    InterfaceMethod<[{
        Builds the adjoint of every operand `i` with `needed[i]` set and
        stores it in `operandAdjoints[i]` (pre-sized to the operand count,
        null on entry). `resultAdjoints[j]` is null when result `j` does not
        reach the loss. Leaves an entry null when no gradient flows into that
        operand (an integer operand, say). Fails, with a diagnostic, when the
        rule cannot be built.
      }],
      "::llvm::LogicalResult", "buildAdjoints",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultAdjoints,
           "::llvm::ArrayRef<bool>":$needed,
           "::llvm::MutableArrayRef<::mlir::Value>":$operandAdjoints)>,
    InterfaceMethod<[{
        The values of the forward pass that `buildAdjoints` reads: what must
        be kept (or recomputed) until the backward pass runs.
      }],
      "::llvm::SmallVector<::mlir::Value>", "getSavedForBackward", (ins),
      /*methodBody=*/"",
      /*defaultImplementation=*/[{
        return ::llvm::SmallVector<::mlir::Value>($_op->getOperands());
      }]>,
  ];
}

#endif // FTC_DIALECT_TRAIN_IR_TRAININTERFACES_TD
