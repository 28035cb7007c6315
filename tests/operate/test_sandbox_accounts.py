"""Member accounts and point-in-time recovery in `drsctl sandbox`: moto's STS gives the Lambdas the member role's
credentials, the emulator answers in that account, and `drsctl run start --point-in-time` recovers to a moment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drsctl.clock import iso8601, parse_iso8601
from tests.conftest import server_id
from tests.operate.conftest import SPEED, SandboxProcess, wait_until

MEMBER = "444455556666"
HOME = [server_id(n, "home") for n in range(2)]
MEM = [server_id(n, "mem") for n in range(2)]


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxProcess, Path]]:
    folder = tmp_path_factory.mktemp("estate")
    scenario = {
        "accounts": [{"id": MEMBER}],
        "timing": {"drill": {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}, "jitter": 0},
        "servers": [{"id": s, "hostname": f"home-{n}"} for n, s in enumerate(HOME)]
        + [{"id": s, "hostname": f"mem-{n}", "account": MEMBER, "region": "us-west-2"} for n, s in enumerate(MEM)],
    }
    plan = {
        "PlanId": "estate",
        "Name": "Estate",
        "ProtectionGroups": [
            {"GroupId": "home", "Region": "us-east-1", "SourceServerIds": HOME},
            {"GroupId": "mem", "Region": "us-west-2", "Account": MEMBER, "SourceServerIds": MEM},
        ],
        "Waves": [{"WaveName": "both", "ProtectionGroupIds": ["home", "mem"]}],
    }
    (folder / "scenario.yaml").write_text(yaml.safe_dump(scenario))
    (folder / "plan.yaml").write_text(yaml.safe_dump(plan))
    running = SandboxProcess("--speed", str(SPEED), "--scenario", str(folder / "scenario.yaml"))
    try:
        yield running, folder / "plan.yaml"
        running.interrupt()
    finally:
        running.stop()


def test_a_point_in_time_drill_over_a_member_account_in_the_sandbox(estate):
    sandbox, plan = estate
    loaded = sandbox.drsctl("plan", "load", str(plan))
    assert loaded.exit_code == 0, loaded.output
    refused = sandbox.drsctl("run", "start", "estate", "--point-in-time", "yesterday")
    assert refused.exit_code == 2 and "--point-in-time: 'yesterday' is not an ISO 8601" in refused.output
    # a moment of the sandbox's clock (which runs ahead of the wall clock): 20 minutes before the newest snapshot
    snapshots = sandbox.client("drs").describe_recovery_snapshots(sourceServerID=HOME[0], order="DESC", maxResults=3)
    moment = snapshots["items"][2]["timestamp"]
    started = sandbox.drsctl("run", "start", "estate", "--name", "pit-1", "--point-in-time", moment)
    assert started.exit_code == 0, started.output
    watched = sandbox.drsctl("run", "watch", "pit-1", "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    shown = json.loads(sandbox.drsctl("run", "show", "pit-1", "--json").output)
    assert shown["Record"]["PointInTime"] == int(parse_iso8601(moment))
    (wave,) = shown["Waves"]
    where = {server["SourceServerId"]: (server.get("Account"), server.get("Region")) for server in wave["Servers"]}
    assert where == {
        **{s: ("111122223333", "us-east-1") for s in HOME},
        **{s: (MEMBER, "us-west-2") for s in MEM},
    }
    assert all(server.get("RecoveryPointTime") == int(parse_iso8601(moment)) for server in wave["Servers"])
    # the member's recovery instances are in its account only: the orchestrator's credentials do not see them
    own = sandbox.client("drs", "us-west-2").describe_recovery_instances()["items"]
    assert own == []


def test_report_and_cleanup_of_a_member_account_drill_from_the_cli(estate, tmp_path):
    """The report the stack keeps is built by its function, which reaches the member account. The CLI's credentials
    cannot assume a member role (it trusts only the stack's functions): a report `run report` builds itself is built
    all the same and says what it could not read there and why; `run cleanup` refuses the whole drill, naming the
    account, its role and its instances, and terminates nothing in any account."""
    sandbox, plan = estate
    assert sandbox.drsctl("plan", "load", str(plan)).exit_code == 0
    assert sandbox.drsctl("run", "start", "estate", "--name", "cli-1").exit_code == 0
    watched = sandbox.drsctl("run", "watch", "cli-1", "--interval", "0.2")
    assert watched.exit_code == 0, watched.output

    def kept_report() -> dict[str, Any] | None:
        result = sandbox.drsctl("run", "report", "cli-1", "--json", str(tmp_path / "kept.json"))
        assert result.exit_code == 0, result.output
        return (
            json.loads((tmp_path / "kept.json").read_text()) if "the report the stack kept" in result.output else None
        )

    kept = wait_until(kept_report, "the report the stack keeps at the execution's end")
    assert all(server["startedAt"] is not None for wave in kept["waves"] for server in wave["servers"])
    assert not [w for w in kept["warnings"] if "could not read" in w]
    # built by the CLI itself (--started-by: the kept report is not used)
    reported = sandbox.drsctl(
        "run", "report", "cli-1", "--started-by", "alice", "--json", str(tmp_path / "report.json")
    )
    assert reported.exit_code == 0, reported.output
    report = json.loads((tmp_path / "report.json").read_text())
    servers = {server["sourceServerId"]: server for wave in report["waves"] for server in wave["servers"]}
    assert {s: servers[s]["account"] for s in HOME + MEM} == {
        **dict.fromkeys(HOME, "111122223333"),
        **dict.fromkeys(MEM, MEMBER),
    }
    assert {servers[s]["status"] for s in HOME + MEM} == {"LAUNCHED"}  # the records' statuses stand
    assert all(servers[s]["startedAt"] is not None for s in HOME)  # read in the account the CLI reaches
    assert all(servers[s]["startedAt"] is None for s in MEM)  # not guessed
    (note,) = [w for w in report["warnings"] if MEMBER in w]
    assert f"could not read DRS in account {MEMBER}, us-west-2" in note
    assert f"arn:aws:iam::{MEMBER}:role/drs-orchestrator-member" in note and "AccessDenied" in note
    home_instances = [i["recoveryInstanceID"] for i in sandbox.client("drs").describe_recovery_instances()["items"]]
    assert {servers[s]["recoveryInstanceId"] for s in HOME} <= set(home_instances)

    refused = sandbox.drsctl("run", "cleanup", "cli-1")
    assert refused.exit_code == 2, refused.output
    message = " ".join(refused.output.split())
    assert f"account {MEMBER}" in message and f"arn:aws:iam::{MEMBER}:role/drs-orchestrator-member" in message
    assert all(servers[s]["recoveryInstanceId"] in message for s in MEM)
    assert "Nothing was terminated" in message and "Options.DrillCleanup" in message
    still = [i["recoveryInstanceID"] for i in sandbox.client("drs").describe_recovery_instances()["items"]]
    assert sorted(still) == sorted(home_instances)  # the reachable account's drill instances were left alone too
    shown = json.loads(sandbox.drsctl("run", "show", "cli-1", "--json").output)
    assert shown["Record"].get("Cleanup") is None  # the record is unchanged


def test_run_start_refuses_a_future_point_in_time_and_a_resume_keeps_the_first_ones(estate, tmp_path):
    """Before anything starts: a moment after the stack's now (its clock: the sandbox's) is refused, and so is a
    resume to another moment than the execution it resumes; a resume without one keeps the first execution's."""
    sandbox, estate_plan = estate
    # the estate, its wave behind a 10-minute wait: cancelled there, before any launch
    waiting = yaml.safe_load(estate_plan.read_text())
    waiting["Waves"][0]["Before"] = [{"Name": "window", "Wait": {"Minutes": 10}}]
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({**waiting, "PlanId": "estate-wait"}))
    assert sandbox.drsctl("plan", "load", str(plan)).exit_code == 0
    snapshots = sandbox.client("drs").describe_recovery_snapshots(sourceServerID=HOME[0], order="DESC", maxResults=2)
    newest = parse_iso8601(snapshots["items"][0]["timestamp"])
    future = iso8601(newest + 7200)
    refused = sandbox.drsctl("run", "start", "estate-wait", "--name", "pit-future", "--point-in-time", future)
    assert refused.exit_code == 2, refused.output
    assert f"--point-in-time {future} is in the future" in " ".join(refused.output.split())
    assert sandbox.drsctl("run", "show", "pit-future").exit_code == 2  # nothing was started
    moment = snapshots["items"][1]["timestamp"]
    started = sandbox.drsctl("run", "start", "estate-wait", "--name", "pit-2", "--point-in-time", moment)
    assert started.exit_code == 0, started.output
    assert sandbox.drsctl("run", "cancel", "pit-2", "--reason", "window moved").exit_code == 0
    other = sandbox.drsctl(
        "run", "start", "estate-wait", "--resume-from", "pit-2", "--point-in-time", iso8601(newest), "--name", "pit-3"
    )
    assert other.exit_code == 2, other.output
    assert "a resume keeps its recovery points" in " ".join(other.output.split())
    resumed = sandbox.drsctl("run", "start", "estate-wait", "--resume-from", "pit-2", "--name", "pit-4")
    assert resumed.exit_code == 0, resumed.output
    watched = sandbox.drsctl("run", "watch", "pit-4", "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    shown = json.loads(sandbox.drsctl("run", "show", "pit-4", "--json").output)
    assert shown["Record"]["PointInTime"] == int(parse_iso8601(moment))
    (wave,) = shown["Waves"]
    assert {server.get("RecoveryPointTime") for server in wave["Servers"]} == {int(parse_iso8601(moment))}
