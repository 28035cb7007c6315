"""Figures of DESIGN.md section 6 from rehearsals of synthetic plans. Run: .venv/bin/python bench/rehearsal_figures.py

Cases:
- sample-drill: a replica of the public sample drill (2 waves x 2 servers, DRS jobs of about 8m55s), over several
  seeds: the overhead ratio (makespan / DRS critical path) against the sample's measured 1.16.
- scale-*: plans of growing size with 60-minute jobs, up to 20 waves x 100 servers: history events per execution
  against the 25,000 cap, and the rehearsal's wall time.
Medians over the repeats; the machines are shared, so wall times are indicative.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from drsctl.emulator import Scenario
from drsctl.local.figures import Report
from drsctl.local.run import rehearse
from lambdas.core.plan import RecoveryPlan

REGION = "us-east-1"
SAMPLE_DRILL_TIMING = {"snapshot": 1, "preparation": 52, "conversion": 197, "launch": 285}  # 535 s = 8m55s
HOUR_JOB_TIMING = {"snapshot": 1, "preparation": 60, "conversion": 1500, "launch": 2039}  # 3,600 s


def server_id(wave: int, index: int) -> str:
    return "s-" + f"w{wave:03d}n{index:05d}".rjust(17, "0")


def synthetic(waves: int, per_wave: int, timing: dict[str, float], seed: int) -> tuple[RecoveryPlan, Scenario]:
    servers: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    plan_waves: list[dict[str, Any]] = []
    for wave in range(1, waves + 1):
        ids = [server_id(wave, index) for index in range(per_wave)]
        servers += [{"id": s, "hostname": f"w{wave}-{n}"} for n, s in enumerate(ids)]
        groups.append({"GroupId": f"g{wave}", "Region": REGION, "SourceServerIds": ids})
        plan_waves.append({"WaveName": f"wave-{wave}", "ProtectionGroupId": f"g{wave}"})
    scenario = Scenario.model_validate(
        {
            "region": REGION,
            "seed": seed,
            "quotas": {"maxServersPerJob": 100, "maxConcurrentJobs": 20, "maxServersInActiveJobs": 500},
            "timing": {"drill": timing, "jitter": 0.05},
            "servers": servers,
        }
    )
    plan = RecoveryPlan.model_validate(
        {"PlanId": f"bench-{waves}x{per_wave}", "Name": "bench", "ProtectionGroups": groups, "Waves": plan_waves}
    )
    return plan, scenario


def run_case(waves: int, per_wave: int, timing: dict[str, float], repeats: int) -> list[Report]:
    reports = []
    for seed in range(1, repeats + 1):
        plan, scenario = synthetic(waves, per_wave, timing, seed)
        report = rehearse(plan, scenario, "DRILL")
        if report.status != "COMPLETED":
            raise SystemExit(f"{plan.PlanId} seed {seed} ended {report.status}: {report.errorMessage}")
        reports.append(report)
    return reports


def median(reports: list[Report], field: str) -> float:
    return statistics.median(float(getattr(report, field)) for report in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="seeds per case (default 5)")
    parser.add_argument("--quick", action="store_true", help="skip the 20 x 100 case")
    args = parser.parse_args()
    cases = [("sample-drill 2x2, 8m55s jobs", 2, 2, SAMPLE_DRILL_TIMING, args.repeats)]
    scale = [(3, 5), (10, 50)] + ([] if args.quick else [(20, 100)])
    cases += [(f"scale {w}x{n}, 60-min jobs", w, n, HOUR_JOB_TIMING, 1 if w * n > 500 else 3) for w, n in scale]
    columns = (
        "case",
        "runs",
        "overhead",
        "max",
        "makespan s",
        "events",
        "transitions",
        "lambda calls",
        "max lambda s",
        "payload B",
        "DRS calls",
        "wall s",
    )
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    for name, waves, per_wave, timing, repeats in cases:
        reports = run_case(waves, per_wave, timing, repeats)
        row = [
            name,
            str(len(reports)),
            f"{median(reports, 'overheadRatio'):.4f}",
            f"{max(float(r.overheadRatio or 0) for r in reports):.4f}",
            f"{median(reports, 'makespanSeconds'):.0f}",
            f"{median(reports, 'historyEvents'):.0f}",
            f"{median(reports, 'stateTransitions'):.0f}",
            f"{median(reports, 'lambdaInvocations'):.0f}",
            f"{median(reports, 'maxLambdaSeconds'):.3f}",
            f"{median(reports, 'maxPayloadBytes'):.0f}",
            f"{median(reports, 'drsApiCalls'):.0f}",
            f"{median(reports, 'wallSeconds'):.1f}",
        ]
        print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
