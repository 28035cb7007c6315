"""The DynamoDB records, in the seed's shapes (PascalCase), and every read and write of them.

Every item stays under 100 KB whatever the plan, so no record can hit DynamoDB's 400 KB limit mid-recovery:

- ExecutionHistory: one item per execution, keyed by ExecutionId + PlanId, with the seed's execution fields and, in
  `Waves`, one summary per wave (the seed's WaveName, ProtectionGroupId, Region, Status, StartTime, EndTime, plus
  counts of its servers by outcome): its size depends on the number of waves, not of servers. Written when the
  execution starts and ends and when a wave starts and ends.
- ExecutionWaves: the per-server detail, as one item collection per wave, keyed by ExecutionId + WaveKey: the wave
  itself (`0003`: the seed's wave fields, its job IDs, and what a repeated step needs: `PendingStart`, ...) and its
  servers in pages of at most 100 (`0003#001`, `0003#002`, ...: the seed's six server fields each). A wave is read
  with one Query and written in one transaction (the wave and the pages that changed), so its servers and its status
  never disagree, and a write is refused once the wave has ended.

Prepare refuses a plan whose records could outgrow that (`history_item_bytes`, `WAVE_SERVERS_MAX`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from decimal import Decimal
from functools import cache
from typing import Any, Literal

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.config import Config
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from lambdas.core import accounts
from lambdas.core.accounts import Target
from lambdas.core.batches import batched
from lambdas.core.errors import (
    ExecutionRecordError,
    PlanNotFoundError,
    RecordEndedError,
    StepsChangedError,
    TransactionConflictError,
    WaveClosedError,
)
from lambdas.core.explain import ACTION_MARK
from lambdas.core.plan import STARTED_BY_MAX, ProtectionGroup, RecoveryPlan
from lambdas.core.plan_types import ExecutionMode, ImpactLevel

ExecutionStatus = Literal["PENDING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"]
WaveStatus = Literal[
    "PENDING", "STARTING", "POLLING", "COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "SKIPPED", "CANCELLED"
]
# UNKNOWN: the execution stopped following the server while its DRS job was still running (stopped, failed, lost
# track): final for the record, and the server's Error and the messages say that DRS may still launch it.
ServerStatus = Literal["PENDING", "LAUNCHING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED", "UNKNOWN"]

ACTIVE_EXECUTION_STATUSES = ("PENDING", "POLLING")
FINAL_SERVER_STATUSES = ("LAUNCHED", "FAILED", "TIMED_OUT", "SKIPPED", "UNKNOWN")
# A server an execution took over from the one it resumes (lambdas/core/resume.py): SKIPPED with this Error, its job
# and instance those of the execution that launched it.
LAUNCHED_BEFORE = "LAUNCHED_BEFORE"
OPEN_WAVE_STATUSES = ("PENDING", "STARTING", "POLLING")
WARNINGS_MAX = 10
WARNING_MAX_BYTES = 300
HOSTNAME_MAX = 255  # a DNS name is at most 253 characters
ERROR_CODE_MAX = 24  # LAUNCH_FAILED, WAVE_TIMEOUT, ...: codes; the explanation is in the wave's ErrorMessage
WAVE_MESSAGE_MAX = 1_000
SUMMARY_MESSAGE_MAX = 300  # a wave's cause as the ExecutionHistory item repeats it (the whole cause: ExecutionWaves)
MESSAGE_MAX = 2_000
SERVERS_PER_PAGE = 100
WAVE_SERVERS_MAX = 2_000  # 20 pages: one wave's transaction stays far under DynamoDB's 100 items and 4 MB
TRANSACTION_ITEMS_MAX = 100  # DynamoDB TransactWriteItems
JOB_IDS_MAX = 1_000  # DescribeJobs takes at most 1,000 job IDs per call
QUOTA_WAITS_MAX = 5

PROTECTION_GROUPS_TABLE = "PROTECTION_GROUPS_TABLE"
RECOVERY_PLANS_TABLE = "RECOVERY_PLANS_TABLE"
EXECUTION_HISTORY_TABLE = "EXECUTION_HISTORY_TABLE"
EXECUTION_WAVES_TABLE = "EXECUTION_WAVES_TABLE"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class ServerRecord(_Record):
    """One server of a wave: the seed's six fields, and its impact when it differs from the wave's.

    Its identity is (Account, Region, SourceServerId): a record written before accounts has neither, and reads as
    the stack's own account and the wave's Region (`WaveRecord.target_of`).
    """

    SourceServerId: str
    RecoveryJobId: str | None = None
    Status: ServerStatus = "PENDING"
    InstanceId: str | None = None
    LaunchTime: int | None = None
    Error: str | None = Field(None, max_length=ERROR_CODE_MAX)
    Impact: ImpactLevel | None = None  # the plan's ServerImpact for this server, if any
    Hostname: str | None = Field(None, max_length=HOSTNAME_MAX)  # as DRS identifies the source server
    Account: str | None = None  # the account whose DRS holds it (None: the stack's own)
    Region: str | None = None  # its DRS Region (None: the wave's)
    # A point-in-time recovery (execution input PointInTime): the recovery snapshot it launches from, and when that
    # snapshot was taken (epoch seconds)
    RecoverySnapshotId: str | None = None
    RecoveryPointTime: int | None = None

    @property
    def taken_over(self) -> bool:
        """Launched by the execution this one resumes (recorded SKIPPED, LAUNCHED_BEFORE): launched all the same."""
        return self.Error == LAUNCHED_BEFORE


class StartIntent(_Record):
    """A StartRecovery about to be made (or made, its answer not yet recorded): how a retry avoids a double launch."""

    Token: str
    ServerIds: list[str]
    RequestedAt: int
    Account: str | None = None  # where the StartRecovery goes (None: the stack's own account, the wave's Region)
    Region: str | None = None


class WaveRecord(_Record):
    """A wave with all its servers, as the wave steps work on it (stored as the wave's item collection)."""

    WaveNumber: int
    WaveName: str
    ProtectionGroupId: str
    Region: str
    Impact: ImpactLevel = "CRITICAL"
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
    # The DRS quotas the wave waited for capacity on, as AwsFailure.quota_label names them ("L-D88FAC3A (Concurrent
    # jobs in progress)", or an unknown code): kept after the wait, so the record says what held the wave up
    QuotaWaits: list[str] = Field(default_factory=list, max_length=QUOTA_WAITS_MAX)
    JobsStartedAt: int | None = None  # when the last of its servers was started
    JobSeconds: int | None = None  # how long its jobs took by DRS's clock: what the next wave expects
    # Its runbook steps as they ran (lambdas/core/runbook.py StepRecord): at most 20, each under 1 KB
    Steps: list[dict[str, Any]] = Field(default_factory=list)
    StepsVersion: int = 0  # counts the writes of Steps: a write made from an older read is refused
    Servers: list[ServerRecord] = Field(default_factory=list)
    # What each page of servers held when read, so a write sends only the pages that changed.
    _stored_pages: dict[int, str] = PrivateAttr(default_factory=dict)

    def impact_of(self, server: ServerRecord) -> ImpactLevel:
        return server.Impact or self.Impact

    def target_of(self, server: ServerRecord) -> Target:
        """Where the server lives: its own Account and Region, or (older records) the stack's account and the
        wave's Region."""
        return Target(accounts.account_of(server.Account), server.Region or self.Region)

    def targets(self) -> dict[Target, list[ServerRecord]]:
        """The wave's servers by (account, Region), in a stable order."""
        found: dict[Target, list[ServerRecord]] = {}
        for server in self.Servers:
            found.setdefault(self.target_of(server), []).append(server)
        return dict(sorted(found.items()))

    def job_targets(self) -> dict[str, Target]:
        """Job ID -> where the job runs (the target of the servers it launches)."""
        return {s.RecoveryJobId: self.target_of(s) for s in self.Servers if s.RecoveryJobId}

    def intent_target(self, intent: StartIntent) -> Target:
        return Target(accounts.account_of(intent.Account), intent.Region or self.Region)


class WaveSummary(_Record):
    """A wave as the ExecutionHistory item shows it: the seed's wave fields and counts instead of the servers."""

    WaveNumber: int
    WaveName: str
    ProtectionGroupId: str
    Region: str
    Impact: ImpactLevel = "CRITICAL"
    Status: WaveStatus = "PENDING"
    StartTime: int | None = None
    EndTime: int | None = None
    ErrorMessage: str | None = Field(None, max_length=SUMMARY_MESSAGE_MAX)
    ServerCount: int = 0
    Launched: int = 0
    Failed: int = 0
    TimedOut: int = 0
    Skipped: int = 0
    Unknown: int = 0
    JobCount: int = 0
    MissedChecks: int = 0
    Accounts: list[str] = Field(default_factory=list)  # the accounts of its servers

    @classmethod
    def of(cls, wave: WaveRecord) -> WaveSummary:
        statuses = [server.Status for server in wave.Servers]
        return cls(
            WaveNumber=wave.WaveNumber,
            WaveName=wave.WaveName,
            ProtectionGroupId=wave.ProtectionGroupId,
            Region=wave.Region,
            Impact=wave.Impact,
            Status=wave.Status,
            StartTime=wave.StartTime,
            EndTime=wave.EndTime,
            ErrorMessage=truncate(wave.ErrorMessage, SUMMARY_MESSAGE_MAX) if wave.ErrorMessage else None,
            ServerCount=len(statuses),
            Launched=statuses.count("LAUNCHED"),
            Failed=statuses.count("FAILED"),
            TimedOut=statuses.count("TIMED_OUT"),
            Skipped=statuses.count("SKIPPED"),
            Unknown=statuses.count("UNKNOWN"),
            JobCount=len(wave.JobIds),
            MissedChecks=wave.MissedChecks,
            Accounts=sorted({server.Account for server in wave.Servers if server.Account}),
        )


CleanupStatus = Literal["PLANNED", "WAITING", "TERMINATING", "COMPLETED", "FAILED", "KEPT", "NOT_RUN"]
OPEN_CLEANUP_STATUSES = ("PLANNED", "WAITING", "TERMINATING")
CLEANUP_JOBS_MAX = 60  # TerminateRecoveryInstances takes 200 instances: 10,000 servers need 50 jobs


class DrillCleanupRecord(_Record):
    """Options.DrillCleanup on the execution's record: planned at the start, waited for at the end, then the
    TERMINATE jobs it started and how they ended (lambdas/core/cleanup.py)."""

    Status: CleanupStatus = "PLANNED"
    AfterMinutes: int
    OnFailure: Literal["TERMINATE", "KEEP"] = "TERMINATE"
    StartedAt: int | None = None  # when the first TerminateRecoveryInstances was called
    EndedAt: int | None = None
    JobIds: list[str] = Field(default_factory=list, max_length=CLEANUP_JOBS_MAX)  # the first ones
    JobCount: int = 0  # TERMINATE jobs in all (10,000 instances take 50; a look re-terminating one adds one)
    Terminated: int = 0  # recovery instances the TERMINATE jobs ended
    Detail: str | None = Field(None, max_length=WAVE_MESSAGE_MAX)


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
    Waves: list[WaveSummary] = Field(default_factory=list)
    ResumedFrom: str | None = None  # the execution this one resumed (execution input ResumeFrom)
    ResumedBy: str | None = None  # the execution that resumed this one: an execution is resumed once
    Cleanup: DrillCleanupRecord | None = None  # Options.DrillCleanup: what was terminated after the drill
    PlanVersion: str | None = None  # the plan it ran: lambdas/core/plan_version.py, written by Prepare
    StartedBy: str | None = Field(None, max_length=STARTED_BY_MAX)  # the caller's ARN (execution input StartedBy)
    Scheduled: bool | None = None  # started by the plan's drill schedule (execution input Scheduled)
    PointInTime: int | None = None  # execution input PointInTime (epoch seconds): what its servers recover to
    SnapshotSkewSeconds: int | None = None  # how far apart the recovery snapshots chosen for PointInTime are
    # `drsctl run cancel`: who stopped it (the caller's ARN, from STS GetCallerIdentity), why, and when
    CancelledBy: str | None = None
    CancelReason: str | None = Field(None, max_length=WAVE_MESSAGE_MAX)
    CancelledAt: int | None = None


def truncate(text: str, limit: int = MESSAGE_MAX) -> str:
    """At most `limit` UTF-8 bytes (what DynamoDB counts); a message's closing "What to do:" sentence is kept whole
    and its story shortened instead."""
    if _utf8(text) <= limit:
        return text
    story, mark, action = text.partition(ACTION_MARK)
    tail = mark + action
    if mark and _utf8(tail) < limit // 2:
        return _cut(story, limit - _utf8(tail) - _utf8("… ")).rstrip() + "… " + tail
    return _cut(text, limit - _utf8("…")) + "…"


def _utf8(text: str) -> int:
    return len(text.encode())


def _cut(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-8 bytes (never half a character)."""
    return text.encode()[: max(0, limit)].decode(errors="ignore")


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
        {
            str(group_id)
            for wave in plan.get("Waves", [])
            for group_id in [wave.get("ProtectionGroupId"), *(wave.get("ProtectionGroupIds") or [])]
            if group_id
        }
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
# (ACTIVE or UNRESOLVED; CLEANUP while its drill cleanup is still to end): the sparse index OpenExecutions lists
# exactly those, for the sweeper.
OPEN_ATTRIBUTE = "Open"
OPEN_INDEX = "OpenExecutions"
OPEN_FOR_CLEANUP = "CLEANUP"  # ended, with its drill cleanup still to run or running


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
    for state in ("ACTIVE", "UNRESOLVED", OPEN_FOR_CLEANUP):
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


def close_execution(
    record: ExecutionRecord, changed_waves: list[WaveRecord], *, exists: bool, unresolved: bool
) -> bool:
    """Write the terminal status once; returns False when another path already ended it (first writer wins).

    The waves that changed are written to their own ExecutionWaves items first (so no wave stays open), then the
    ExecutionHistory item gets its terminal fields and every wave's summary. `unresolved`: DRS could not be asked
    about every job of the execution; the item stays in the OpenExecutions index so the sweeper asks again later.
    """
    assert record.Status not in ACTIVE_EXECUTION_STATUSES
    history = table(EXECUTION_HISTORY_TABLE)
    for wave in changed_waves:
        try:
            put_wave(record.ExecutionId, wave)
        except WaveClosedError:  # a wave step ended it meanwhile: its own ending stands
            ended = get_wave(record.ExecutionId, wave.WaveNumber)
            record.Waves[wave.WaveNumber - 1] = WaveSummary.of(ended)
    try:
        if not exists:
            item = record.model_dump()
            if unresolved:
                item[OPEN_ATTRIBUTE] = "UNRESOLVED"
            history.put_item(Item=to_item(item), ConditionExpression=Attr("ExecutionId").not_exists())
            return True
        values: dict[str, Any] = {
            ":status": record.Status,
            ":end": record.EndTime,
            ":message": record.ErrorMessage,
            ":waves": [summary.model_dump() for summary in record.Waves],
        }
        update = "SET #status = :status, EndTime = :end, ErrorMessage = :message, Waves = :waves"
        if record.Cleanup is not None:
            update += ", Cleanup = :cleanup"
            values[":cleanup"] = record.Cleanup.model_dump()
        if unresolved:
            update += ", #open = :unresolved"
            values[":unresolved"] = "UNRESOLVED"
        elif record.Cleanup is not None and record.Cleanup.Status in OPEN_CLEANUP_STATUSES:
            # the drill cleanup runs after the end: the sweeper watches it until it ends (a lost stop event)
            update += ", #open = :watched"
            values[":watched"] = OPEN_FOR_CLEANUP
        else:
            update += " REMOVE #open"
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
    for wave in changed_waves:
        put_wave(record.ExecutionId, wave, reopen=True)
        record.Waves[wave.WaveNumber - 1] = WaveSummary.of(wave)
    values: dict[str, Any] = {
        ":waves": [summary.model_dump() for summary in record.Waves],
        ":message": record.ErrorMessage,
    }
    update = "SET Waves = :waves, ErrorMessage = :message"
    if not unresolved and record.Cleanup is not None and record.Cleanup.Status in OPEN_CLEANUP_STATUSES:
        update += ", #open = :watched"  # its drill cleanup is still to end: the sweeper keeps watching it
        values[":watched"] = OPEN_FOR_CLEANUP
    elif not unresolved:
        update += " REMOVE #open"
    names = {} if unresolved else {"ExpressionAttributeNames": {"#open": OPEN_ATTRIBUTE}}
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(record.ExecutionId, record.PlanId),
        UpdateExpression=update,
        ExpressionAttributeValues=to_item(values),
        **names,
    )


def put_execution_waves(record: ExecutionRecord, waves: list[WaveRecord]) -> None:
    """Write the resolved waves (their items and server pages) and move the record to POLLING with their summaries.

    Refused (ConditionalCheckFailed) when the record is no longer PENDING: the execution was stopped while Prepare
    ran, and the reconcile path has ended it. Prepare then releases what it took.
    """
    history = table(EXECUTION_HISTORY_TABLE)
    client = history.meta.client
    items = [item for wave in waves for item in _wave_items(record.ExecutionId, wave, pages=None)]
    # Each batch of wave items is written only while the record is still PENDING (checked in the same transaction):
    # a stop that ends the record while Prepare runs leaves no wave behind that nobody will close.
    for batch in batched(items, TRANSACTION_ITEMS_MAX - 1):
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": history.name,
                            "Key": _key(record.ExecutionId, record.PlanId),
                            "ConditionExpression": "#status = :pending",
                            "ExpressionAttributeNames": {"#status": "Status"},
                            "ExpressionAttributeValues": {":pending": "PENDING"},
                        }
                    },
                    *({"Put": {"TableName": table(EXECUTION_WAVES_TABLE).name, "Item": item}} for item in batch),
                ]
            )
        except client.exceptions.TransactionCanceledException as cancelled:
            raise _cancelled(
                cancelled, RecordEndedError(f"Execution {record.ExecutionId} is no longer PENDING"), "the waves"
            ) from cancelled
    record.Waves = [WaveSummary.of(wave) for wave in waves]
    try:
        history.update_item(
            Key=_key(record.ExecutionId, record.PlanId),
            UpdateExpression="SET Waves = :waves, #status = :status, Warnings = :warnings",
            # POLLING too: the SDK's retry of this very update, after its answer was lost, must not fail on itself
            ConditionExpression=Attr("Status").is_in(["PENDING", "POLLING"]),
            ExpressionAttributeNames={"#status": "Status"},
            ExpressionAttributeValues=to_item(
                {
                    ":waves": [s.model_dump() for s in record.Waves],
                    ":status": record.Status,
                    ":warnings": record.Warnings,
                }
            ),
        )
    except client.exceptions.ConditionalCheckFailedException:
        raise RecordEndedError(f"Execution {record.ExecutionId} has ended") from None


# -- waves: one item collection per wave ---------------------------------------------------------------------------


def wave_key(wave_number: int, page: int | None = None) -> str:
    """`0003` for wave 3, `0003#002` for its second page of servers: one Query on the prefix reads the wave."""
    return f"{wave_number:04d}" if page is None else f"{wave_number:04d}#{page:03d}"


def get_wave(execution_id: str, wave_number: int) -> WaveRecord:
    """A wave with all its servers: its item and its pages, in one (paginated) Query."""
    items = _query(Key("ExecutionId").eq(execution_id) & Key("WaveKey").begins_with(wave_key(wave_number)))
    waves = _assemble(items)
    if not waves:
        raise ExecutionRecordError(f"Execution {execution_id} has no wave number {wave_number}")
    return waves[0]


def wave_head(execution_id: str, wave_number: int) -> WaveRecord | None:
    """A wave without its servers (its own item only): enough to read how it ended and what its jobs took."""
    item = (
        table(EXECUTION_WAVES_TABLE)
        .get_item(Key={"ExecutionId": execution_id, "WaveKey": wave_key(wave_number)}, ConsistentRead=True)
        .get("Item")
    )
    return WaveRecord.model_validate(from_item(item)) if item is not None else None


def find_wave(execution_id: str, wave_number: int) -> WaveRecord | None:
    try:
        return get_wave(execution_id, wave_number)
    except ExecutionRecordError:
        return None


def execution_waves(execution_id: str) -> list[WaveRecord]:
    """Every wave of an execution with all its servers, in wave order (one paginated Query)."""
    return _assemble(_query(Key("ExecutionId").eq(execution_id)))


def put_wave(execution_id: str, wave: WaveRecord, *, reopen: bool = False) -> None:
    """Write a wave: its item and the pages of servers that changed since it was read, in one transaction.

    Refused (WaveClosedError) once the stored wave has ended, unless `reopen`: a step still running when the
    reconcile path closed the wave (the execution was stopped) must not bring it back to life.
    """
    waves = table(EXECUTION_WAVES_TABLE)
    client = waves.meta.client  # the resource's client: it serializes plain values itself
    items = _wave_items(execution_id, wave, pages=wave._stored_pages)
    head, pages = items[0], items[1:]
    put: dict[str, Any] = {"TableName": waves.name, "Item": head}
    if not reopen:
        put["ConditionExpression"] = "attribute_not_exists(ExecutionId) OR #status IN (:pending, :starting, :polling)"
        put["ExpressionAttributeNames"] = {"#status": "Status"}
        put["ExpressionAttributeValues"] = {f":{s.lower()}": s for s in OPEN_WAVE_STATUSES}
    try:
        client.transact_write_items(
            TransactItems=[{"Put": put}, *({"Put": {"TableName": waves.name, "Item": page}} for page in pages)]
        )
    except client.exceptions.TransactionCanceledException as cancelled:
        closed = WaveClosedError(f"Wave {wave.WaveNumber} of execution {execution_id} has already ended")
        raise _cancelled(cancelled, closed, f"wave {wave.WaveNumber}") from cancelled
    wave._stored_pages = _page_digests(wave)


def _cancelled(cancelled: Exception, condition_failed: Exception, what: str) -> Exception:
    """What a cancelled transaction whose first item is the guarded one means: `condition_failed` when its condition
    failed (the record or wave has ended), else a conflict or throttle the state machine retries."""
    reasons = [str(r.get("Code", "None")) for r in getattr(cancelled, "response", {}).get("CancellationReasons", [])]
    if reasons and reasons[0] == "ConditionalCheckFailed":
        return condition_failed
    return TransactionConflictError(f"Writing {what} was cancelled ({', '.join(sorted(set(reasons))) or 'no reason'})")


def claim_resume(execution_id: str, plan_id: str, by: str, *, replacing: str | None = None) -> str | None:
    """Record that `by` resumes this execution (once: a second resume would launch again what the first resume
    launched). Returns the execution that already holds the claim, None when `by` holds it now. `replacing`: take
    over the claim of that execution (it ended having launched nothing)."""
    history = table(EXECUTION_HISTORY_TABLE)
    # the record is written with every field, so an unclaimed one holds a NULL
    held = Attr("ResumedBy").not_exists() | Attr("ResumedBy").attribute_type("NULL") | Attr("ResumedBy").eq(by)
    if replacing is not None:
        held = held | Attr("ResumedBy").eq(replacing)
    try:
        history.update_item(
            Key=_key(execution_id, plan_id),
            UpdateExpression="SET ResumedBy = :by",
            ConditionExpression=Attr("ExecutionId").exists() & held,
            ExpressionAttributeValues={":by": by},
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return get_execution(execution_id, plan_id).ResumedBy or "another execution"
    return None


def record_cancel(execution_id: str, plan_id: str, *, by: str, reason: str, at: int) -> bool:
    """Who cancelled an execution and why, on its record (only the three fields; never a record that is not there:
    a cancel before Prepare wrote it leaves the who and why in the stop's cause alone). False when there is none."""
    history = table(EXECUTION_HISTORY_TABLE)
    try:
        history.update_item(
            Key=_key(execution_id, plan_id),
            UpdateExpression="SET CancelledBy = :by, CancelReason = :reason, CancelledAt = :at",
            ConditionExpression=Attr("ExecutionId").exists(),
            ExpressionAttributeValues={":by": by, ":reason": truncate(reason, WAVE_MESSAGE_MAX), ":at": at},
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def set_cleanup(execution_id: str, plan_id: str, cleanup: DrillCleanupRecord, *, expected: tuple[str, ...]) -> bool:
    """The drill cleanup's progress on the ended record, if its status is still one of `expected` (False if not:
    another path, the execution's stop, moved it on meanwhile)."""
    history = table(EXECUTION_HISTORY_TABLE)
    try:
        history.update_item(
            Key=_key(execution_id, plan_id),
            UpdateExpression="SET Cleanup = :cleanup",
            ConditionExpression=Attr("Cleanup.Status").is_in(list(expected)),
            ExpressionAttributeValues=to_item({":cleanup": cleanup.model_dump()}),
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    if cleanup.Status not in OPEN_CLEANUP_STATUSES:  # ended: the sweeper no longer needs to watch it
        with contextlib.suppress(history.meta.client.exceptions.ConditionalCheckFailedException):
            history.update_item(
                Key=_key(execution_id, plan_id),
                UpdateExpression="REMOVE #open",
                ConditionExpression=Attr(OPEN_ATTRIBUTE).eq(OPEN_FOR_CLEANUP),
                ExpressionAttributeNames={"#open": OPEN_ATTRIBUTE},
            )
    return True


def start_cleanup_now(record: ExecutionRecord, cleanup: DrillCleanupRecord) -> bool:
    """An operator's cleanup of an ended drill (`drsctl run cleanup`): TERMINATING on the record, from whatever it
    said (no cleanup, KEPT, NOT_RUN, FAILED, COMPLETED), only if the record is ended and unchanged since read; the
    sweeper watches it (Open: CLEANUP) until it ends."""
    history = table(EXECUTION_HISTORY_TABLE)
    before = record.Cleanup
    unchanged = (
        Attr("Cleanup").not_exists() | Attr("Cleanup").attribute_type("NULL")
        if before is None
        else Attr("Cleanup.Status").eq(before.Status)
    )
    try:
        history.update_item(
            Key=_key(record.ExecutionId, record.PlanId),
            UpdateExpression="SET Cleanup = :cleanup, #open = :watched",
            ConditionExpression=Attr("Status").is_in(["COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"])
            & unchanged,
            ExpressionAttributeNames={"#open": OPEN_ATTRIBUTE},
            ExpressionAttributeValues=to_item({":cleanup": cleanup.model_dump(), ":watched": OPEN_FOR_CLEANUP}),
        )
    except history.meta.client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def set_point_in_time(record: ExecutionRecord) -> None:
    """The PointInTime the execution recovers to (a resume's is the execution's it resumes), while it is PENDING."""
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(record.ExecutionId, record.PlanId),
        UpdateExpression="SET PointInTime = :moment",
        ConditionExpression=Attr("Status").eq("PENDING"),
        ExpressionAttributeValues={":moment": record.PointInTime},
    )


def set_snapshot_skew(execution_id: str, plan_id: str, seconds: int) -> None:
    """How far apart the recovery snapshots chosen for its PointInTime are (while the execution runs)."""
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(execution_id, plan_id),
        UpdateExpression="SET SnapshotSkewSeconds = :skew",
        ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
        ExpressionAttributeValues={":skew": seconds},
    )


def record_missed_check(execution_id: str, wave_number: int, missed: int, error: str) -> None:
    """A check that got no answer, counted on the wave's item (only the two fields)."""
    table(EXECUTION_WAVES_TABLE).update_item(
        Key={"ExecutionId": execution_id, "WaveKey": wave_key(wave_number)},
        UpdateExpression="SET MissedChecks = :missed, LastCheckError = :error",
        ConditionExpression=Attr("Status").is_in(list(OPEN_WAVE_STATUSES)),
        ExpressionAttributeValues={":missed": missed, ":error": truncate(error, WAVE_MESSAGE_MAX)},
    )


def set_wave_steps(execution_id: str, wave_number: int, steps: list[dict[str, Any]], *, read_version: int) -> None:
    """The wave's runbook steps (only that field: the steps after a wave run once the wave itself has ended), if
    they are still at `read_version` (StepsChangedError otherwise: someone wrote them since they were read)."""
    waves = table(EXECUTION_WAVES_TABLE)
    try:
        waves.update_item(
            Key={"ExecutionId": execution_id, "WaveKey": wave_key(wave_number)},
            UpdateExpression="SET Steps = :steps, StepsVersion = :next",
            ConditionExpression=Attr("ExecutionId").exists()
            & (Attr("StepsVersion").not_exists() | Attr("StepsVersion").eq(read_version))
            if read_version == 0
            else Attr("StepsVersion").eq(read_version),
            ExpressionAttributeValues={":steps": to_item(steps), ":next": read_version + 1},
        )
    except waves.meta.client.exceptions.ConditionalCheckFailedException:
        raise StepsChangedError(
            f"The runbook steps of wave {wave_number} of execution {execution_id} changed since they were read "
            "(the execution ended meanwhile, or an approver's answer was recorded)"
        ) from None


def publish_wave(execution_id: str, plan_id: str, wave: WaveRecord) -> None:
    """Write a wave and its summary into the execution's ExecutionHistory item; refused once the execution ended."""
    put_wave(execution_id, wave)
    table(EXECUTION_HISTORY_TABLE).update_item(
        Key=_key(execution_id, plan_id),
        UpdateExpression=f"SET Waves[{wave.WaveNumber - 1}] = :wave",
        ConditionExpression=Attr("Status").is_in(list(ACTIVE_EXECUTION_STATUSES)),
        ExpressionAttributeValues={":wave": to_item(WaveSummary.of(wave).model_dump())},
    )


def _query(condition: Any) -> list[dict[str, Any]]:
    waves = table(EXECUTION_WAVES_TABLE)
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
    while True:
        page = waves.query(**arguments)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _assemble(items: list[dict[str, Any]]) -> list[WaveRecord]:
    """Waves from their items, in key order: each wave's item, then its pages of servers."""
    waves: list[WaveRecord] = []
    for item in sorted(items, key=lambda i: str(i["WaveKey"])):
        plain = from_item(item)
        if "#" not in str(plain["WaveKey"]):
            waves.append(WaveRecord.model_validate(plain))
        elif waves and waves[-1].WaveNumber == plain["WaveNumber"]:
            waves[-1].Servers.extend(ServerRecord.model_validate(server) for server in plain["Servers"])
    for wave in waves:
        wave._stored_pages = _page_digests(wave)
    return waves


def _pages(wave: WaveRecord) -> list[list[ServerRecord]]:
    return list(batched(wave.Servers, SERVERS_PER_PAGE))


def _page_digests(wave: WaveRecord) -> dict[int, str]:
    return {
        number: hashlib.sha256(json.dumps([s.model_dump() for s in servers]).encode()).hexdigest()
        for number, servers in enumerate(_pages(wave), start=1)
    }


def _wave_items(execution_id: str, wave: WaveRecord, *, pages: dict[int, str] | None) -> list[dict[str, Any]]:
    """The wave's item, then the pages of servers that differ from `pages` (all of them when None)."""
    head = wave.model_dump(exclude={"Servers"})
    items = [
        to_item(
            {
                "ExecutionId": execution_id,
                "WaveKey": wave_key(wave.WaveNumber),
                **head,
                "ServerCount": len(wave.Servers),
                "PageCount": len(_pages(wave)),
            }
        )
    ]
    digests = _page_digests(wave)
    for number, servers in enumerate(_pages(wave), start=1):
        if pages is None or pages.get(number) != digests[number]:
            items.append(
                to_item(
                    {
                        "ExecutionId": execution_id,
                        "WaveKey": wave_key(wave.WaveNumber, number),
                        "WaveNumber": wave.WaveNumber,
                        "Page": number,
                        "Servers": [s.model_dump(exclude_none=True) for s in servers],
                    }
                )
            )
    return items
