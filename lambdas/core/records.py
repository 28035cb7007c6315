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
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field

from lambdas.core.errors import ExecutionRecordError, PlanNotFoundError, WaveClosedError
from lambdas.core.explain import ACTION_MARK
from lambdas.core.plan import ExecutionMode, ImpactLevel, ProtectionGroup, RecoveryPlan

ExecutionStatus = Literal["PENDING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"]
WaveStatus = Literal[
    "PENDING", "STARTING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "SKIPPED", "CANCELLED"
]
# UNKNOWN: the execution stopped following the server while its DRS job was still running (stopped, failed, lost
# track): final for the record, and the server's Error and the messages say that DRS may still launch it.
ServerStatus = Literal["PENDING", "LAUNCHING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED", "UNKNOWN"]

ACTIVE_EXECUTION_STATUSES = ("PENDING", "POLLING")
FINAL_SERVER_STATUSES = ("LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED", "UNKNOWN")
OPEN_WAVE_STATUSES = ("PENDING", "STARTING", "POLLING")
WARNINGS_MAX = 20
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
    IntentCount: int = 0  # StartRecovery intents written so far: each gets its own ChunkToken
    MissedChecks: int = 0  # checks that got no answer (DRS or DynamoDB throttled, 5xx, connection lost)
    LastCheckError: str | None = Field(None, max_length=WAVE_MESSAGE_MAX)
    ChunkSize: int | None = None  # servers per StartRecovery, once DRS refused a larger one (MaxServersPerJob)
    Servers: list[ServerRecord] = Field(default_factory=list)

    def servers_in(self, ids: set[str]) -> list[ServerRecord]:
        return [server for server in self.Servers if server.SourceServerId in ids]

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
    Warnings: list[str] = Field(default_factory=list)
    Waves: list[WaveRecord] = Field(default_factory=list)


def truncate(text: str, limit: int = MESSAGE_MAX) -> str:
    """Bounded text for an item; a message's closing "What to do:" sentence is kept whole, its story shortened."""
    if len(text) <= limit:
        return text
    story, mark, action = text.partition(ACTION_MARK)
    if mark and len(mark + action) < limit // 2:
        tail = mark + action
        return story[: limit - len(tail) - 2].rstrip() + "… " + tail
    return text[: limit - 1] + "…"


def to_item(value: Any) -> Any:
    """A value DynamoDB accepts: boto3 refuses floats (`Float types are not supported`), so they become Decimal."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, list):
        return [to_item(item) for item in value]
    if isinstance(value, dict):
        return {key: to_item(item) for key, item in value.items()}
    return value


def from_item(value: Any) -> Any:
    """DynamoDB returns numbers as Decimal; the records hold ints (epoch seconds, counts)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [from_item(item) for item in value]
    if isinstance(value, dict):
        return {key: from_item(item) for key, item in value.items()}
    return value


def table(variable: str) -> Any:
    """The table named by the environment variable `variable`, cached per (variable, name)."""
    return _table_named(os.environ[variable])


# Short timeouts and three attempts (botocore's standard retry mode, which also retries throttling): one call's worst
# case is 3 x (1 + 3) s plus about 3 s of backoff, small beside every function's timeout (a test checks the sums).
# The default (60 s connect and read, legacy mode with 10 attempts for DynamoDB) could outlive any Lambda.
DYNAMODB_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=1, read_timeout=3)


@cache
def _table_named(name: str) -> Any:
    return boto3.resource("dynamodb", config=DYNAMODB_CONFIG).Table(name)


# -- plans and protection groups ---------------------------------------------------------------------------------


def save_plan(plan: RecoveryPlan) -> None:
    """Store a plan the way a platform team keeps it: groups in ProtectionGroups, the rest in RecoveryPlans."""
    groups = table(PROTECTION_GROUPS_TABLE)
    for group in plan.ProtectionGroups:
        groups.put_item(Item=to_item(group.model_dump(exclude_none=True)))
    body = plan.model_dump(exclude_none=True, exclude={"ProtectionGroups"})
    table(RECOVERY_PLANS_TABLE).put_item(Item=to_item(body))


def load_plan(plan_id: str) -> dict[str, Any]:
    """The stored plan with its protection groups attached, as a dict for the plan model to validate."""
    item = table(RECOVERY_PLANS_TABLE).get_item(Key={"PlanId": plan_id}, ConsistentRead=True).get("Item")
    if item is None:
        raise PlanNotFoundError(
            f"No plan {plan_id!r} in the RecoveryPlans table ({os.environ[RECOVERY_PLANS_TABLE]}). Load it first, "
            "or start the execution with the plan inline under 'Plan'."
        )
    plan: dict[str, Any] = from_item(item)
    group_ids = sorted(
        {wave.get("ProtectionGroupId") for wave in plan.get("Waves", []) if wave.get("ProtectionGroupId")}
    )
    groups = []
    for group_id in group_ids:
        group = table(PROTECTION_GROUPS_TABLE).get_item(Key={"GroupId": group_id}, ConsistentRead=True).get("Item")
        if group is not None:
            groups.append(ProtectionGroup.model_validate(from_item(group)).model_dump(exclude_none=True))
    plan["ProtectionGroups"] = groups or plan.get("ProtectionGroups", [])
    return plan


# -- execution history -------------------------------------------------------------------------------------------


def _key(execution_id: str, plan_id: str) -> dict[str, str]:
    return {"ExecutionId": execution_id, "PlanId": plan_id}


# While an execution is open, or closed with DRS jobs it could not yet account for, its item carries `Open`
# (ACTIVE or UNRESOLVED): the sparse index OpenExecutions lists exactly those, for the sweeper.
OPEN_ATTRIBUTE = "Open"
OPEN_INDEX = "OpenExecutions"


def put_execution(record: ExecutionRecord) -> None:
    """Create the record, or replace it while it is still PENDING (a retried Prepare)."""
    table(EXECUTION_HISTORY_TABLE).put_item(
        Item=to_item({**record.model_dump(), OPEN_ATTRIBUTE: "ACTIVE"}),
        ConditionExpression=Attr("ExecutionId").not_exists() | Attr("Status").eq("PENDING"),
    )


def get_execution(execution_id: str, plan_id: str) -> ExecutionRecord:
    item = table(EXECUTION_HISTORY_TABLE).get_item(Key=_key(execution_id, plan_id), ConsistentRead=True).get("Item")
    if item is None:
        raise ExecutionRecordError(f"No ExecutionHistory record for execution {execution_id} of plan {plan_id}")
    return ExecutionRecord.model_validate(from_item(item))


def find_execution_by_id(execution_id: str) -> ExecutionRecord | None:
    """The record of an execution when its PlanId is not known (the ExecutionId alone is the partition key)."""
    items = (
        table(EXECUTION_HISTORY_TABLE)
        .query(KeyConditionExpression=Key("ExecutionId").eq(execution_id), ConsistentRead=True, Limit=1)
        .get("Items", [])
    )
    return ExecutionRecord.model_validate(from_item(items[0])) if items else None


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


def open_executions() -> list[tuple[str, str, str]]:
    """(ExecutionId, PlanId, Open) of every record still open or unresolved, from the sparse OpenExecutions index."""
    history = table(EXECUTION_HISTORY_TABLE)
    found: list[tuple[str, str, str]] = []
    for state in ("ACTIVE", "UNRESOLVED"):
        arguments: dict[str, Any] = {
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": Key(OPEN_ATTRIBUTE).eq(state),
            "ProjectionExpression": "ExecutionId, PlanId",
        }
        while True:
            page = history.query(**arguments)
            found.extend((str(i["ExecutionId"]), str(i["PlanId"]), state) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found


def get_wave(execution_id: str, wave_number: int) -> WaveRecord:
    """The live state of one wave, from its ExecutionWaves item."""
    item = (
        table(EXECUTION_WAVES_TABLE)
        .get_item(Key={"ExecutionId": execution_id, "WaveNumber": wave_number}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        raise ExecutionRecordError(f"Execution {execution_id} has no wave number {wave_number}")
    return WaveRecord.model_validate(from_item(item))


def find_wave(execution_id: str, wave_number: int) -> WaveRecord | None:
    try:
        return get_wave(execution_id, wave_number)
    except ExecutionRecordError:
        return None


def put_wave(execution_id: str, wave: WaveRecord, *, reopen: bool = False) -> None:
    """Write the live state of one wave (small: one wave's servers).

    Refused (WaveClosedError) once the stored wave has ended, unless `reopen`: a step still running when the
    reconcile path closed the wave (the execution was stopped) must not bring it back to life.
    """
    waves = table(EXECUTION_WAVES_TABLE)
    condition = None if reopen else Attr("ExecutionId").not_exists() | Attr("Status").is_in(list(OPEN_WAVE_STATUSES))
    try:
        waves.put_item(
            Item=to_item({"ExecutionId": execution_id, **wave.model_dump()}),
            **({"ConditionExpression": condition} if condition is not None else {}),
        )
    except waves.meta.client.exceptions.ConditionalCheckFailedException:
        raise WaveClosedError(f"Wave {wave.WaveNumber} of execution {execution_id} has already ended") from None


def record_missed_check(execution_id: str, wave_number: int, missed: int, error: str) -> None:
    """A check that got no answer, counted on the wave's item (only the two fields: the wave may be large)."""
    table(EXECUTION_WAVES_TABLE).update_item(
        Key={"ExecutionId": execution_id, "WaveNumber": wave_number},
        UpdateExpression="SET MissedChecks = :missed, LastCheckError = :error",
        ConditionExpression=Attr("Status").is_in(list(OPEN_WAVE_STATUSES)),
        ExpressionAttributeValues={":missed": missed, ":error": truncate(error, WAVE_MESSAGE_MAX)},
    )


def publish_wave(execution_id: str, plan_id: str, wave: WaveRecord) -> None:
    """Copy a wave into the execution's ExecutionHistory item; refused once the execution has ended."""
    put_wave(execution_id, wave)
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(execution_id, plan_id),
        UpdateExpression=f"SET Waves[{wave.WaveNumber - 1}] = :wave",
        ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
        ExpressionAttributeValues={":wave": to_item(wave.model_dump())},
    )


def close_execution(
    record: ExecutionRecord, changed_waves: list[WaveRecord], *, exists: bool, unresolved: bool
) -> bool:
    """Write the terminal status once; returns False when another path already ended it (first writer wins).

    The waves that changed are written to their own ExecutionWaves items first (so no wave item stays open), then
    the ExecutionHistory item gets an UpdateItem of the terminal fields and of those waves, not a rewrite of the
    whole (possibly 300 KB) item. `unresolved`: DRS could not be asked about every job of the execution; the
    item stays in the OpenExecutions index so the sweeper asks again later.
    """
    assert record.Status not in ACTIVE_EXECUTION_STATUSES
    history = table(EXECUTION_HISTORY_TABLE)
    for index, wave in enumerate(changed_waves):
        try:
            put_wave(record.ExecutionId, wave)
        except WaveClosedError:  # a wave step ended it meanwhile: its own ending stands
            changed_waves[index] = get_wave(record.ExecutionId, wave.WaveNumber)
            record.Waves[wave.WaveNumber - 1] = changed_waves[index]
    try:
        if not exists:
            item = record.model_dump()
            if unresolved:
                item[OPEN_ATTRIBUTE] = "UNRESOLVED"
            history.put_item(Item=to_item(item), ConditionExpression=Attr("ExecutionId").not_exists())
            return True
        assignments = ["#status = :status", "EndTime = :end", "ErrorMessage = :message"]
        values: dict[str, Any] = {":status": record.Status, ":end": record.EndTime, ":message": record.ErrorMessage}
        for wave in changed_waves:
            assignments.append(f"Waves[{wave.WaveNumber - 1}] = :wave{wave.WaveNumber}")
            values[f":wave{wave.WaveNumber}"] = wave.model_dump()
        if unresolved:
            assignments.append("#open = :unresolved")
            values[":unresolved"] = "UNRESOLVED"
        update = "SET " + ", ".join(assignments) + ("" if unresolved else " REMOVE #open")
        history.update_item(
            Key=_key(record.ExecutionId, record.PlanId),
            UpdateExpression=update,
            ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
            ExpressionAttributeNames={"#status": "Status", "#open": OPEN_ATTRIBUTE},
            ExpressionAttributeValues=to_item(values),
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def update_resolved_waves(record: ExecutionRecord, changed_waves: list[WaveRecord], *, unresolved: bool) -> None:
    """After the end: jobs found later (by the sweeper) go into the ended record; `Open` goes once all are known."""
    history = table(EXECUTION_HISTORY_TABLE)
    for wave in changed_waves:
        put_wave(record.ExecutionId, wave, reopen=True)
    assignments = [f"Waves[{w.WaveNumber - 1}] = :wave{w.WaveNumber}" for w in changed_waves]
    values: dict[str, Any] = {f":wave{w.WaveNumber}": w.model_dump() for w in changed_waves}
    values[":message"] = record.ErrorMessage
    assignments.append("ErrorMessage = :message")
    update = "SET " + ", ".join(assignments) + ("" if unresolved else " REMOVE #open")
    history.update_item(
        Key=_key(record.ExecutionId, record.PlanId),
        UpdateExpression=update,
        ExpressionAttributeNames={"#open": OPEN_ATTRIBUTE},
        ExpressionAttributeValues=to_item(values),
    )


def put_execution_waves(record: ExecutionRecord) -> None:
    """Write the resolved waves (each also as its own ExecutionWaves item) and move the record to POLLING.

    Refused (ConditionalCheckFailed) when the record is no longer PENDING: the execution was stopped while Prepare
    ran, and the reconcile path has ended it. Prepare then releases what it took.
    """
    with table(EXECUTION_WAVES_TABLE).batch_writer() as batch:
        for wave in record.Waves:
            batch.put_item(Item=to_item({"ExecutionId": record.ExecutionId, **wave.model_dump()}))
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(record.ExecutionId, record.PlanId),
        UpdateExpression="SET Waves = :waves, #status = :status, Warnings = :warnings",
        ConditionExpression=Attr("Status").eq("PENDING"),
        ExpressionAttributeNames={"#status": "Status"},
        ExpressionAttributeValues=to_item(
            {":waves": [w.model_dump() for w in record.Waves], ":status": record.Status, ":warnings": record.Warnings}
        ),
    )
