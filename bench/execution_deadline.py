"""The execution's own deadline (lambdas/core/deadline.py) under the worst schedule the rehearsal can make: figures.

Run: .venv/bin/python bench/execution_deadline.py. It prints the reserves derived from the definition's Retry blocks,
then rehearses the fault matrix's "48 h edge" schedule (drsctl/local/fault_cases.py: 30 waves at the widest
WaveTimeoutMinutes that fits, every Task of the execution timed out 3 times before it answers, every wave's last
checks late, a health check, an approval and a callback to their timeouts, capacity waits, DRS storms, a drill
cleanup) twice: as deployed, and with the execution's own deadline switched off (WavesEndBy moved past the end of
time, a counterfactual: the same schedule, which Step Functions would then cut at its TimeoutSeconds). For each: how
the execution ended, when (seconds after its start), where the plan was cut, and the invariants.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.local import fault_cases
from drsctl.local.fault_cases import EDGE_WAVES, Case, run_case
from lambdas.core import deadline
from lambdas.core.steps import DrillCleanup

EDGE = next(case for case in fault_cases.CASES if case.name.startswith(f"48 h edge: {EDGE_WAVES} waves"))


def rehearse(case: Case) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    settle = fault_cases._settle

    def settled(aws: Any, case: Case, described: dict[str, Any], ended: list[dict[str, Any]]) -> Any:
        record = aws.record("first", "shop")
        seen["ended"] = (described["stopDate"] - described["startDate"]).total_seconds()
        seen["status"] = described["status"]
        seen["cut"] = [
            f"wave {w.WaveNumber} at {(w.EndTime or 0) - record.StartTime} s"
            for w in record.Waves
            if w.Status == "TIMED_OUT"
        ]
        seen["cleanup"] = record.Cleanup.Status if record.Cleanup else None
        return settle(aws, case, described, ended)

    started = time.perf_counter()
    with patch.object(fault_cases, "_settle", settled):
        outcome = run_case(case)
    seen["record"] = outcome.record_status
    seen["violations"] = sum(outcome.violations.counts().values())
    seen["wall"] = time.perf_counter() - started
    return seen


def main() -> int:
    cleanup = DrillCleanup(AfterMinutes=10)
    print(f"TimeoutSeconds {deadline.EXECUTION_TIMEOUT_SECONDS} s")
    print(f"end reserve (Finalize, Record failure): {deadline.end_reserve(None)} s")
    print(f"  with a drill cleanup of AfterMinutes 10: {deadline.end_reserve(cleanup)} s")
    print(f"the Task after another, at its worst: {deadline.next_task_seconds()} s")
    print(f"a wave's start attempt or check, at its worst: {deadline.wave_task_seconds()} s")
    ends_by = deadline.waves_end_by(0, None)
    print(f"a wave's deadline is cut {ends_by - deadline.wave_cut(ends_by)} s before WavesEndBy")
    print()
    print("run | Step Functions | ended (s after start) | record | cut | drill cleanup | invariants broken | wall s")
    figures = rehearse(EDGE)
    rows = [("as deployed", figures)]
    with patch.object(deadline, "waves_end_by", lambda started_at, cleanup: started_at + 10**9):
        rows.append(("own deadline switched off", rehearse(EDGE)))
    for name, seen in rows:
        print(
            f"{name} | {seen['status']} | {seen['ended']:.0f} | {seen['record']} | {', '.join(seen['cut']) or '-'} "
            f"| {seen['cleanup']} | {seen['violations']} | {seen['wall']:.1f}"
        )
    ok = figures["status"] == "FAILED" and figures["ended"] < deadline.EXECUTION_TIMEOUT_SECONDS
    return 0 if ok and not figures["violations"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
