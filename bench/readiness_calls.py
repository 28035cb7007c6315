"""Readiness of a 2,000- and a 5,000-server plan against the emulator: the calls it makes (bounded: one listing per
account and Region, one GetLaunchConfiguration per server, a handful of EC2, Service Quotas and IAM calls) and how
long an evaluation takes (goal: 2,000 servers under 60 s here, well inside the readiness function's 15 minutes).

`make test` counts the calls for 250 servers (tests/readiness/test_bounded.py); this runs the sizes the issue names.
Exits non-zero when a count is not the bounded one or the goal is missed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.readiness.test_bounded import evaluate_counting, unbounded_calls

GOAL_SECONDS = {2_000: 60.0}


def main() -> int:
    failures = 0
    for servers in (2_000, 5_000):
        started = time.perf_counter()
        result, emulator = evaluate_counting(servers)
        seconds = time.perf_counter() - started
        wrong = unbounded_calls(servers, emulator)
        findings = [(f.code, f.severity) for f in result.findings]
        goal = GOAL_SECONDS.get(servers)
        print(
            f"{servers:>5} servers: {seconds:6.1f} s, {sum(emulator.calls.values())} DRS calls, "
            f"{sum(emulator.ec2_calls.values())} EC2 calls, findings {findings}"
            + (f" (goal under {goal:g} s)" if goal else "")
        )
        if wrong:
            print(f"      calls not bounded (made, expected): {wrong}")
        if wrong or findings != [("DRILL_OVERDUE", "WARN")] or (goal is not None and seconds > goal):
            failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
