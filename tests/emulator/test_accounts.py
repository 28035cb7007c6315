"""Member accounts in the emulator: each sees only its own servers, jobs and recovery instances; the account comes
from the caller's credentials; quotas per account; StartRecovery from a named recovery snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from drsctl.clock import VirtualClock, iso8601, parse_iso8601
from drsctl.emulator import DrsEmulator, Scenario, start
from tests.conftest import server_id

OWN, MEMBER, OTHER = "111122223333", "444455556666", "777788889999"
KEYS = {"member-key": MEMBER, "other-key": OTHER, "stranger-key": "999999999999"}
EXACT = {"drill": {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}, "jitter": 0}


def _scenario(**changes: Any) -> dict[str, Any]:
    servers = [{"id": server_id(0, "own"), "hostname": "own-0"}]
    servers += [{"id": server_id(n, "mem"), "hostname": f"mem-{n}", "account": MEMBER} for n in range(3)]
    servers += [{"id": server_id(0, "oth"), "hostname": "oth-0", "account": OTHER, "region": "us-west-2"}]
    return {
        "accountId": OWN,
        "accounts": [{"id": MEMBER}, {"id": OTHER}],
        "timing": EXACT,
        "servers": servers,
    } | changes


@pytest.fixture
def emulator(clock: VirtualClock) -> Iterator[Any]:
    running: list[Any] = []

    def serve(scenario: dict[str, Any]) -> tuple[DrsEmulator, str]:
        model = DrsEmulator(Scenario.model_validate(scenario), clock)
        model.resolve_caller = KEYS.get  # what the rehearsal does with moto's STS keys
        running.append(start(model))
        return model, running[-1].endpoint

    yield serve
    for server in running:
        server.stop()


def _drs(endpoint: str, key: str = "own-key", region: str = "us-east-1") -> Any:
    return boto3.client(
        "drs", region_name=region, endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key="s"
    )


def _ids(answer: dict[str, Any]) -> list[str]:
    return sorted(item["sourceServerID"] for item in answer["items"])


def test_each_account_sees_only_its_own_servers_and_unknown_keys_are_the_scenarios_account(emulator):
    _, endpoint = emulator(_scenario())
    assert _ids(_drs(endpoint).describe_source_servers()) == [server_id(0, "own")]
    member = _drs(endpoint, "member-key").describe_source_servers()
    assert _ids(member) == [server_id(n, "mem") for n in range(3)]
    assert {item["sourceCloudProperties"]["originAccountID"] for item in member["items"]} == {MEMBER}
    assert {item["arn"].split(":")[4] for item in member["items"]} == {MEMBER}
    assert _ids(_drs(endpoint, "other-key").describe_source_servers()) == []  # its server is in us-west-2
    assert _ids(_drs(endpoint, "other-key", "us-west-2").describe_source_servers()) == [server_id(0, "oth")]


def test_another_accounts_server_cannot_be_launched_and_an_unknown_account_is_not_initialized(emulator):
    _, endpoint = emulator(_scenario())
    with pytest.raises(ClientError) as refused:
        _drs(endpoint).start_recovery(sourceServers=[{"sourceServerID": server_id(0, "mem")}], isDrill=True)
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert MEMBER not in refused.value.response["Error"]["Message"]  # nothing of the other account leaks
    with pytest.raises(ClientError) as uninitialized:
        _drs(endpoint, "stranger-key").describe_jobs()
    assert uninitialized.value.response["Error"]["Code"] == "UninitializedAccountException"


def test_jobs_and_recovery_instances_belong_to_the_account_that_started_them(emulator, clock):
    model, endpoint = emulator(_scenario())
    member = _drs(endpoint, "member-key")
    job = member.start_recovery(sourceServers=[{"sourceServerID": server_id(0, "mem")}], isDrill=True)["job"]
    assert job["arn"].split(":")[4] == MEMBER
    clock.advance(120)
    assert [j["jobID"] for j in member.describe_jobs()["items"]] == [job["jobID"]]
    assert _drs(endpoint).describe_jobs()["items"] == []
    (instance,) = member.describe_recovery_instances()["items"]
    assert _drs(endpoint).describe_recovery_instances()["items"] == []
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        _drs(endpoint).terminate_recovery_instances(recoveryInstanceIDs=[instance["recoveryInstanceID"]])
    member.terminate_recovery_instances(recoveryInstanceIDs=[instance["recoveryInstanceID"]])
    ec2 = boto3.client(
        "ec2", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="own-key", aws_secret_access_key="s"
    )
    assert ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"] == []
    assert model.jobs[job["jobID"]].account == MEMBER


def test_quotas_apply_per_account_and_region(emulator):
    scenario = _scenario(accounts=[{"id": MEMBER, "quotas": {"maxConcurrentJobs": 1}}, {"id": OTHER}])
    _, endpoint = emulator(scenario)
    member = _drs(endpoint, "member-key")
    member.start_recovery(sourceServers=[{"sourceServerID": server_id(0, "mem")}], isDrill=True)
    with pytest.raises(ClientError) as full:
        member.start_recovery(sourceServers=[{"sourceServerID": server_id(1, "mem")}], isDrill=True)
    assert full.value.response["quotaCode"] == "MaxConcurrentJobs"
    # the member's full quota is not the orchestrator's: its own account still starts jobs
    _drs(endpoint).start_recovery(sourceServers=[{"sourceServerID": server_id(0, "own")}], isDrill=True)


def test_start_recovery_launches_from_the_recovery_snapshot_it_names(emulator, clock):
    _, endpoint = emulator(_scenario())
    member = _drs(endpoint, "member-key")
    server = server_id(0, "mem")
    moment = clock.now() - 3 * 3600
    (snapshot,) = member.describe_recovery_snapshots(
        sourceServerID=server, filters={"toDateTime": iso8601(moment)}, order="DESC", maxResults=1
    )["items"]
    assert parse_iso8601(snapshot["timestamp"]) <= moment
    member.start_recovery(
        sourceServers=[{"sourceServerID": server, "recoverySnapshotID": snapshot["snapshotID"]}], isDrill=True
    )
    clock.advance(120)
    (instance,) = member.describe_recovery_instances()["items"]
    assert instance["pointInTimeSnapshotDateTime"] == snapshot["timestamp"]  # not the snapshot the job took
    with pytest.raises(ClientError) as unknown:
        member.start_recovery(
            sourceServers=[{"sourceServerID": server_id(1, "mem"), "recoverySnapshotID": "pit-00000000000000000"}],
            isDrill=True,
        )
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_scenario_lists_each_member_account_once_and_never_its_own():
    with pytest.raises(ValueError, match="listed twice"):
        Scenario.model_validate(_scenario(accounts=[{"id": MEMBER}, {"id": MEMBER}]))
    with pytest.raises(ValueError, match="list only member accounts"):
        Scenario.model_validate(_scenario(accounts=[{"id": OWN}]))
    scenario = Scenario.model_validate(_scenario(accounts=[{"id": MEMBER, "assumable": False}]))
    assert not scenario.assumable(MEMBER) and scenario.assumable(OTHER)  # OTHER: named by a server
    assert not scenario.assumable("999999999999")
