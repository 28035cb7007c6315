"""The DynamoDB records, in the seed's shapes (PascalCase), and every read and write of them.

ExecutionHistory holds one item per execution, keyed by ExecutionId + PlanId, with the seed's fields and the waves'
servers inline, so a front end reads one item. To stay under DynamoDB's 400 KB item limit at 2,000 servers, a
server entry carries only the seed's six fields and a short `Error` code; the full explanation of a failure is in
the wave's and the execution's `ErrorMessage`. A test pins the size of a 2,000-server record.

That item can reach hundreds of KB, and a DynamoDB write costs one unit per KB of the whole item, so it is written
only when an execution starts and ends and when a wave starts and ends. The live state of a running wave (every
check that sees a server move) goes to the wave's own item in ExecutionWaves, keyed by ExecutionId + WaveNumber,
in the same wave shape: a front end that wants second-by-second progress reads that.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import cache
from typing import Any, Literal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from pydantic import BaseModel, ConfigDict, Field

from lambdas.core.errors import ExecutionRecordError, PlanNotFoundError
from lambdas.core.plan import ExecutionMode, ImpactLevel, ProtectionGroup, RecoveryPlan

ExecutionStatus = Literal["PENDING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"]
WaveStatus = Literal[
    "PENDING", "STARTING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "SKIPPED", "CANCELLED"
]
ServerStatus = Literal["PENDING", "LAUNCHING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED"]

ACTIVE_EXECUTION_STATUSES = ("PENDING", "POLLING")
FINAL_SERVER_STATUSES = ("LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED")
ERROR_CODE_MAX = 24  # LAUNCH_FAILED, WAVE_TIMEOUT, ...: codes, so 2,000 servers fit in one item
WAVE_MESSAGE_MAX = 500
MESSAGE_MAX = 2_000

PROTECTION_GROUPS_TABLE = "PROTECTION_GROUPS_TABLE"
RECOVERY_PLANS_TABLE = "RECOVERY_PLANS_TABLE"
EXECUTION_HISTORY_TABLE = "EXECUTION_HISTORY_TABLE"
EXECUTION_WAVES_TABLE = "EXECUTION_WAVES_TABLE"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ServerRecord(_Record):
    SourceServerId: str
    RecoveryJobId: str | None = None
    Status: ServerStatus = "PENDING"
    InstanceId: str | None = None
    LaunchTime: int | None = None
    Error: str | None = Field(None, max_length=ERROR_CODE_MAX)


class StartIntent(_Record):
    """A StartRecovery about to be made (or made, its answer not yet recorded): how a retry avoids a double launch."""

    Token: str
    ServerIds: list[str]
    RequestedAt: int


class WaveRecord(_Record):
    WaveNumber: int
    WaveName: str
    ProtectionGroupId: str
    Region: str
    Impact: ImpactLevel = "CRITICAL"
    ServerImpact: dict[str, ImpactLevel] = Field(default_factory=dict)
    Status: WaveStatus = "PENDING"
    StartTime: int | None = None
    EndTime: int | None = None
    JobIds: list[str] = Field(default_factory=list)
    ErrorMessage: str | None = Field(None, max_length=WAVE_MESSAGE_MAX)
    PendingStart: StartIntent | None = None
    Servers: list[ServerRecord] = Field(default_factory=list)

    def impact_of(self, server_id: str) -> ImpactLevel:
        return self.ServerImpact.get(server_id, self.Impact)


class ExecutionRecord(_Record):
    ExecutionId: str
    PlanId: str
    PlanName: str | None = None
    ExecutionType: ExecutionMode | None = None
    ExecutionArn: str | None = None
    Status: ExecutionStatus = "PENDING"
    StartTime: int
    EndTime: int | None = None
    ErrorMessage: str | None = None
    Waves: list[WaveRecord] = Field(default_factory=list)


def truncate(text: str, limit: int = MESSAGE_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal; the records hold ints (epoch seconds, counts)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def table(variable: str) -> Any:
    """The table named by the environment variable `variable`, cached per (variable, name)."""
    return _table_named(os.environ[variable])


@cache
def _table_named(name: str) -> Any:
    return boto3.resource("dynamodb").Table(name)


# -- plans and protection groups ---------------------------------------------------------------------------------


def save_plan(plan: RecoveryPlan) -> None:
    """Store a plan the way a platform team keeps it: groups in ProtectionGroups, the rest in RecoveryPlans."""
    groups = table(PROTECTION_GROUPS_TABLE)
    for group in plan.ProtectionGroups:
        groups.put_item(Item=group.model_dump(exclude_none=True))
    body = plan.model_dump(exclude_none=True, exclude={"ProtectionGroups"})
    table(RECOVERY_PLANS_TABLE).put_item(Item=body)


def load_plan(plan_id: str) -> dict[str, Any]:
    """The stored plan with its protection groups attached, as a dict for the plan model to validate."""
    item = table(RECOVERY_PLANS_TABLE).get_item(Key={"PlanId": plan_id}, ConsistentRead=True).get("Item")
    if item is None:
        raise PlanNotFoundError(
            f"No plan {plan_id!r} in the RecoveryPlans table ({os.environ[RECOVERY_PLANS_TABLE]}). Load it first, "
            "or start the execution with the plan inline under 'Plan'."
        )
    plan: dict[str, Any] = _plain(item)
    group_ids = sorted(
        {wave.get("ProtectionGroupId") for wave in plan.get("Waves", []) if wave.get("ProtectionGroupId")}
    )
    groups = []
    for group_id in group_ids:
        group = table(PROTECTION_GROUPS_TABLE).get_item(Key={"GroupId": group_id}, ConsistentRead=True).get("Item")
        if group is not None:
            groups.append(ProtectionGroup.model_validate(_plain(group)).model_dump(exclude_none=True))
    plan["ProtectionGroups"] = groups or plan.get("ProtectionGroups", [])
    return plan


# -- execution history -------------------------------------------------------------------------------------------


def _key(execution_id: str, plan_id: str) -> dict[str, str]:
    return {"ExecutionId": execution_id, "PlanId": plan_id}


def put_execution(record: ExecutionRecord) -> None:
    """Create the record, or replace it while it is still PENDING (a retried Prepare)."""
    table(EXECUTION_HISTORY_TABLE).put_item(
        Item=record.model_dump(),
        ConditionExpression=Attr("ExecutionId").not_exists() | Attr("Status").eq("PENDING"),
    )


def get_execution(execution_id: str, plan_id: str) -> ExecutionRecord:
    item = table(EXECUTION_HISTORY_TABLE).get_item(Key=_key(execution_id, plan_id), ConsistentRead=True).get("Item")
    if item is None:
        raise ExecutionRecordError(f"No ExecutionHistory record for execution {execution_id} of plan {plan_id}")
    return ExecutionRecord.model_validate(_plain(item))


def find_execution_by_id(execution_id: str) -> ExecutionRecord | None:
    """The record of an execution when its PlanId is not known (the ExecutionId alone is the partition key)."""
    items = (
        table(EXECUTION_HISTORY_TABLE)
        .query(KeyConditionExpression=Key("ExecutionId").eq(execution_id), ConsistentRead=True, Limit=1)
        .get("Items", [])
    )
    return ExecutionRecord.model_validate(_plain(items[0])) if items else None


def execution_active(execution_id: str, plan_id: str) -> bool:
    """Whether the execution's record is still PENDING or POLLING (a stop ends it through the reconcile path)."""
    item = (
        table(EXECUTION_HISTORY_TABLE)
        .get_item(
            Key=_key(execution_id, plan_id),
            ProjectionExpression="#status",
            ExpressionAttributeNames={"#status": "Status"},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item is not None and item.get("Status") in ACTIVE_EXECUTION_STATUSES


def find_execution(execution_id: str, plan_id: str) -> ExecutionRecord | None:
    try:
        return get_execution(execution_id, plan_id)
    except ExecutionRecordError:
        return None


def get_wave(execution_id: str, wave_number: int) -> WaveRecord:
    """The live state of one wave, from its ExecutionWaves item."""
    item = (
        table(EXECUTION_WAVES_TABLE)
        .get_item(Key={"ExecutionId": execution_id, "WaveNumber": wave_number}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        raise ExecutionRecordError(f"Execution {execution_id} has no wave number {wave_number}")
    return WaveRecord.model_validate(_plain(item))


def find_wave(execution_id: str, wave_number: int) -> WaveRecord | None:
    try:
        return get_wave(execution_id, wave_number)
    except ExecutionRecordError:
        return None


def put_wave(execution_id: str, wave: WaveRecord) -> None:
    """Write the live state of one wave (small: one wave's servers)."""
    table(EXECUTION_WAVES_TABLE).put_item(Item={"ExecutionId": execution_id, **wave.model_dump()})


def publish_wave(execution_id: str, plan_id: str, wave: WaveRecord) -> None:
    """Copy a wave into the execution's ExecutionHistory item; refused once the execution has ended."""
    put_wave(execution_id, wave)
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(execution_id, plan_id),
        UpdateExpression=f"SET Waves[{wave.WaveNumber - 1}] = :wave",
        ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
        ExpressionAttributeValues={":wave": wave.model_dump()},
    )


def close_execution(record: ExecutionRecord, changed_waves: list[WaveRecord], *, exists: bool) -> bool:
    """Write the terminal status once; returns False when another path already ended it (first writer wins).

    An existing record gets an UpdateItem of the terminal fields and of the waves that changed, not a rewrite of
    the whole (possibly 300 KB) item.
    """
    assert record.Status not in ACTIVE_EXECUTION_STATUSES
    history = table(EXECUTION_HISTORY_TABLE)
    try:
        if not exists:
            history.put_item(Item=record.model_dump(), ConditionExpression=Attr("ExecutionId").not_exists())
            return True
        assignments = ["#status = :status", "EndTime = :end", "ErrorMessage = :message"]
        values: dict[str, Any] = {":status": record.Status, ":end": record.EndTime, ":message": record.ErrorMessage}
        for wave in changed_waves:
            assignments.append(f"Waves[{wave.WaveNumber - 1}] = :wave{wave.WaveNumber}")
            values[f":wave{wave.WaveNumber}"] = wave.model_dump()
        history.update_item(
            Key=_key(record.ExecutionId, record.PlanId),
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
            ExpressionAttributeNames={"#status": "Status"},
            ExpressionAttributeValues=values,
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def put_execution_waves(record: ExecutionRecord) -> None:
    """Write the resolved waves (each also as its own ExecutionWaves item) and move the record to POLLING."""
    with table(EXECUTION_WAVES_TABLE).batch_writer() as batch:
        for wave in record.Waves:
            batch.put_item(Item={"ExecutionId": record.ExecutionId, **wave.model_dump()})
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(record.ExecutionId, record.PlanId),
        UpdateExpression="SET Waves = :waves, #status = :status",
        ConditionExpression=Attr("Status").eq("PENDING"),
        ExpressionAttributeNames={"#status": "Status"},
        ExpressionAttributeValues={":waves": [w.model_dump() for w in record.Waves], ":status": record.Status},
    )
