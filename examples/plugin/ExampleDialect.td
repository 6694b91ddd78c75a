//===- ExampleDialect.td - a dialect loaded from a plugin ------*- tablegen -*-===//
//
// The dialect of the example plugin (--load-dialect-plugin): one op, which
// the plugin's example-lower-swish pass rewrites into ops ftc knows how to
// differentiate and compile.
//
//===----------------------------------------------------------------------===//

#ifndef EXAMPLE_DIALECT_TD
#define EXAMPLE_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Example_Dialect : Dialect {
  let name = "example";
  let cppNamespace = "::example";
  let summary = "An example dialect from an ftc plugin";
}

def Example_SwishOp : Op<Example_Dialect, "swish", [Pure, SameOperandsAndResultType]> {
  let summary = "swish (SiLU): x * sigmoid(x), elementwise";
  let description = [{
    ```mlir
    %y = example.swish %x : tensor<128x256xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat]>:$input);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

#endif // EXAMPLE_DIALECT_TD
