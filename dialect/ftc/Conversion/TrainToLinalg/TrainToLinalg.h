//===- TrainToLinalg.h - train ops to linalg, tensor, arith, math -*- C++ -*-===//

#ifndef FTC_CONVERSION_TRAINTOLINALG_TRAINTOLINALG_H
#define FTC_CONVERSION_TRAINTOLINALG_TRAINTOLINALG_H

#include "mlir/IR/PatternMatch.h"

namespace ftc {

/// The patterns lowering every train op that has a linalg form (all but
/// the parameter ops ftc-bind-abi removes and the composite ops
/// ftc-expand-composites expands), one family per file of
/// lib/Conversion/TrainToLinalg: elementwise, reductions, contractions,
/// data movement, optimizer updates, random.
void populateTrainToLinalgPatterns(mlir::RewritePatternSet &patterns);

} // namespace ftc

#endif // FTC_CONVERSION_TRAINTOLINALG_TRAINTOLINALG_H
