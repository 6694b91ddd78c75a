//===- Passes.h - ftc passes ------------------------------------*- C++ -*-===//

#ifndef FTC_TRANSFORMS_PASSES_H
#define FTC_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

#include "ftc/Dialect/Train/IR/TrainDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>
#include <memory>
#include <string>

namespace llvm::cl {
class Option;
} // namespace llvm::cl

namespace ftc {

/// The default of ftc-optimizer's numeric options: "not given". Whether a
/// pass option was set (hasValue) is lost when a pipeline is printed; nan
/// prints as `lr=nan` and parses back, so the printed pipeline replays as
/// it ran.
inline constexpr double kNotGiven = std::numeric_limits<double>::quiet_NaN();

/// A linalg.generic's activation, as ftc-convert-train-to-linalg made it:
/// "gelu_tanh" (inputs: x; gelu's tanh form of each x) or "gelu_tanh_grad"
/// (inputs: dy, x; dy gelu'(x)), each input possibly rounded first (a
/// cast fused in: ftc-gpu-fuse-elementwise keeps the attribute through
/// that fusion and through no other). ftc-gpu-library-contractions hands
/// such an op to the cuBLASLt epilogue of the product whose result it reads.
inline constexpr llvm::StringLiteral kActivationAttr = "ftc.activation";
inline constexpr llvm::StringLiteral kGeluTanh = "gelu_tanh";
inline constexpr llvm::StringLiteral kGeluTanhGrad = "gelu_tanh_grad";

#define GEN_PASS_DECL
#include "ftc/Transforms/Passes.h.inc"

/// A pass whose options are checked as soon as they are parsed, by
/// `DerivedT::checkOptions(fail)`: a bad value stops `ftc --lr=-1` and
/// `ftc-opt --ftc-optimizer='lr=-1'` before any IR is read. (Passes made
/// from an options struct skip initializeOptions: runOnOperation checks
/// again.) `BaseT` is the pass's generated base.
template <typename DerivedT, typename BaseT>
class CheckedOptionsPass : public BaseT {
public:
  using BaseT::BaseT;
  mlir::LogicalResult initializeOptions(
      llvm::StringRef options,
      llvm::function_ref<mlir::LogicalResult(const llvm::Twine &)> errorHandler) override {
    if (mlir::failed(BaseT::initializeOptions(options, errorHandler)))
      return mlir::failure();
    return static_cast<DerivedT *>(this)->checkOptions(errorHandler);
  }
};

/// The options of `pass`, one made by createOptimizer() or createLora(), as
/// Passes.td declares them, sorted by name: `ftc` makes its flags from their
/// names and descriptions, which live as long as the pass.
llvm::SmallVector<llvm::cl::Option *> getOptimizerOptions(mlir::Pass &pass);
llvm::SmallVector<llvm::cl::Option *> getLoraOptions(mlir::Pass &pass);
llvm::SmallVector<llvm::cl::Option *> getAutocastOptions(mlir::Pass &pass);
llvm::SmallVector<llvm::cl::Option *> getLossScaleOptions(mlir::Pass &pass);

/// ftc-autocast's policy: the type an op computes in under bf16 or fp16.
enum class AutocastPolicy {
  Lower,   ///< 16-bit operands (products: summed in f32)
  Fp32,    ///< f32 operands
  Promote, ///< the widest of its float operands' types
  Follow,  ///< its float operands' type (not listed in the table)
};
struct AutocastRule {
  llvm::StringLiteral op;
  AutocastPolicy policy;
  llvm::StringLiteral why;
};
/// ftc's table (the `torch` rules), in one place; `ftc --report` prints it.
llvm::ArrayRef<AutocastRule> getAutocastPolicy();
/// The policy of an op by name in that table (`train.linear`): Follow when
/// not listed.
AutocastPolicy getAutocastPolicy(llvm::StringRef opName);

/// Autocast rules: the type each op of the loss function computes in under
/// bf16 or fp16. ftc's are `torch` (the table above: torch.autocast's
/// choices); a plugin registers its own (from its mlirGetPassPluginInfo
/// callback) and `ftc --autocast-rules=NAME` or
/// `ftc-autocast{autocast-rules=NAME}` uses them. The casts, the master
/// weights and the backward are ftc-autocast's whatever the rules.
class AutocastRules {
public:
  virtual ~AutocastRules();
  /// The name --autocast-rules takes.
  virtual llvm::StringRef getName() const = 0;
  /// One line: what they decide.
  virtual llvm::StringRef getDescription() const = 0;
  /// The type `op` (an op of the loss function with float tensor operands
  /// and results) computes in.
  virtual AutocastPolicy decide(mlir::Operation *op) const = 0;
  /// The rules as a table by op name, for `ftc --report`; empty when they
  /// are not one.
  virtual llvm::ArrayRef<AutocastRule> getTable() const { return {}; }
};

/// Registers `rules`; fails when their name is taken.
mlir::LogicalResult registerAutocastRules(std::unique_ptr<AutocastRules> rules);

/// The rules registered as `name`, or null.
const AutocastRules *lookupAutocastRules(llvm::StringRef name);

/// "torch" and the plugins' names, for messages.
std::string autocastRulesNames();

/// Every option of the pass whose option `member` is, sorted by name.
llvm::SmallVector<llvm::cl::Option *> getSiblingOptions(llvm::cl::Option &member);

#define GEN_PASS_REGISTRATION
#include "ftc/Transforms/Passes.h.inc"

/// train.fused_attention and train.fused_attention_grad in one-shot
/// bufferization: the destinations' buffers written, the inputs read.
void registerFusedAttentionBufferization(mlir::DialectRegistry &registry);

} // namespace ftc

#endif // FTC_TRANSFORMS_PASSES_H
