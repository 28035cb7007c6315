"""The ExecutionHistory record keeps the seed's shape at every step, and stays under DynamoDB's item limit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3

from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord
from tests.workflow.conftest import load, run, three_tier_scenario, three_wave_plan

SEED_EXECUTION_FIELDS = {
    "ExecutionId",
    "PlanId",
    "Status",
    "ExecutionType",
    "StartTime",
    "EndTime",
    "ErrorMessage",
    "Waves",
}
SEED_WAVE_FIELDS = {"WaveName", "ProtectionGroupId", "Region", "Status", "StartTime", "EndTime", "Servers"}
SEED_SERVER_FIELDS = {"SourceServerId", "RecoveryJobId", "Status", "InstanceId", "LaunchTime", "Error"}
EXECUTION_STATUSES = {"PENDING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"}


def _raw_item(execution_id: str, plan_id: str) -> dict[str, Any] | None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionHistory")
    return table.get_item(Key={"ExecutionId": execution_id, "PlanId": plan_id}).get("Item")


def _assert_seed_shape(item: dict[str, Any]) -> None:
    assert set(item) >= SEED_EXECUTION_FIELDS, SEED_EXECUTION_FIELDS - set(item)
    assert item["Status"] in EXECUTION_STATUSES
    assert item["ExecutionType"] in ("DRILL", "RECOVERY")
    assert isinstance(item["StartTime"], Decimal)
    for wave in item["Waves"]:
        assert set(wave) >= SEED_WAVE_FIELDS, SEED_WAVE_FIELDS - set(wave)
        for server in wave["Servers"]:
            assert set(server) == SEED_SERVER_FIELDS
            if server["LaunchTime"] is not None:
                assert isinstance(server["LaunchTime"], Decimal)


def test_record_has_the_seed_shape_after_every_step(stage):
    snapshots: list[tuple[str, dict[str, Any]]] = []
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        aws.engine.listeners.append(
            lambda invocation, request, response: snapshots.append(
                (invocation.function, _raw_item("exec-1", "shop") or {})
            )
        )
        run(aws, {"PlanId": "shop", "ExecutionType": "DRILL"})
    assert len(snapshots) >= 8
    for _, item in snapshots:
        _assert_seed_shape(item)
    statuses = [item["Status"] for _, item in snapshots]
    assert statuses[0] == "POLLING"  # after Prepare (PENDING while it resolved the servers)
    assert statuses[-1] == "COMPLETED"
    assert set(statuses[:-1]) == {"POLLING"}
    first_start = next(item for function, item in snapshots if function.endswith("start-wave"))
    started = first_start["Waves"][0]["Servers"]
    assert {s["Status"] for s in started} == {"LAUNCHING"}
    assert all(s["RecoveryJobId"].startswith("drsjob-") for s in started)
    assert first_start["Waves"][1]["Status"] == "PENDING"


def test_a_record_of_2000_servers_stays_under_the_item_limit():
    """Worst case: 20 waves x 100 servers, every server failed or timed out with an error code."""
    waves = [
        WaveRecord(
            WaveNumber=n + 1,
            WaveName=f"wave-{n + 1:02d}-" + "x" * 100,
            ProtectionGroupId="group-" + "y" * 58,
            Region="ap-southeast-2",
            Status="FAILED",
            StartTime=1_767_225_600,
            EndTime=1_767_229_200,
            JobIds=[f"drsjob-{n:017d}"],
            ErrorMessage="z" * 500,
            Servers=[
                ServerRecord(
                    SourceServerId=f"s-{n:02d}{k:015d}",
                    RecoveryJobId=f"drsjob-{n:017d}",
                    Status="TIMED_OUT",
                    InstanceId=f"i-{k:017x}",
                    LaunchTime=1_767_225_600,
                    Error="W" * 24,
                )
                for k in range(100)
            ],
        )
        for n in range(20)
    ]
    record = ExecutionRecord(
        ExecutionId="e" * 80,
        PlanId="p" * 128,
        PlanName="n" * 256,
        ExecutionType="RECOVERY",
        ExecutionArn="arn:aws:states:us-east-1:123456789012:execution:drs-orchestrator:" + "e" * 80,
        Status="FAILED",
        StartTime=1_767_225_600,
        EndTime=1_767_229_200,
        ErrorMessage="m" * 2_000,
        Waves=waves,
    )
    size = dynamodb_item_size(record.model_dump())
    assert size < 400 * 1024 * 0.95, size


def dynamodb_item_size(value: Any, name: str = "") -> int:
    """An item's size by DynamoDB's rules: names and values in UTF-8, 1 byte per null/bool, numbers <= 21 bytes,
    3 bytes of overhead per list or map plus 1 per element."""
    own = len(name.encode())
    if value is None or isinstance(value, bool):
        return own + 1
    if isinstance(value, int | float | Decimal):
        return own + min(21, len(str(value)) // 2 + 2)
    if isinstance(value, str):
        return own + len(value.encode())
    if isinstance(value, dict):
        return own + 3 + sum(1 + dynamodb_item_size(item, key) for key, item in value.items())
    if isinstance(value, list):
        return own + 3 + sum(1 + dynamodb_item_size(item) for item in value)
    raise TypeError(type(value))
