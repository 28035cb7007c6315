"""The records keep the seed's shapes at every step, and every item stays under 100 KB whatever the plan."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest

from lambdas.core import limits, records
from lambdas.core.item_size import DESIGN_MAX_BYTES, item_bytes, typed_item_bytes
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.records import ServerRecord, WaveRecord
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
SEED_WAVE_FIELDS = {"WaveName", "ProtectionGroupId", "Region", "Status", "StartTime", "EndTime"}
SEED_SERVER_FIELDS = {"SourceServerId", "RecoveryJobId", "Status", "InstanceId", "LaunchTime", "Error"}
EXECUTION_STATUSES = {"PENDING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"}


def _table(name: str) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(name)


def _raw_item(execution_id: str, plan_id: str) -> dict[str, Any]:
    return _table("ExecutionHistory").get_item(Key={"ExecutionId": execution_id, "PlanId": plan_id}).get("Item") or {}


def _wave_items(execution_id: str) -> list[dict[str, Any]]:
    return _table("ExecutionWaves").query(
        KeyConditionExpression=boto3.dynamodb.conditions.Key("ExecutionId").eq(execution_id)
    )["Items"]


def _assert_seed_shape(item: dict[str, Any], pages: list[dict[str, Any]]) -> None:
    assert set(item) >= SEED_EXECUTION_FIELDS, SEED_EXECUTION_FIELDS - set(item)
    assert item["Status"] in EXECUTION_STATUSES
    assert item["ExecutionType"] in ("DRILL", "RECOVERY")
    assert isinstance(item["StartTime"], Decimal)
    for wave in item["Waves"]:
        assert set(wave) >= SEED_WAVE_FIELDS, SEED_WAVE_FIELDS - set(wave)
        assert "Servers" not in wave  # the servers are in ExecutionWaves: the record's size depends on waves only
    for page in pages:
        for server in page["Servers"]:
            # where it lives (a server is known by account, Region and ID), and a point-in-time recovery's snapshot
            assert set(server) >= {"SourceServerId", "Status", "Account", "Region"}
            assert set(server) <= SEED_SERVER_FIELDS | {
                "Impact",
                "Hostname",
                "Account",
                "Region",
                "RecoverySnapshotId",
                "RecoveryPointTime",
            }


def test_records_have_the_seed_shape_after_every_step(stage):
    snapshots: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = []
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        aws.engine.listeners.append(
            lambda invocation, request, response: snapshots.append(
                (invocation.function, _raw_item("exec-1", "shop"), _wave_items("exec-1"))
            )
        )
        run(aws, {"PlanId": "shop", "ExecutionType": "DRILL"})
        waves = aws.waves("exec-1")
        summary = _raw_item("exec-1", "shop")["Waves"][0]
    assert len(snapshots) >= 8
    for _, item, items in snapshots:
        _assert_seed_shape(item, [i for i in items if "#" in i["WaveKey"]])
    statuses = [item["Status"] for _, item, _ in snapshots]
    assert statuses[0] == "POLLING"  # after Prepare (PENDING while it resolved the servers)
    assert statuses[-1] == "COMPLETED"
    assert set(statuses[:-1]) == {"POLLING"}
    _, first_start, items = next(s for s in snapshots if s[0].endswith("start-wave"))
    assert first_start["Waves"][0]["Status"] == "POLLING" and first_start["Waves"][1]["Status"] == "PENDING"
    page = next(i for i in items if i["WaveKey"] == "0001#001")
    assert {s["Status"] for s in page["Servers"]} == {"LAUNCHING"}
    assert all(s["RecoveryJobId"].startswith("drsjob-") for s in page["Servers"])
    assert (summary["ServerCount"], summary["Launched"]) == (3, 3)
    assert [len(w.Servers) for w in waves] == [3, 3, 2]


def test_a_wave_is_stored_in_pages_of_100_servers_and_written_page_by_page(stage):
    with stage(three_tier_scenario()):
        wave = WaveRecord(
            WaveNumber=1,
            WaveName="big",
            ProtectionGroupId="g",
            Region="us-east-1",
            Servers=[ServerRecord(SourceServerId=f"s-{n:017d}") for n in range(250)],
        )
        records.put_wave("exec-9", wave)
        keys = sorted(i["WaveKey"] for i in _wave_items("exec-9"))
        assert keys == ["0001", "0001#001", "0001#002", "0001#003"]
        read = records.get_wave("exec-9", 1)
        assert [s.SourceServerId for s in read.Servers] == [s.SourceServerId for s in wave.Servers]
        read.Servers[150].Status = "LAUNCHED"
        written: list[int] = []
        client = records.table(records.EXECUTION_WAVES_TABLE).meta.client
        original = client.transact_write_items

        def spy(**kwargs: Any) -> Any:
            written.append(len(kwargs["TransactItems"]))
            return original(**kwargs)

        client.transact_write_items = spy
        try:
            records.put_wave("exec-9", read)
        finally:
            client.transact_write_items = original
        assert written == [2]  # the wave's item and the one page that changed
        assert records.get_wave("exec-9", 1).Servers[150].Status == "LAUNCHED"


def _worst_wave(number: int, servers: int) -> WaveRecord:
    return WaveRecord(
        WaveNumber=number,
        WaveName=f"wave-{number:03d}-" + "x" * 100,
        ProtectionGroupId="group-" + "y" * 100,
        Region="ap-southeast-2",
        Status="TIMED_OUT",
        StartTime=1_767_225_600,
        EndTime=1_767_229_200,
        JobIds=[f"drsjob-{n:017d}" for n in range(servers)],  # one job per server: the most there can be
        ErrorMessage="z" * records.WAVE_MESSAGE_MAX,
        Servers=[
            ServerRecord(
                SourceServerId=f"s-{number:02d}{k:015d}",
                RecoveryJobId=f"drsjob-{k:017d}",
                Status="TIMED_OUT",
                InstanceId=f"i-{k:017x}",
                LaunchTime=1_767_225_600,
                Error="W" * records.ERROR_CODE_MAX,
                Impact="OPTIONAL",
                Hostname="h" * records.HOSTNAME_MAX,
            )
            for k in range(servers)
        ],
    )


def test_every_item_of_the_largest_wave_stays_under_100_kb():
    wave = _worst_wave(1, records.WAVE_SERVERS_MAX)
    for item in records._wave_items("e" * 80, wave, pages=None):
        assert item_bytes(item) < DESIGN_MAX_BYTES, item["WaveKey"]


@pytest.mark.parametrize("waves", [1, 50, 139])
def test_the_worst_case_record_of_a_plan_is_computed_and_bounded(waves):
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p" * 128,
            "Name": "n" * 256,
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [{"WaveName": f"w{n}", "ProtectionGroupId": "g"} for n in range(waves)],
        }
    )
    plan_waves = [
        WaveRecord(WaveNumber=n + 1, WaveName=f"w{n}", ProtectionGroupId="g", Region="us-east-1") for n in range(waves)
    ]
    size = limits.history_item_bytes(plan, plan_waves)
    assert size < DESIGN_MAX_BYTES
    # the computed worst case is what an actual record with every field at its longest measures
    longest = records.ExecutionRecord(
        ExecutionId="x" * limits.EXECUTION_NAME_MAX,
        PlanId=plan.PlanId,
        StartTime=0,
        Waves=[records.WaveSummary.of(w) for w in plan_waves],
    )
    assert item_bytes(longest.model_dump()) < size


def test_long_names_make_a_large_plan_refused_with_the_numbers():
    long_waves = [_worst_wave(n + 1, 1) for n in range(139)]
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p",
            "Name": "n",
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [{"WaveName": w.WaveName, "ProtectionGroupId": "g"} for w in long_waves],
        }
    )
    problems = limits.problems(plan, long_waves, RunOptions(WaveTimeoutMinutes=10))
    assert any("execution record could reach" in p and "Shorten wave names" in p for p in problems), problems


def test_the_byte_rules_match_dynamodbs():
    # Amazon DynamoDB Developer Guide, "DynamoDB item sizes and formats"
    assert item_bytes({"a": "xyz"}) == 1 + 3
    assert item_bytes({"n": 12345}) == 1 + 3 + 1  # 5 significant digits: 3 bytes, plus 1
    assert item_bytes({"n": Decimal("1.50")}) == 1 + 1 + 1  # trailing zero trimmed: 15
    assert item_bytes({"b": True, "z": None}) == 2 + 2
    assert item_bytes({"l": ["ab", 1]}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_bytes({"m": {"k": "v"}}) == 1 + 3 + (1 + 1 + 1)
    assert typed_item_bytes({"m": {"M": {"k": {"S": "v"}}}, "n": {"N": "12345"}}) == 7 + 5
