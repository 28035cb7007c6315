"""`drsctl plan readiness PLAN_FILE --scenario S --json`: an estate with drift FAILs with each problem named on its
server with a fix (exit 1); a clean one has no finding but the never-drilled warning (exit 0); bad input exits 2. The
JSON is valid against docs/readiness.schema.json. A plan over member accounts is read in each account through its
member role: the findings carry the account, and an account whose role cannot be assumed is a finding naming the
role and the fix, the others evaluated as usual."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.commands.readiness import show
from tests.conftest import server_id

ROOT = Path(__file__).resolve().parents[2]
OWN, MEMBER, LOCKED_OUT = "111122223333", "444455556666", "777788889999"
SERVERS = [server_id(n, "cli") for n in range(8)]
STALLED, LAGGING, NO_SUBNET, NO_GROUP, NOT_OFFERED, NO_PROFILE, FINE, WEST = SERVERS
MEMBER_STALLED, MEMBER_FINE, UNREACHABLE = (server_id(n, "member") for n in range(3))
DRIFT = {
    "region": "us-east-1",
    "accountId": OWN,
    "accounts": [{"id": MEMBER}, {"id": LOCKED_OUT, "assumable": False}],
    "servers": [
        {"id": STALLED, "hostname": "db-1", "replication": "STALLED"},
        {"id": LAGGING, "hostname": "db-2", "lagSeconds": 7200},
        {"id": NO_SUBNET, "hostname": "app-1", "launchTemplate": {"subnetMissing": True}},
        {"id": NO_GROUP, "hostname": "app-2", "launchTemplate": {"securityGroupMissing": True}},
        {"id": NOT_OFFERED, "hostname": "web-1", "launchTemplate": {"instanceTypeNotOffered": True}},
        {"id": NO_PROFILE, "hostname": "web-2", "launchTemplate": {"instanceProfileMissing": True}},
        {"id": FINE, "hostname": "web-3"},
        {"id": WEST, "hostname": "west-1", "region": "us-west-2", "launchTemplate": {"instanceType": "m5.2xlarge"}},
        # member accounts: one reached through its role (a stalled server and a fine one), one whose role is refused
        {"id": MEMBER_STALLED, "hostname": "member-db", "account": MEMBER, "replication": "STALLED"},
        {"id": MEMBER_FINE, "hostname": "member-app", "account": MEMBER},
        {"id": UNREACHABLE, "hostname": "locked-out", "account": LOCKED_OUT},
    ],
    "capacity": {"us-west-2": {"vcpuLimit": 10, "vcpusInUse": 6}},
}
PLAN = {
    "PlanId": "drift",
    "Name": "Drift",
    "ProtectionGroups": [
        {"GroupId": "east", "Region": "us-east-1", "SourceServerIds": SERVERS[:7]},
        {"GroupId": "west", "Region": "us-west-2", "SourceServerIds": [WEST]},
        {
            "GroupId": "member",
            "Region": "us-east-1",
            "Account": MEMBER,
            "SourceServerIds": [MEMBER_STALLED, MEMBER_FINE],
        },
        {"GroupId": "locked", "Region": "us-east-1", "Account": LOCKED_OUT, "SourceServerIds": [UNREACHABLE]},
    ],
    "Waves": [
        {"WaveName": "east", "ProtectionGroupId": "east"},
        {"WaveName": "west", "ProtectionGroupId": "west"},
        {"WaveName": "members", "ProtectionGroupIds": ["member", "locked"]},
    ],
    "Options": {"RpoTargetMinutes": 30},
}


def _files(tmp_path: Path, scenario: dict, plan: dict = PLAN) -> tuple[Path, Path]:
    plan_file, scenario_file = tmp_path / "plan.yaml", tmp_path / "scenario.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    scenario_file.write_text(yaml.safe_dump(scenario))
    return plan_file, scenario_file


def _run(*args: str):
    return CliRunner().invoke(app, ["plan", "readiness", *args])


def _valid(report: dict) -> dict:
    schema = json.loads((ROOT / "docs" / "readiness.schema.json").read_text())
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(report)]
    assert errors == [], errors
    return report


def test_drift_fails_with_each_problem_named_on_its_server_and_a_fix(tmp_path):
    plan_file, scenario_file = _files(tmp_path, DRIFT)
    result = _run(str(plan_file), "--scenario", str(scenario_file), "--json")
    assert result.exit_code == 1, result.output
    report = _valid(json.loads(result.stdout))
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
    assert not any(server in (FINE, MEMBER_FINE) for _, server in failing)
    for finding in report["findings"]:
        assert finding["fix"] and finding["detail"]
        if finding["sourceServerId"]:
            assert finding["hostname"] and finding["region"] and finding["account"]
            assert finding["sourceServerId"] in finding["detail"]
    on_server = {(f["code"], f["sourceServerId"]): f for f in report["findings"] if f["sourceServerId"]}
    assert "subnet" in on_server["LAUNCH_CONFIG_INVALID", NO_SUBNET]["detail"]
    assert "security group" in on_server["LAUNCH_CONFIG_INVALID", NO_GROUP]["detail"]
    assert "not offered" in on_server["LAUNCH_CONFIG_INVALID", NOT_OFFERED]["detail"]
    assert "instance profile" in on_server["LAUNCH_CONFIG_INVALID", NO_PROFILE]["detail"]
    assert "PT2H" in on_server["LAG_OVER_RPO", LAGGING]["detail"]
    assert "STALLED" in on_server["REPLICATION_NOT_HEALTHY", STALLED]["detail"]

    # each finding in the account its server is in: the member account's read through its role
    accounts = {f["sourceServerId"]: f["account"] for f in report["findings"] if f["sourceServerId"]}
    assert accounts[STALLED] == OWN and accounts[MEMBER_STALLED] == MEMBER
    assert ("REPLICATION_NOT_HEALTHY", MEMBER_STALLED) in failing
    # the account whose role cannot be assumed: one finding on it, naming the role and how to let the stack in
    (locked,) = [f for f in report["findings"] if f["account"] == LOCKED_OUT]
    assert locked["severity"] == "FAIL" and locked["region"] == "us-east-1" and locked["sourceServerId"] is None
    assert f"arn:aws:iam::{LOCKED_OUT}:role/drs-orchestrator-member" in locked["detail"]
    assert "could not be assumed" in locked["detail"] and "member stack" in locked["fix"]


def test_a_clean_estate_has_no_finding_but_the_never_drilled_warning(tmp_path, capsys):
    clean = {"region": "us-east-1", "servers": [{"id": s, "hostname": f"h{n}"} for n, s in enumerate(SERVERS[:7])]}
    clean["servers"].append({"id": WEST, "hostname": "west-1", "region": "us-west-2"})
    plan = {**PLAN, "ProtectionGroups": PLAN["ProtectionGroups"][:2], "Waves": PLAN["Waves"][:2]}
    plan_file, scenario_file = _files(tmp_path, clean, plan)
    result = _run(str(plan_file), "--scenario", str(scenario_file), "--json")
    assert result.exit_code == 0, result.output
    report = _valid(json.loads(result.stdout))
    assert report["status"] == "WARN"
    assert [(f["code"], f["severity"]) for f in report["findings"]] == [("DRILL_OVERDUE", "WARN")]
    assert "never drilled" in report["findings"][0]["detail"]
    show(report)  # what the command prints without --json
    text = capsys.readouterr().out
    assert "readiness WARN" in text and "DRILL_OVERDUE" in text and "fix: run a drill" in text


@pytest.mark.parametrize(
    ("scenario", "named"),
    [
        ({"servers": [{"id": FINE, "hostname": "x", "capacity": 1}]}, "servers.0.capacity"),
        ({"servers": [{"id": FINE, "hostname": "x", "launchTemplate": {"subnetMising": True}}]}, "subnetMising"),
        ({"servers": [{"id": FINE, "hostname": "x"}], "capacity": {"us-east-1": {"vcpuLimt": 4}}}, "vcpuLimt"),
    ],
)
def test_a_bad_scenario_key_exits_2_naming_the_field(tmp_path, scenario, named):
    plan_file, scenario_file = _files(tmp_path, scenario)
    refused = _run(str(plan_file), "--scenario", str(scenario_file), "--json")
    assert refused.exit_code == 2 and named in refused.output and refused.stdout == ""


def test_invalid_input_exits_2_with_one_line_naming_the_fix(tmp_path):
    plan_file, scenario_file = _files(tmp_path, DRIFT, {**PLAN, "Schedule": {"Expression": "every day"}})
    bad_plan = _run(str(plan_file), "--scenario", str(scenario_file))
    assert bad_plan.exit_code == 2 and "Schedule.Expression" in bad_plan.output
    no_scenario = _run(str(plan_file))
    assert no_scenario.exit_code == 2 and "--scenario" in no_scenario.output
    now_and_file = _run(str(plan_file), "--scenario", str(scenario_file), "--now")
    assert now_and_file.exit_code == 2 and "--now" in now_and_file.output
    missing = _run(str(tmp_path / "none.yaml"), "--scenario", str(scenario_file))
    assert missing.exit_code == 2 and "not found" in missing.output
    assert _run("not a plan id!").exit_code == 2
