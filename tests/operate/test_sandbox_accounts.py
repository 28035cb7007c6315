"""Member accounts and point-in-time recovery in `drsctl sandbox`: moto's STS gives the Lambdas the member role's
credentials, the emulator answers in that account, and `drsctl run start --point-in-time` recovers to a moment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from drsctl.clock import parse_iso8601
from tests.conftest import server_id
from tests.operate.conftest import SPEED, SandboxProcess

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
