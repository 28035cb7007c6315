"""Rehearsals whose reports the report tests read, each rehearsed once per test session (per xdist worker).

- `example`: the bundled example (examples/plan.yaml, with RTO and RPO targets): 3 waves, 14 servers, COMPLETED.
- `critical_failure`: a CRITICAL wave fails (one database server's launch fails) after an approval and a wait ran
  before it; one of its servers replicates 30 minutes behind (RPO missed); later waves are SKIPPED.
- `large`: 2,000 servers in 2 waves of 1,000; three OPTIONAL servers fail (PARTIAL).
- `rejected`: the change board rejects the approval before the first wave, with a reason: nothing launches.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drsctl.commands.example_report import example_report
from drsctl.emulator import Scenario
from drsctl.local.run import rehearse
from drsctl.report import html
from lambdas.core.plan import RecoveryPlan
from tests.workflow.conftest import DB, three_tier_scenario, three_wave_plan, with_server_faults

LARGE_WAVES, LARGE_PER_WAVE = 2, 1_000
LARGE_FAILING = 3


def large_server_id(wave: int, index: int) -> str:
    return "s-" + f"w{wave:03d}n{index:05d}".rjust(17, "0")


def critical_failure_case() -> tuple[RecoveryPlan, Scenario]:
    scenario = with_server_faults(three_tier_scenario(), DB[1], ["launch_failure"])
    scenario["servers"][0]["lagSeconds"] = 1800  # db-0 replicates 30 minutes behind: recovered from an older point
    scenario["servers"][0]["hostname"] = "<b>db-0</b> & co"  # markup in user text must be shown as written
    plan = three_wave_plan(Options={"RtoTargetMinutes": 60, "RpoTargetMinutes": 15})
    plan["Waves"][0]["Before"] = [
        {"Name": "Fail over the databases?", "Approval": {"Message": "Go?", "TimeoutMinutes": 30}},
        {"Name": "Let replication settle", "Wait": {"Minutes": 2}},
    ]
    plan["Waves"][0]["WaveName"] = "db <script>alert(1)</script>"
    return RecoveryPlan.model_validate(plan), Scenario.model_validate(scenario)


def rejected_case() -> tuple[RecoveryPlan, Scenario]:
    plan = three_wave_plan(Options={"RtoTargetMinutes": 45, "RpoTargetMinutes": 15})
    plan["Waves"][0]["Before"] = [
        {"Name": "Change board", "Approval": {"Message": "Fail the databases over?", "TimeoutMinutes": 60}}
    ]
    scenario = three_tier_scenario(approvals=[{"decision": "REJECT", "afterSeconds": 300}])
    return RecoveryPlan.model_validate(plan), Scenario.model_validate(scenario)


def large_case() -> tuple[RecoveryPlan, Scenario]:
    servers: list[dict[str, Any]] = []
    groups, waves = [], []
    for wave in range(1, LARGE_WAVES + 1):
        ids = [large_server_id(wave, index) for index in range(LARGE_PER_WAVE)]
        servers += [{"id": s, "hostname": f"w{wave}-{n}"} for n, s in enumerate(ids)]
        groups.append({"GroupId": f"g{wave}", "Region": "us-east-1", "SourceServerIds": ids})
        waves.append({"WaveName": f"tier-{wave}", "ProtectionGroupId": f"g{wave}"})
    failing = [large_server_id(LARGE_WAVES, index) for index in range(LARGE_FAILING)]
    for spec in servers:
        if spec["id"] in failing:
            spec["faults"] = ["launch_failure"]
    waves[-1]["ServerImpact"] = dict.fromkeys(failing, "OPTIONAL")
    scenario = Scenario.model_validate(
        {
            "region": "us-east-1",
            "seed": 3,
            "quotas": {"maxServersPerJob": 100, "maxConcurrentJobs": 20, "maxServersInActiveJobs": 1000},
            "timing": {"drill": {"snapshot": 1, "preparation": 60, "conversion": 240, "launch": 300}, "jitter": 0.05},
            "servers": servers,
        }
    )
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "estate-2000",
            "Name": "The whole estate",
            "ProtectionGroups": groups,
            "Waves": waves,
            "Options": {"MaxServersInActiveJobs": 1000, "RtoTargetMinutes": 30, "RpoTargetMinutes": 15},
        }
    )
    return plan, scenario


def shared(factory: pytest.TempPathFactory, name: str, make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A report made once per test run, whichever xdist worker asks first (the others wait and read its file)."""
    # Shared by the xdist workers of one run (their base temps are siblings); without xdist the base temp itself,
    # whose parent outlives the run and would serve a report made by older code.
    base = factory.getbasetemp()
    folder = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = folder / f"report-{name}.json"
    with (folder / f"report-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            path.write_text(json.dumps(make()))
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def _rehearsed(case: Callable[[], tuple[RecoveryPlan, Scenario]]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        plan, scenario = case()
        return rehearse(plan, scenario, "DRILL").to_dict()

    return make


@pytest.fixture(scope="session")
def example(tmp_path_factory) -> dict[str, Any]:
    return shared(tmp_path_factory, "example", example_report)


@pytest.fixture(scope="session")
def critical_failure(tmp_path_factory) -> dict[str, Any]:
    return shared(tmp_path_factory, "critical-failure", _rehearsed(critical_failure_case))


@pytest.fixture(scope="session")
def rejected(tmp_path_factory) -> dict[str, Any]:
    return shared(tmp_path_factory, "rejected", _rehearsed(rejected_case))


@pytest.fixture(scope="session")
def large(tmp_path_factory) -> dict[str, Any]:
    return shared(tmp_path_factory, "large", _rehearsed(large_case))


def with_cleanup(report: dict[str, Any]) -> dict[str, Any]:
    """The report as a build with drill cleanup and HealthCheck steps writes it (the fields other builders add)."""
    changed = copy.deepcopy(report)
    launched = [s["recoveryInstanceId"] for w in changed["waves"] for s in w["servers"] if s["recoveryInstanceId"]]
    end = changed["makespanSeconds"]
    changed["cleanup"] = {
        "status": "COMPLETED",
        "terminated": launched,
        "jobIds": ["drsjob-00000000000cleanup"],
        "startedAt": end + 600,
        "endedAt": end + 660,
    }
    changed["resumedFrom"] = "drill-2026-11-28-first-try"
    changed["waves"][0]["steps"].append(
        {
            "phase": "AFTER",
            "kind": "HealthCheck",
            "name": "Instances pass their status checks",
            "status": "SUCCEEDED",
            "startedAt": changed["waves"][0]["endedAt"],
            "endedAt": changed["waves"][0]["endedAt"] + 90,
            "detail": "4 of 4 instances healthy",
            "decidedBy": None,
        }
    )
    return changed


def write_page(report: dict[str, Any], folder: Path, name: str) -> Path:
    (folder / f"{name}.json").write_text(json.dumps(report))
    page = folder / f"{name}.html"
    page.write_text(html.render(report))
    return page
