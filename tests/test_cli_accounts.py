"""Member accounts and point-in-time recovery as an operator meets them: `drsctl rehearse --json` and `drsctl plan
validate` on plan and scenario files (the formats of docs/plan-format.md and docs/emulator.md), read from the exit
code, the output and the JSON report. The 1,200-server estate itself is measured by bench/accounts_estate.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from drsctl.cli import app
from drsctl.clock import parse_iso8601
from tests.conftest import server_id

OWN = "111122223333"
MEMBERS = ["210000000001", "210000000002", "210000000003", "210000000004"]
REGIONS = ["us-east-1", "us-west-2"]
START = parse_iso8601("2026-01-01T00:00:00Z")  # the rehearsal's clock starts here
SNAPSHOT_EVERY = 600  # the emulator's recovery snapshots: every 10 minutes on a grid aligned to the epoch
PER_TARGET = 10  # servers per (account, Region): 20 per account, 80 in all
# DRS's typical drill job (about 9 minutes, docs/architecture.md), the same for every server
EXACT = {"drill": {"snapshot": 1, "preparation": 50, "conversion": 200, "launch": 300}, "jitter": 0}


@pytest.fixture(autouse=True)
def piped(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)


def write(folder: Path, name: str, content: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(content))
    return path


def member_estate(**member: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """80 servers over 4 member accounts x 2 Regions (10 per account and Region), in 2 waves of 40 that span every
    account and Region. Each account allows 10 servers in active jobs of at most 5 (Options.Quotas; the scenario's
    quotas the same): one account alone would need four rounds of jobs for a wave, spread out the wave needs one."""
    servers: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    waves: list[list[str]] = [[], []]
    for a, account in enumerate(MEMBERS):
        for r, region in enumerate(REGIONS):
            ids = [server_id(n, f"a{a}r{r}x") for n in range(PER_TARGET)]
            servers += [
                {"id": s, "hostname": f"a{a}-{region}-{n}", "account": account, "region": region}
                for n, s in enumerate(ids)
            ]
            for number in (0, 1):
                half = ids[number * PER_TARGET // 2 : (number + 1) * PER_TARGET // 2]
                group = f"g{a}-{region}-{number}"
                groups.append({"GroupId": group, "Region": region, "Account": account, "SourceServerIds": half})
                waves[number].append(group)
    quotas = {"maxServersPerJob": 5, "maxConcurrentJobs": 20, "maxServersInActiveJobs": 10}
    scenario = {
        "accountId": OWN,
        "accounts": [{"id": account, **(member if account == MEMBERS[1] else {})} for account in MEMBERS],
        "seed": 5,
        "quotas": quotas,
        "timing": EXACT,
        "servers": servers,
    }
    plan = {
        "PlanId": "estate",
        "Name": "Estate over four accounts",
        "ProtectionGroups": groups,
        "Waves": [{"WaveName": f"wave-{n + 1}", "ProtectionGroupIds": names} for n, names in enumerate(waves)],
        "Options": {
            "Quotas": {account: {"MaxServersPerJob": 5, "MaxServersInActiveJobs": 10} for account in MEMBERS},
        },
    }
    return plan, scenario


def rehearse(folder: Path, plan: dict[str, Any], scenario: dict[str, Any], *extra: str) -> tuple[Any, dict[str, Any]]:
    report = folder / "report.json"
    result = CliRunner().invoke(
        app,
        [
            "rehearse",
            str(write(folder, "plan.yaml", plan)),
            "--scenario",
            str(write(folder, "scenario.yaml", scenario)),
            "--json",
            str(report),
            *extra,
        ],
    )
    return result, json.loads(report.read_text()) if report.exists() else {}


def servers_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [server for wave in report["waves"] for server in wave["servers"]]


def test_waves_over_four_member_accounts_launch_each_server_once_in_one_round_of_jobs_per_wave(tmp_path):
    plan, scenario = member_estate()
    result, report = rehearse(tmp_path, plan, scenario)
    assert result.exit_code == 0, result.output
    assert report["status"] == "COMPLETED"
    servers = servers_of(report)
    assert len(servers) == len({s["sourceServerId"] for s in servers}) == 80
    expected = {spec["id"]: (spec["account"], spec["region"]) for spec in scenario["servers"]}
    assert {s["sourceServerId"]: (s["account"], s["region"]) for s in servers} == expected
    assert {s["status"] for s in servers} == {"LAUNCHED"} and report["launchesPerServerMax"] == 1
    for wave in report["waves"]:  # one job per (account, Region), all started as the wave started: one round
        assert len(wave["jobIds"]) == len(MEMBERS) * len(REGIONS)
        assert {s["startedAt"] for s in wave["servers"]} == {wave["startedAt"]}
    assert report["startRecoveryCalls"] == 2 * len(MEMBERS) * len(REGIONS)  # none refused, none retried
    assert report["stateCounts"]["Start wave recovery"] == 2  # each wave started in one step: no capacity wait
    assert report["overheadRatio"] <= 1.05
    summary = {row["account"]: row for row in report["accounts"]}  # the per-account summary
    assert sorted(summary) == MEMBERS
    assert all((row["servers"], row["launched"], row["failed"]) == (20, 20, 0) for row in summary.values())
    assert all(row["regions"] == REGIONS for row in summary.values())


def test_an_account_whose_role_cannot_be_assumed_is_refused_before_any_launch_naming_account_role_and_fix(tmp_path):
    plan, scenario = member_estate(assumable=False)
    result, report = rehearse(tmp_path, plan, scenario)
    assert result.exit_code == 2, result.output
    refused = MEMBERS[1]
    output = " ".join(result.output.split())
    assert f"account {refused}: the member role arn:aws:iam::{refused}:role/drs-orchestrator-member could not" in output
    assert "make deploy-member" in output and "drs:memberAccounts" in output  # the fix
    assert not any(f"account {other}:" in output for other in MEMBERS if other != refused)
    assert report["startRecoveryCalls"] == 0 and report["stepFunctionsError"] == "PlanValidationError"


def test_point_in_time_launches_every_server_from_its_newest_snapshot_at_or_before_it(tmp_path):
    plan, scenario = member_estate()
    scenario["servers"][3]["lagSeconds"] = 900  # its newest snapshots are 15 minutes behind the others'
    moment = "2025-12-31T23:47:30Z"  # between two snapshots: 23:40 is the newest at or before it
    result, report = rehearse(tmp_path, plan, scenario, "--point-in-time", moment)
    assert result.exit_code == 0, result.output
    assert report["pointInTime"] == moment and report["snapshotSkewSeconds"] == 0
    newest = (parse_iso8601(moment) // SNAPSHOT_EVERY) * SNAPSHOT_EVERY
    servers = servers_of(report)
    assert {START + s["recoveryPointAt"] for s in servers} == {newest}  # at or before the moment, the newest
    assert all(s["recoverySnapshotId"] for s in servers)
    assert len({s["recoverySnapshotId"] for s in servers}) == len(servers)  # each server's own snapshot


def test_point_in_time_refusals_name_the_servers_and_the_fix(tmp_path):
    plan, scenario = member_estate()
    lagging = [scenario["servers"][0]["id"], scenario["servers"][25]["id"]]
    for spec in scenario["servers"]:
        if spec["id"] in lagging:
            spec["lagSeconds"] = 3600  # their snapshots an hour behind the others'
    scenario["servers"][7]["lagSeconds"] = 100_000  # no snapshot at all
    result, _ = rehearse(tmp_path, plan, scenario, "--point-in-time", "2026-01-01T00:00:00Z")
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert f"no recovery snapshot taken at or before it for server(s) {scenario['servers'][7]['id']}" in output
    assert "60 min apart, more than Options.MaxSnapshotSkewMinutes (15)" in output
    assert f"server(s) {', '.join(sorted(lagging))} lag more than 15 min" in output
    future, report = rehearse(tmp_path, plan, member_estate()[1], "--point-in-time", "2026-01-01T01:00:00Z")
    assert future.exit_code == 2 and "is after the execution's start" in " ".join(future.output.split())
    assert report["startRecoveryCalls"] == 0


@pytest.mark.parametrize(
    ("moment", "says"),
    [
        (
            "yesterday",
            "--point-in-time: 'yesterday' is not an ISO 8601 date and time; write it as 2026-01-01T03:00:00Z",
        ),
        ("2025-12-31T23:00:00", "--point-in-time: '2025-12-31T23:00:00' must be in UTC: end it with Z"),
        ("2025-12-31T23:00:00+01:00", "--point-in-time: '2025-12-31T23:00:00+01:00' must be in UTC: end it with Z"),
    ],
)
def test_a_point_in_time_that_is_not_an_iso_8601_utc_moment_is_one_line_and_exit_2(tmp_path, moment, says):
    plan, scenario = member_estate()
    result, report = rehearse(tmp_path, plan, scenario, "--point-in-time", moment)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {says}" + result.output.strip().split(says, 1)[1]]
    assert report == {}  # refused before the rehearsal ran


def test_plan_validate_says_an_account_holds_more_than_300_servers_without_asking_drs(tmp_path, monkeypatch):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    ids = [server_id(n, "big") for n in range(301)]
    plan = {
        "PlanId": "big",
        "Name": "Too many for one account",
        "ProtectionGroups": [
            {"GroupId": "a", "Region": "us-east-1", "Account": MEMBERS[0], "SourceServerIds": ids[:150]},
            {"GroupId": "b", "Region": "us-east-1", "Account": MEMBERS[0], "SourceServerIds": ids[150:]},
            {"GroupId": "c", "Region": "us-west-2", "Account": MEMBERS[1], "SourceServerIds": [server_id(0, "c")]},
        ],
        "Waves": [{"WaveName": "one", "ProtectionGroupIds": ["a", "c"]}, {"WaveName": "two", "ProtectionGroupId": "b"}],
    }
    result = CliRunner().invoke(app, ["plan", "validate", str(write(tmp_path, "plan.yaml", plan))])
    output = " ".join(result.output.split())
    assert (
        f"warning: plan 'big': 301 of its servers are in account {MEMBERS[0]}, us-east-1, more than the 300" in output
    )
    assert MEMBERS[1] not in output  # the account within DRS's limit is not named
    assert result.exit_code == 2 and "no AWS credentials found" in output  # DRS could not be asked: said after


@pytest.mark.parametrize(
    ("account", "says"),
    [
        ("4444", "ProtectionGroups.0.Account: should be a 12-digit AWS account ID"),
        (
            444455556666,
            "ProtectionGroups.0.Account: should be a 12-digit AWS account ID written as text, not 444455556666: put "
            "it in quotes",
        ),
    ],
)
def test_a_bad_account_is_refused_naming_the_field_and_the_fix(tmp_path, account, says):
    plan = {
        "PlanId": "p",
        "Name": "p",
        "ProtectionGroups": [
            {"GroupId": "g", "Region": "us-east-1", "Account": account, "SourceServerIds": [server_id(1)]}
        ],
        "Waves": [{"WaveName": "w", "ProtectionGroupId": "g"}],
    }
    result = CliRunner().invoke(app, ["plan", "validate", str(write(tmp_path, "plan.yaml", plan))])
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())
