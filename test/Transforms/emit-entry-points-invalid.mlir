// RUN: ftc-opt %s --split-input-file --ftc-emit-entry-points --verify-diagnostics

// expected-error @+1 {{no 'ftc.abi' on the module; run ftc-bind-abi first}}
module {
}

// -----

module attributes {ftc.abi = []} {
  // expected-error @+1 {{an entry point needs one pointer argument per buffer (bare-pointer memrefs of static shape)}}
  llvm.func @f(%a: i64) attributes {ftc.entry = "eval", ftc.abi_indices = array<i64: 0>} {
    llvm.return
  }
}
