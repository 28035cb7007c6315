"""Run every case of the fault matrix (drsctl/local/fault_cases.py) and print what each left behind.

Run: .venv/bin/python bench/fault_matrix.py [--family NAME] [--fast]. One row per case: the record's status (and
whether it is the one the case expects), StartRecovery calls, then the invariants: servers launched twice, records,
waves, servers and runbook steps left non-final, locks left, DRS jobs missing from the record, errors without a
named action.
Every invariant column must be 0. The last lines are the totals, per family and overall.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.local.fault_cases import CASES, run_case
from drsctl.local.invariants import Violations

# every invariant the checks know, in their order (drsctl/local/invariants.py)
INVARIANTS = tuple(field.name for field in dataclasses.fields(Violations))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", help="only the cases of this family")
    parser.add_argument("--fast", action="store_true", help="only the fast subset (what make test runs)")
    arguments = parser.parse_args()
    cases = [
        c for c in CASES if (not arguments.family or c.family == arguments.family) and (c.fast or not arguments.fast)
    ]
    columns = ["family", "case", "record", "as expected", "StartRecovery", *INVARIANTS, "wall s"]
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    totals: dict[str, int] = defaultdict(int)
    by_family: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    unexpected = 0
    for case in cases:
        started = time.perf_counter()
        outcome = run_case(case)
        counts = outcome.violations.counts()
        unexpected += not outcome.expected
        for name in INVARIANTS:
            totals[name] += counts[name]
            by_family[case.family][name] += counts[name]
        by_family[case.family]["cases"] += 1
        row = [
            case.family,
            case.name,
            outcome.record_status,
            "yes" if outcome.expected else f"NO ({'; '.join(outcome.unexpected())})",
            str(outcome.start_recovery_calls),
            *(str(counts[name]) for name in INVARIANTS),
            f"{time.perf_counter() - started:.1f}",
        ]
        print(" | ".join(row), flush=True)
        if outcome.violations:
            print(f"    violations: {outcome.violations}", flush=True)
        if outcome.problems:
            print(f"    the case's own check: {'; '.join(outcome.problems)}", flush=True)
        if case.then_resume and not outcome.expected:
            found = "; ".join(outcome.resume_problems) or "its own checks passed"
            wanted = "/".join(case.resume_expect)
            print(f"    resume: {outcome.resumed_status} (expected {wanted}); {found}", flush=True)
    print()
    for family, counts in by_family.items():
        summary = ", ".join(f"{name} {counts[name]}" for name in INVARIANTS)
        print(f"{family}: {counts['cases']} cases; {summary}")
    print(
        f"\n{len(cases)} cases, {unexpected} with an unexpected outcome; "
        + ", ".join(f"{name}: {totals[name]}" for name in INVARIANTS)
    )
    return 1 if unexpected or any(totals.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
