"""A rehearsal replays exactly: the same plan, scenario and options give the same report (every time and count; wall
times aside), however many faults the scenario injects (docs/rehearsal.md, "Replays")."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import BIN, HANG
from tests.workflow.conftest import APP, three_tier_scenario, three_wave_plan, with_server_faults

# The report's wall-clock fields: how long this machine took and when it wrote the report, not what the rehearsal did.
WALL_FIELDS = ("wallSeconds", "maxLambdaSeconds", "maxLambdaVirtualSeconds", "generatedAt")


def storms() -> dict[str, Any]:
    """Throttling and 5xx storms on every DRS operation the workflow calls, by count and by time window (the SDK's
    retries and Step Functions' Retry both back off with jitter), a CRITICAL launch failure, runbook steps, a health
    check, the drill cleanup, and timing jitter."""
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    scenario["timing"] = {**scenario["timing"], "jitter": 0.1}
    scenario["faults"] = [
        {"operation": "DescribeSourceServers", "error": "ThrottlingException", "count": 5},
        {"operation": "StartRecovery", "error": "ThrottlingException", "count": 3},
        {"operation": "DescribeJobs", "error": "ThrottlingException", "after": 300, "seconds": 400},
        {"operation": "DescribeInstanceStatus", "error": "RequestLimitExceeded", "count": 4},
        {"operation": "*", "error": "InternalServerException", "after": 1500, "seconds": 200},
        {"operation": "TerminateRecoveryInstances", "error": "ThrottlingException", "count": 4},
    ]
    scenario["functions"] = {"drs-hook-promote": {"seconds": 30}}
    scenario["approvals"] = [{"wave": "app", "decision": "APPROVE", "afterSeconds": 120}]
    return scenario


def storm_plan() -> dict[str, Any]:
    plan = three_wave_plan(Options={"DrillCleanup": {"AfterMinutes": 5, "OnFailure": "KEEP"}})
    plan["Waves"][0]["Before"] = [{"Name": "Promote", "Lambda": {"FunctionName": "drs-hook-promote"}}]
    plan["Waves"][0]["After"] = [{"Name": "Databases healthy", "HealthCheck": {}}]
    plan["Waves"][1]["Before"] = [{"Approval": {"Message": "Go on?", "TimeoutMinutes": 30}}]
    return plan


def rehearse(folder: Path, run: int) -> tuple[dict[str, Any], list[str]]:
    """`drsctl rehearse --resume --json` in its own process (its own hash seed): (report, printed lines but wall)."""
    report = folder / f"report-{run}.json"
    result = subprocess.run(
        [
            BIN / "drsctl",
            "rehearse",
            folder / "plan.yaml",
            "--scenario",
            folder / "scenario.yaml",
            "--resume",
            "--json",
            report,
        ],
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
        env={**os.environ, "COLUMNS": "200", "PYTHONHASHSEED": str(run)},
    )
    assert result.returncode in (0, 1), result.stderr
    figures = json.loads(report.read_text())
    for name in WALL_FIELDS:
        figures.pop(name)
    lines = [line for line in result.stdout.splitlines() if "wall" not in line and "report written" not in line]
    return figures, lines


def test_a_faulted_rehearsal_replays_exactly(tmp_path):
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(storm_plan()))
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(storms()))
    first, printed = rehearse(tmp_path, 1)
    for run in (2, 3):
        again, printed_again = rehearse(tmp_path, run)
        assert again == first
        assert printed_again == printed
