"""The figures of docs/rehearsal.md from rehearsals of synthetic plans. Run: .venv/bin/python bench/rehearsal_figures.py

Cases:
- sample-drill: a replica of the public sample drill (2 waves x 2 servers, DRS jobs of about 8m55s), over several
  seeds: the overhead ratio (makespan / DRS critical path) against the sample's measured 1.16.
- growth (--growth, or all of it by default): how every figure grows with the number of servers (100 to 5,000),
  the job length (10 to 720 minutes), the number of waves (1 to 135) and of accounts (1, 4, 17: member accounts of
  at most 300 servers, as DRS replicates per account and Region; each wave spans them all): wall time, the longest
  Lambda (wall, and wall plus the time it slept in SDK backoff), history events, DRS calls, the overhead ratio, the
  largest DynamoDB item written.
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
REGIONS = ("us-east-1", "us-west-2")


def member_account(index: int) -> str:
    return f"{200000000000 + index:012d}"


SAMPLE_DRILL_TIMING = {"snapshot": 1, "preparation": 52, "conversion": 197, "launch": 285}  # 535 s = 8m55s


def server_id(wave: int, index: int) -> str:
    return "s-" + f"w{wave:03d}n{index:05d}".rjust(17, "0")


def job_timing(minutes: float) -> dict[str, float]:
    """Phases of a DRS job of `minutes` (snapshot, preparation, then conversion 40% and launch the rest)."""
    total = minutes * 60
    return {"snapshot": 1, "preparation": 60, "conversion": 0.4 * total, "launch": 0.6 * total - 61}


def synthetic(  # noqa: PLR0917 - the shape of the estate, each used
    waves: int,
    per_wave: int,
    timing: dict[str, float],
    seed: int,
    options: dict[str, Any] | None = None,
    accounts: int = 1,
    regions: int = 1,
) -> tuple[RecoveryPlan, Scenario]:
    """`waves` waves of `per_wave` servers. With `accounts` > 1, the servers are in that many member accounts (over
    `regions` Regions each), dealt out in turn so that every wave spans every (account, Region): one group per wave
    and (account, Region), the wave naming them all (ProtectionGroupIds)."""
    servers: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    plan_waves: list[dict[str, Any]] = []
    targets = [(member_account(a), REGIONS[r]) for a in range(accounts) for r in range(regions)] if accounts > 1 else []
    for wave in range(1, waves + 1):
        ids = [server_id(wave, index) for index in range(per_wave)]
        if not targets:
            servers += [{"id": s, "hostname": f"w{wave}-{n}"} for n, s in enumerate(ids)]
            groups.append({"GroupId": f"g{wave}", "Region": REGION, "SourceServerIds": ids})
            plan_waves.append({"WaveName": f"wave-{wave}", "ProtectionGroupId": f"g{wave}"})
            continue
        names = []
        for number, (account, region) in enumerate(targets):
            mine = ids[number :: len(targets)]
            if not mine:
                continue
            servers += [
                {"id": s, "hostname": f"w{wave}-{account[-2:]}-{n}", "account": account, "region": region}
                for n, s in enumerate(mine)
            ]
            name = f"g{wave}-{account[-2:]}-{region}"
            groups.append({"GroupId": name, "Region": region, "Account": account, "SourceServerIds": mine})
            names.append(name)
        plan_waves.append({"WaveName": f"wave-{wave}", "ProtectionGroupIds": names})
    scenario = Scenario.model_validate(
        {
            "region": REGION,
            "seed": seed,
            "accounts": [{"id": member_account(a)} for a in range(accounts)] if targets else [],
            "quotas": {"maxServersPerJob": 100, "maxConcurrentJobs": 20, "maxServersInActiveJobs": 1000},
            "timing": {"drill": timing, "jitter": 0.05},
            "servers": servers,
        }
    )
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": f"bench-{waves}x{per_wave}" + (f"-{accounts}a{regions}r" if targets else ""),
            "Name": "bench",
            "ProtectionGroups": groups,
            "Waves": plan_waves,
            **({"Options": options} if options else {}),
        }
    )
    return plan, scenario


def run_case(  # noqa: PLR0917 - a case's shape
    waves: int,
    per_wave: int,
    timing: dict[str, float],
    repeats: int,
    options: dict[str, Any] | None = None,
    accounts: int = 1,
    regions: int = 1,
) -> list[Report]:
    reports = []
    for seed in range(1, repeats + 1):
        plan, scenario = synthetic(waves, per_wave, timing, seed, options, accounts, regions)
        report = rehearse(plan, scenario, "DRILL")
        if report.status != "COMPLETED":
            raise SystemExit(f"{plan.PlanId} seed {seed} ended {report.status}: {report.errorMessage}")
        reports.append(report)
    return reports


def median(reports: list[Report], field: str) -> float:
    return statistics.median(float(getattr(report, field) or 0) for report in reports)


# (name, waves, servers per wave, job minutes, Options[, accounts, Regions]): servers 100 to 5,000; jobs 10 to 720
# min; 1 to 135 waves; 1, 4 and 17 accounts.
GROWTH: list[tuple[Any, ...]] = [
    ("servers 100 (1 x 100)", 1, 100, 10, {}),
    ("servers 500 (5 x 100)", 5, 100, 10, {}),
    ("servers 2,000 (20 x 100)", 20, 100, 60, {}),
    ("servers 5,000 (50 x 100)", 50, 100, 10, {"WaveTimeoutMinutes": 30}),
    ("servers 5,000 (10 x 500)", 10, 500, 10, {"WaveTimeoutMinutes": 60, "MaxServersInActiveJobs": 1000}),
    ("job 10 min (3 x 5)", 3, 5, 10, {}),
    ("job 60 min (3 x 5)", 3, 5, 60, {}),
    ("job 240 min (3 x 5)", 3, 5, 240, {"WaveTimeoutMinutes": 480}),
    ("job 720 min (3 x 5)", 3, 5, 720, {"WaveTimeoutMinutes": 900}),
    ("waves 1 (1 x 1)", 1, 1, 9, {}),
    ("waves 20 (20 x 1)", 20, 1, 9, {}),
    ("waves 60 (60 x 1)", 60, 1, 9, {"WaveTimeoutMinutes": 45}),
    ("waves 135 (135 x 1)", 135, 1, 9, {"WaveTimeoutMinutes": 20}),
    (
        "drill cleanup 2,000 (4 x 500)",
        4,
        500,
        10,
        {"MaxServersInActiveJobs": 1000, "DrillCleanup": {"AfterMinutes": 5}},
    ),
    ("accounts 4 x 2 Regions: 1,200 (2 x 600)", 2, 600, 10, {}, 4, 2),
    ("accounts 17: 5,000 (10 x 500)", 10, 500, 10, {"WaveTimeoutMinutes": 60}, 17, 1),
]
COLUMNS = (
    "case",
    "accounts",
    "runs",
    "overhead",
    "max",
    "makespan h",
    "events",
    "lambda calls",
    "max lambda s",
    "max lambda+slept s",
    "largest item B",
    "payload B",
    "DRS calls",
    "wall s",
)


def row(name: str, reports: list[Report]) -> list[str]:
    accounts = {server.account for wave in reports[0].waves for server in wave.servers}
    return [
        name,
        str(len(accounts)),
        str(len(reports)),
        f"{median(reports, 'overheadRatio'):.4f}",
        f"{max(float(r.overheadRatio or 0) for r in reports):.4f}",
        f"{median(reports, 'makespanSeconds') / 3600:.2f}",
        f"{median(reports, 'historyEvents'):.0f}",
        f"{median(reports, 'lambdaInvocations'):.0f}",
        f"{median(reports, 'maxLambdaSeconds'):.3f}",
        f"{median(reports, 'maxLambdaVirtualSeconds'):.3f}",
        f"{median(reports, 'maxItemBytes'):.0f}",
        f"{median(reports, 'maxPayloadBytes'):.0f}",
        f"{median(reports, 'drsApiCalls'):.0f}",
        f"{median(reports, 'wallSeconds'):.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="seeds per small case (default 3; large cases: 1)")
    parser.add_argument("--quick", action="store_true", help="skip the cases of 2,000 servers or more")
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    cases = [("sample-drill 2x2, 8m55s jobs", 2, 2, SAMPLE_DRILL_TIMING, args.repeats, {})]
    cases = [(*case, 1, 1) for case in cases]  # one account, one Region
    for name, waves, per_wave, minutes, options, *estate in GROWTH:
        if not (args.quick and waves * per_wave >= 2000):
            repeats = 1 if waves * per_wave >= 500 else args.repeats
            accounts, regions = estate or (1, 1)
            cases.append((name, waves, per_wave, job_timing(minutes), repeats, options, accounts, regions))
    print(" | ".join(COLUMNS))
    print(" | ".join("---" for _ in COLUMNS))
    for name, waves, per_wave, timing, repeats, options, accounts, regions in cases:
        if args.only and args.only not in name:
            continue
        reports = run_case(waves, per_wave, timing, repeats, options, accounts, regions)
        print(" | ".join(row(name, reports)), flush=True)


if __name__ == "__main__":
    main()
