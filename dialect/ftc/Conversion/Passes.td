//===- Passes.td - ftc conversion passes ------------------------*- tablegen -*-===//
//
// Passes that convert one dialect into others, each implemented in
// lib/Conversion/<Source>To<Target>/ from pattern sets that other passes
// and targets can reuse.
//
//===----------------------------------------------------------------------===//

#ifndef FTC_CONVERSION_PASSES_TD
#define FTC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertTrainToLinalg : Pass<"ftc-convert-train-to-linalg", "::mlir::func::FuncOp"> {
  let summary = "Lowers train ops to linalg, tensor, arith and math";
  let description = [{
    A dialect conversion with the patterns of populateTrainToLinalgPatterns,
    after which no train op is left. Elementwise ops become linalg.generic
    with numpy-broadcasting indexing maps, reductions linalg.generic with
    reduction iterators (sums accumulated in f64), matrix products
    linalg.contract over (batch..., m, n, k) with transposes in the indexing
    maps, reshapes tensor.collapse_shape/expand_shape, and each optimizer
    update one linalg.generic that updates parameter and state in place.

    Runs after ftc-bind-abi (parameters and the RNG state are buffers) and
    ftc-expand-composites (no attention ops): a parameter op, a composite op
    or a dropout without its RNG buffer is an error naming the pass that
    should have run first.

    ```mlir
    // ftc-opt --pass-pipeline='builtin.module(func.func(ftc-convert-train-to-linalg))'
    %y = train.matmul %a, %b transpose_rhs : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
    // becomes
    %y = linalg.contract indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                          affine_map<(m, n, k) -> (n, k)>,
                                          affine_map<(m, n, k) -> (m, n)>]
        ins(%a, %b : tensor<4x8xf32>, tensor<3x8xf32>) outs(%zeros : tensor<4x3xf32>) -> tensor<4x3xf32>
    ```
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // FTC_CONVERSION_PASSES_TD
