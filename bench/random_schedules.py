"""Seeded random schedules of faults, stops and races, runbook steps, health checks, the drill cleanup and resumes
(drsctl/local/fault_cases.random_case), each checked against the invariants.
Run: .venv/bin/python bench/random_schedules.py [--count 1000] [--start 0].

Prints one line per schedule that broke an invariant (replay it with --start SEED --count 1, and keep it as a
regression seed in tests/safety/test_random_schedules.py), then the totals per invariant and the outcomes drawn.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.local.fault_cases import random_case, run_case
from drsctl.local.invariants import Violations

# every invariant the checks know, in their order (drsctl/local/invariants.py)
INVARIANTS = tuple(field.name for field in dataclasses.fields(Violations))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0)
    arguments = parser.parse_args()
    totals: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    failing: list[int] = []
    started = time.perf_counter()
    for seed in range(arguments.start, arguments.start + arguments.count):
        case = random_case(seed)
        outcome = run_case(case)
        outcomes[outcome.record_status] += 1
        totals.update({name: count for name, count in outcome.violations.counts().items() if count})
        if outcome.violations:
            failing.append(seed)
            print(f"{case.name}\n    {outcome.violations}", flush=True)
    wall = time.perf_counter() - started
    print(
        f"{arguments.count} schedules in {wall:.0f} s ({wall / arguments.count:.2f} s each); outcomes "
        f"{dict(sorted(outcomes.items()))}; schedules breaking an invariant: {len(failing)} {failing[:20]}"
    )
    print(", ".join(f"{name}: {totals[name]}" for name in INVARIANTS))
    return 1 if failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
