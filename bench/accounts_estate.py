"""The 1,200-server estate over member accounts, through the CLI as an operator runs it (issue 19's scale check).

Run: .venv/bin/python bench/accounts_estate.py [--layout spread|halves] [--point-in-time]

1,200 servers over 4 member accounts x 2 Regions (300 per account), in 2 waves of 600 that span the accounts:
- spread: each wave takes half of every (account, Region): 75 servers in each of 8 (account, Region)s;
- halves: wave 1 is accounts 1 and 2, wave 2 accounts 3 and 4: 150 servers in each of 4 (account, Region)s, two
  jobs of at most 100 each.
The plan and scenario files are written to a temporary folder and `drsctl rehearse PLAN --scenario S --json R` runs
in a subprocess (DRS's default quotas: 100 servers per job, 20 concurrent jobs, 500 servers in active jobs, per
account and Region). The report is then checked: COMPLETED, every server reported once with its account and Region,
launched once, each wave's jobs all started as the wave started and "Start wave recovery" entered once per wave (one
round), the overhead ratio at most 1.05, the per-account summary (300 launched each). Exits non-zero if any check
fails; prints the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DRSCTL = Path(sys.executable).parent / "drsctl"
ORCHESTRATOR = "111122223333"
MEMBERS = ["210000000001", "210000000002", "210000000003", "210000000004"]
REGIONS = ["us-east-1", "us-west-2"]
PER_ACCOUNT = 300
OVERHEAD_GOAL = 1.05
POINT_IN_TIME = "2025-12-31T23:45:00Z"  # the rehearsal's clock starts at 2026-01-01T00:00:00Z


def estate(layout: str) -> tuple[dict[str, Any], dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    waves: list[list[str]] = [[], []]
    per_target = PER_ACCOUNT // len(REGIONS)
    for a, account in enumerate(MEMBERS):
        for r, region in enumerate(REGIONS):
            ids = ["s-" + f"a{a}r{r}n{n:04d}".rjust(17, "0") for n in range(per_target)]
            servers += [
                {"id": s, "hostname": f"a{a}-{region}-{n}", "account": account, "region": region}
                for n, s in enumerate(ids)
            ]
            if layout == "spread":
                for number in (0, 1):
                    half = ids[number * per_target // 2 : (number + 1) * per_target // 2]
                    groups.append(
                        {
                            "GroupId": f"g{a}-{region}-{number}",
                            "Region": region,
                            "Account": account,
                            "SourceServerIds": half,
                        }
                    )
                    waves[number].append(f"g{a}-{region}-{number}")
            else:
                groups.append(
                    {"GroupId": f"g{a}-{region}", "Region": region, "Account": account, "SourceServerIds": ids}
                )
                waves[0 if a < len(MEMBERS) // 2 else 1].append(f"g{a}-{region}")
    plan = {
        "PlanId": f"estate-1200-{layout}",
        "Name": "1,200 servers over 4 member accounts",
        "ProtectionGroups": groups,
        "Waves": [{"WaveName": f"wave-{n + 1}", "ProtectionGroupIds": names} for n, names in enumerate(waves)],
    }
    scenario = {"accountId": ORCHESTRATOR, "accounts": [{"id": a} for a in MEMBERS], "seed": 3, "servers": servers}
    return plan, scenario


def problems_of(report: dict[str, Any], scenario: dict[str, Any]) -> list[str]:
    problems = []
    if report["status"] != "COMPLETED":
        problems.append(f"status {report['status']}: {report.get('errorMessage')}")
    servers = [server for wave in report["waves"] for server in wave["servers"]]
    where = {spec["id"]: (spec["account"], spec["region"]) for spec in scenario["servers"]}
    reported = Counter(server["sourceServerId"] for server in servers)
    if set(reported) != set(where) or max(reported.values()) != 1:
        problems.append("not every server reported exactly once")
    wrong = [s["sourceServerId"] for s in servers if (s.get("account"), s.get("region")) != where[s["sourceServerId"]]]
    if wrong:
        problems.append(f"{len(wrong)} servers reported in another account or Region than their own")
    if {s["status"] for s in servers} != {"LAUNCHED"} or report["launchesPerServerMax"] != 1:
        problems.append(
            f"launched: {Counter(s['status'] for s in servers)}, most launches {report['launchesPerServerMax']}"
        )
    for wave in report["waves"]:
        starts = {s["startedAt"] for s in wave["servers"]}
        if starts != {wave["startedAt"]}:
            problems.append(f"wave {wave['number']}: its jobs started at {sorted(starts)}, not in one round")
    entered = (report.get("stateCounts") or {}).get("Start wave recovery")
    if entered != len(report["waves"]):
        problems.append(f"'Start wave recovery' entered {entered} times for {len(report['waves'])} waves")
    if (report["overheadRatio"] or 99) > OVERHEAD_GOAL:
        problems.append(f"overhead {report['overheadRatio']} > {OVERHEAD_GOAL}")
    summary = {row["account"]: row["launched"] for row in report.get("accounts") or []}
    if summary != dict.fromkeys(MEMBERS, PER_ACCOUNT):
        problems.append(f"per-account summary {summary}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("spread", "halves"), default="spread")
    parser.add_argument("--point-in-time", action="store_true", help=f"recover to {POINT_IN_TIME}")
    arguments = parser.parse_args()
    plan, scenario = estate(arguments.layout)
    with tempfile.TemporaryDirectory() as folder:
        files = Path(folder)
        (files / "plan.yaml").write_text(yaml.safe_dump(plan))
        (files / "scenario.yaml").write_text(yaml.safe_dump(scenario))
        command = [str(DRSCTL), "rehearse", str(files / "plan.yaml"), "--scenario", str(files / "scenario.yaml")]
        command += ["--json", str(files / "report.json")]
        command += ["--point-in-time", POINT_IN_TIME] if arguments.point_in_time else []
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
        wall = time.perf_counter() - started
        if not (files / "report.json").exists():
            print(finished.stdout[-3000:], finished.stderr[-3000:])
            return 1
        report = json.loads((files / "report.json").read_text())
    problems = problems_of(report, scenario)
    if arguments.point_in_time and not all(
        s["recoverySnapshotId"] for wave in report["waves"] for s in wave["servers"]
    ):
        problems.append("a server launched without its point-in-time snapshot")
    jobs = [len(wave["jobIds"]) for wave in report["waves"]]
    columns = ["layout", "exit", "status", "overhead", "jobs per wave", "StartRecovery", "DRS calls", "events"]
    columns += ["max Lambda s", "most launches", "CLI wall s"]
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    print(
        f"{arguments.layout}{' (point in time)' if arguments.point_in_time else ''} | {finished.returncode} | "
        f"{report['status']} | {report['overheadRatio']:.4f} | {jobs} | {report['startRecoveryCalls']} | "
        f"{report['drsApiCalls']} | {report['historyEvents']} | {report['maxLambdaSeconds']:.2f} | "
        f"{report['launchesPerServerMax']} | {wall:.1f}"
    )
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems or finished.returncode != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
