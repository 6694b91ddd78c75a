// RUN: ftc-opt %s --ftc-plan-memory --verify-diagnostics -o /dev/null

// expected-error @below {{no buffer layout (ftc.abi): run ftc-bind-abi before ftc-plan-memory}}
module {
}
