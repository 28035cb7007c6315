"""`drsctl plan readiness PLAN_FILE --scenario S --json`: an estate with drift FAILs with each problem named on its
server with a fix (exit 1); a clean one has no finding but the never-drilled warning (exit 0); bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from drsctl.cli import app
from tests.conftest import server_id

SERVERS = [server_id(n, "cli") for n in range(8)]
STALLED, LAGGING, NO_SUBNET, NO_GROUP, NOT_OFFERED, NO_PROFILE, FINE, WEST = SERVERS
DRIFT = {
    "region": "us-east-1",
    "servers": [
        {"id": STALLED, "hostname": "db-1", "replication": "STALLED"},
        {"id": LAGGING, "hostname": "db-2", "lagSeconds": 7200},
        {"id": NO_SUBNET, "hostname": "app-1", "launchTemplate": {"subnetMissing": True}},
        {"id": NO_GROUP, "hostname": "app-2", "launchTemplate": {"securityGroupMissing": True}},
        {"id": NOT_OFFERED, "hostname": "web-1", "launchTemplate": {"instanceTypeNotOffered": True}},
        {"id": NO_PROFILE, "hostname": "web-2", "launchTemplate": {"instanceProfileMissing": True}},
        {"id": FINE, "hostname": "web-3"},
        {"id": WEST, "hostname": "west-1", "region": "us-west-2", "launchTemplate": {"instanceType": "m5.2xlarge"}},
    ],
    "capacity": {"us-west-2": {"vcpuLimit": 10, "vcpusInUse": 6}},
}
PLAN = {
    "PlanId": "drift",
    "Name": "Drift",
    "ProtectionGroups": [
        {"GroupId": "east", "Region": "us-east-1", "SourceServerIds": SERVERS[:7]},
        {"GroupId": "west", "Region": "us-west-2", "SourceServerIds": [WEST]},
    ],
    "Waves": [{"WaveName": "east", "ProtectionGroupId": "east"}, {"WaveName": "west", "ProtectionGroupId": "west"}],
    "Options": {"RpoTargetMinutes": 30},
}


def _files(tmp_path: Path, scenario: dict, plan: dict = PLAN) -> tuple[Path, Path]:
    plan_file, scenario_file = tmp_path / "plan.yaml", tmp_path / "scenario.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    scenario_file.write_text(yaml.safe_dump(scenario))
    return plan_file, scenario_file


def _run(*args: str):
    return CliRunner().invoke(app, ["plan", "readiness", *args])


def test_drift_fails_with_each_problem_named_on_its_server_and_a_fix(tmp_path):
    plan_file, scenario_file = _files(tmp_path, DRIFT)
    result = _run(str(plan_file), "--scenario", str(scenario_file), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "FAIL" and report["planId"] == "drift" and len(report["planVersion"]) == 12
    failing = {(f["code"], f["sourceServerId"] or f["region"]) for f in report["findings"] if f["severity"] == "FAIL"}
    assert {
        ("REPLICATION_NOT_HEALTHY", STALLED),
        ("LAG_OVER_RPO", LAGGING),
        ("LAUNCH_CONFIG_INVALID", NO_SUBNET),
        ("LAUNCH_CONFIG_INVALID", NO_GROUP),
        ("LAUNCH_CONFIG_INVALID", NOT_OFFERED),
        ("LAUNCH_CONFIG_INVALID", NO_PROFILE),
        ("CAPACITY_SHORT", "us-west-2"),
    } <= failing
    assert not any(server == FINE for _, server in failing)
    for finding in report["findings"]:
        assert finding["fix"] and finding["detail"]
        if finding["sourceServerId"]:
            assert finding["hostname"] and finding["region"] and finding["account"] == "111122223333"


def test_a_clean_estate_has_no_finding_but_the_never_drilled_warning(tmp_path):
    clean = {"region": "us-east-1", "servers": [{"id": s, "hostname": f"h{n}"} for n, s in enumerate(SERVERS[:7])]}
    clean["servers"].append({"id": WEST, "hostname": "west-1", "region": "us-west-2"})
    plan_file, scenario_file = _files(tmp_path, clean)
    result = _run(str(plan_file), "--scenario", str(scenario_file), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "WARN"
    assert [(f["code"], f["severity"]) for f in report["findings"]] == [("DRILL_OVERDUE", "WARN")]
    text = _run(str(plan_file), "--scenario", str(scenario_file))
    assert text.exit_code == 0 and "readiness WARN" in text.stdout and "DRILL_OVERDUE" in text.stdout


def test_invalid_input_exits_2_with_one_line_naming_the_fix(tmp_path):
    plan_file, scenario_file = _files(tmp_path, {"servers": [{"id": FINE, "hostname": "x", "capacity": 1}]})
    bad_scenario = _run(str(plan_file), "--scenario", str(scenario_file))
    assert bad_scenario.exit_code == 2 and "capacity" in bad_scenario.output
    plan_file, scenario_file = _files(tmp_path, DRIFT, {**PLAN, "Schedule": {"Expression": "every day"}})
    bad_plan = _run(str(plan_file), "--scenario", str(scenario_file))
    assert bad_plan.exit_code == 2 and "Schedule.Expression" in bad_plan.output
    no_scenario = _run(str(plan_file))
    assert no_scenario.exit_code == 2 and "--scenario" in no_scenario.output
    now_and_file = _run(str(plan_file), "--scenario", str(scenario_file), "--now")
    assert now_and_file.exit_code == 2 and "--now" in now_and_file.output
    assert _run("not a plan id!").exit_code == 2
