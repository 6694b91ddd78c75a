#!/usr/bin/env bash
# Runs every test: sets up (installs, builds) first, then the lit suite and
# the unit tests, and ends with the line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"

if ! ./setup.sh --no-run; then
  echo "setup or build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

log=build/test-results.log
/usr/lib/llvm-22/bin/lit -sv build/test build/test/Unit 2>&1 | tee "$log"
lit_status=${PIPESTATUS[0]}

# The sanitizer build (ASan + UBSan, build-san/: see CMakeLists.txt) and its
# suite: the fuzzers' bounded runs and regressions (test/Fuzz), the unit
# tests, and the lit tests of the compiler's passes and tools.
san_dirs=(Fuzz Unit Dialect Conversion Transforms Codegen tools)
if ./setup.sh --sanitizers-only; then
  /usr/lib/llvm-22/bin/lit -sv "${san_dirs[@]/#/build-san/test/}" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || lit_status=1
else
  echo "the sanitizer build failed"
  echo "  Failed: 1" >> "$log"
fi

# lit's summary lines: "  Passed: 27 (100.00%)".
count() { awk -v k="$1" -F: '$1 ~ "^ *"k" *$" { split($2, a, " "); n += a[1] } END { print n + 0 }' "$log"; }
passed=$(( $(count "Passed") + $(count "Expectedly Failed") ))
failed=$(( $(count "Failed") + $(count "Unexpectedly Passed") + $(count "Timed Out") + $(count "Unresolved") ))
if [ "$lit_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # lit itself failed before it could count
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
