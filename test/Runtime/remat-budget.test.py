#!/usr/bin/python3
"""--memory-budget on gpt2-mini: a sweep of budgets, and the promise kept.

  remat-budget.test.py FTC FTC_TRAIN WORKDIR EXAMPLES

From none's planned peak (the report's total) down to blocks' (every block
recomputed, the least ftc reaches), five budgets: each compile's planned
peak is within its budget and never grows as the budget shrinks; a budget
below blocks' is an error that names the smallest feasible one; for the
tightest budget and one in between, ftc-train's measured peak (max resident
set growth) is the plan (at most 4 MiB more, as test/tools/ftc-train/
peak-memory.test allows).
Prints one line per check; exits 1 if any fails.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import ftcpy  # noqa: E402

check = ftcpy.Checks()


def planned(ftc, model, out, *flags):
    """The report's total (the planned peak) of a compile."""
    proc = subprocess.run([ftc, model, "--report", "-o", out, *flags],
                          capture_output=True, text=True)
    if proc.returncode:
        return None, proc.stderr
    return int(re.search(r"^  total +(\d+)", proc.stdout, re.M).group(1)), proc.stdout


def main():
    ftc, train, work, examples = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    model = os.path.join(examples, "gpt2-mini.mlir")
    none, _ = planned(ftc, model, os.devnull, "--emit=mlir")
    blocks, _ = planned(ftc, model, os.devnull, "--emit=mlir", "--remat=blocks")
    check("blocks plans less than none", blocks < none, f"{blocks} < {none} B")
    budgets = [none - (none - blocks) * i // 4 for i in range(5)]
    plans = []
    for i, budget in enumerate(budgets):
        so = os.path.join(work, f"mini-{i}.so")
        measure = i in (2, 4)
        total, out = planned(ftc, model, so if measure else os.devnull,
                             f"--memory-budget={budget}", *(() if measure else ("--emit=mlir",)))
        check(f"budget {budget} B: planned peak within it", total is not None and total <= budget,
              f"{total} B")
        plans.append(total or budget + 1)
        if measure and total is not None:
            log = subprocess.run([train, so, "--synthetic", "--steps", "1"], check=True,
                                 capture_output=True, text=True).stdout
            p, m = map(int, re.search(r"planned (\d+) B .*measured (\d+) B", log).groups())
            batch = int(re.search(r"inputs \(one batch\) +(\d+)", out).group(1))
            check(f"budget {budget} B: ftc-train's planned peak is the report's, less the batch",
                  p == total - batch, f"{p} B")
            check(f"budget {budget} B: measured peak is the plan (at most 4 MiB more)",
                  p <= m <= p + 4 * 2**20, f"measured {m} B")
    check("the planned peak never grows as the budget shrinks",
          all(a >= b for a, b in zip(plans, plans[1:])), " >= ".join(map(str, plans)))
    total, err = planned(ftc, model, os.devnull, "--emit=mlir", f"--memory-budget={blocks - 2**20}")
    check("a budget below blocks' is an error naming the smallest feasible one",
          total is None and f"the smallest feasible budget is {blocks} B" in err, err.strip())
    sys.exit(1 if check.failures else 0)


if __name__ == "__main__":
    main()
