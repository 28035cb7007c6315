"""The drill report's JSON from a deployed stack's records: what `drsctl run report NAME` renders.

It reads what the stack keeps, through the boto3 clients it is given: the ExecutionHistory item and the
ExecutionWaves items (DynamoDB), the execution, its history and its definition (Step Functions), the jobs and the
recovery points (DRS, one client per region). The result has the shape a rehearsal writes (docs/report.schema.json);
figures only a rehearsal can measure (Lambda wall times, DRS calls, the critical path) are null.

DRS is read in each server's account and Region, with the CLI's credentials (`drs`: a client per (account, Region),
lambdas/core/accounts.py). A member account's role trusts only the stack's functions, so from a laptop its DRS
usually cannot be read: the report is built all the same, from the records, and says in its `warnings` what it could
not read, where and why (its servers' job times and recovery points are then null, never guessed).

One difference from a rehearsal's report, from what AWS keeps: DRS records no per-server launch time (its job log
has LAUNCH_START but no launch end), so a launched server's `launchedAt` is its job's endDateTime, when the last
server of its job settled: never earlier than the server's launch, at most the job's slowest server later. A
server's `startedAt` is its job's creationDateTime, as in the rehearsal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from drsctl.report import activity as activity_facts
from drsctl.report import audit, cloudtrail, judge, rpo
from drsctl.report import history as history_facts
from drsctl.report.schema import LOCAL_FIGURES
from lambdas.core import accounts
from lambdas.core.accounts import Target
from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord, from_item

JOB_IDS_PER_CALL = 1000  # DescribeJobs filters.jobIDs
HISTORY_PAGE = 1000  # GetExecutionHistory maxResults


def source_of(stepfunctions: Any) -> str:
    """ "sandbox" when the records are served on this machine (drsctl sandbox answers on a loopback address: not
    AWS, and the page says so), else "deployed"."""
    host = urlsplit(str(stepfunctions.meta.endpoint_url)).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost" or host.endswith(".localhost")
    return "sandbox" if loopback else "deployed"


class RunReportError(LookupError):
    """The records of that execution cannot be found or read; the message says which and what to check."""


@dataclass(frozen=True)
class Sources:
    """Where the records are: boto3 clients and the stack's table names (its outputs)."""

    dynamodb: Any  # boto3.client("dynamodb")
    stepfunctions: Any  # boto3.client("stepfunctions")
    drs: Callable[[Target], Any]  # (account, Region) -> a DRS client there (lambdas/core/accounts.py's client)
    history_table: str  # ExecutionHistoryTable output
    waves_table: str  # ExecutionWavesTable output
    cloudtrail: Any = None  # boto3.client("cloudtrail"): who started it, when the record does not say (best effort)


def build_report(
    execution_id: str, sources: Sources, *, started_by: str | None = None, source: str = "deployed"
) -> dict[str, Any]:
    """The report's JSON (with targets judged and the verdict) for one execution of the deployed state machine.

    `started_by`: what the caller says of who started it, used only when neither the record nor CloudTrail says.
    `source`: "deployed" (a stack on AWS) or "sandbox" (drsctl sandbox: not on AWS, and the page says so)."""
    item = _execution_item(execution_id, sources)
    record = ExecutionRecord.model_validate(item)
    if not record.ExecutionArn:
        raise RunReportError(f"execution {execution_id}: its ExecutionHistory record has no ExecutionArn")
    described = sources.stepfunctions.describe_execution(executionArn=record.ExecutionArn)
    events = _history(record.ExecutionArn, sources.stepfunctions)
    definition = sources.stepfunctions.describe_state_machine_for_execution(executionArn=record.ExecutionArn)
    waves = _waves(execution_id, sources)
    start = described["startDate"].timestamp()
    stop = described["stopDate"].timestamp() if described.get("stopDate") else None
    unread = Unread()
    jobs = _job_times(waves, sources.drs, unread)
    points = rpo.recovery_points(rpo.launched(waves), sources.drs, unread)

    def since(moment: float | None) -> float | None:
        return None if moment is None else round(moment - start, 1)

    facts = audit.execution_facts(item, stop)
    trail = sources.cloudtrail
    who, how = audit.started_by(
        facts.pop("startedBy"),
        cloudtrail=(lambda: cloudtrail.started_by(trail, record.ExecutionArn or "", described["startDate"]))
        if trail is not None
        else None,
        given=started_by,
    )
    activity = activity_facts.count(events)
    cleanup = _cleanup(item, sources.drs, _targets(waves), since, unread)
    report: dict[str, Any] = {
        "source": source,
        "status": record.Status,
        "executionId": execution_id,
        "mode": record.ExecutionType or "DRILL",
        "planId": record.PlanId,
        "planName": record.PlanName,
        "startedBy": who,
        "startedBySource": how,
        **facts,
        "startTime": rpo.iso8601(start),
        "endTime": rpo.iso8601(stop) if stop is not None else None,
        "stepFunctionsStatus": described["status"],
        "stepFunctionsError": described.get("error"),
        "errorMessage": record.ErrorMessage,
        "makespanSeconds": round((stop if stop is not None else start) - start, 1),
        "historyEvents": len(events),
        "historyEventsTotal": len(events),
        "stateTransitions": sum(1 for event in events if event["type"].endswith("StateEntered")),
        "warnings": [*record.Warnings, *unread.lines()],
        "targets": judge.targets(history_facts.resolved_options(events)),
        "stateCounts": history_facts.state_counts(events),
        "transitionCounts": history_facts.transition_counts(events),
        "stateMachine": history_facts.state_machine_graph(definition["definition"]),
        "waves": [_wave(wave, jobs, points, since, activity) for wave in waves],
        "cleanup": cleanup,
        "resumedFrom": item.get("ResumedFrom"),
        "pointInTime": rpo.iso8601(record.PointInTime) if record.PointInTime is not None else None,
        "snapshotSkewSeconds": record.SnapshotSkewSeconds,
        "activity": activity.execution_json(),
        **dict.fromkeys((*LOCAL_FIGURES, "maxItemTable")),
        **audit.generated(_stack_now(described)),
    }
    return judge.complete(report)


def _execution_item(execution_id: str, sources: Sources) -> dict[str, Any]:
    """The ExecutionHistory item as plain values: the record's fields, and those newer writers add (Cleanup,
    ResumedFrom) that the report reads as they are."""
    answer = sources.dynamodb.query(
        TableName=sources.history_table,
        KeyConditionExpression="ExecutionId = :id",
        ExpressionAttributeValues={":id": {"S": execution_id}},
        ConsistentRead=True,
        Limit=1,
    )
    items = answer.get("Items", [])
    if not items:
        raise RunReportError(
            f"execution {execution_id}: no record in table {sources.history_table}; check the execution name (its "
            "ExecutionId) and the stack's ExecutionHistoryTable output"
        )
    return _plain(items[0])


def _waves(execution_id: str, sources: Sources) -> list[WaveRecord]:
    """Every wave with its servers: the wave's item (`0003`) and its pages of servers (`0003#001`, ...)."""
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": sources.waves_table,
        "KeyConditionExpression": "ExecutionId = :id",
        "ExpressionAttributeValues": {":id": {"S": execution_id}},
        "ConsistentRead": True,
    }
    while True:
        page = sources.dynamodb.query(**arguments)
        items.extend(_plain(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    waves: list[WaveRecord] = []
    for item in sorted(items, key=lambda i: str(i["WaveKey"])):
        if "#" not in str(item["WaveKey"]):
            waves.append(WaveRecord.model_validate(item))
        elif waves and waves[-1].WaveNumber == item.get("WaveNumber"):
            waves[-1].Servers.extend(ServerRecord.model_validate(server) for server in item.get("Servers", []))
    return waves


def _history(execution_arn: str, stepfunctions: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in stepfunctions.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig={"PageSize": HISTORY_PAGE}
    ):
        events.extend(page["events"])
    return events


class Unread:
    """The (account, Region)s whose DRS this report could not read, what and why: lines of the report's warnings,
    never a failed report."""

    def __init__(self) -> None:
        self._seen: dict[Target, tuple[list[str], str]] = {}

    def __call__(self, target: Target, what: str, error: Exception) -> None:
        whats = self._seen.setdefault(target, ([], _why_unread(target, error)))[0]
        if what not in whats:
            whats.append(what)

    def lines(self) -> list[str]:
        return [
            f"This report could not read DRS in {target} ({', '.join(whats)}): {why}. The records' statuses stand; "
            "what only DRS knows there is left empty (null), never guessed"
            for target, (whats, why) in sorted(self._seen.items())
        ]


def _why_unread(target: Target, error: Exception) -> str:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code") or "error")
        if error.operation_name == "AssumeRole":
            return (
                f"the member role {accounts.role_arn(target.account)} could not be assumed with the credentials "
                f"drsctl runs with ({code}): it trusts only the stack's functions (docs/accounts.md); read that "
                "account's DRS console, or run drsctl with credentials of that account"
            )
        message = str(error.response.get("Error", {}).get("Message") or "")[:200]
        return f"{error.operation_name} was refused ({code}: {message})"
    return f"DRS did not answer ({type(error).__name__}: {str(error)[:200]})"


def _job_times(
    waves: list[WaveRecord], drs: Callable[[Target], Any], unread: Unread
) -> dict[str, tuple[float, float | None]]:
    """Job ID -> when DRS created it (its servers' StartRecovery) and when it ended (epoch seconds), asked in each
    job's account and Region (a wave of several groups spans several)."""
    by_target: dict[Target, list[str]] = {}
    for wave in waves:
        for server in wave.Servers:
            jobs = by_target.setdefault(wave.target_of(server), [])
            if server.RecoveryJobId and server.RecoveryJobId not in jobs:
                jobs.append(server.RecoveryJobId)
    times: dict[str, tuple[float, float | None]] = {}
    for target, job_ids in sorted(by_target.items()):
        if not job_ids:
            continue
        try:
            found = _described_jobs(drs(target), job_ids)
        except (BotoCoreError, ClientError) as error:
            unread(target, "its servers' job times", error)
            continue
        for job in found:
            created = rpo.epoch(job.get("creationDateTime"))
            if created is not None:
                times[job["jobID"]] = (created, rpo.epoch(job.get("endDateTime")))
    return times


def _described_jobs(client: Any, job_ids: list[str]) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for first in range(0, len(job_ids), JOB_IDS_PER_CALL):
        pages = client.get_paginator("describe_jobs").paginate(
            filters={"jobIDs": job_ids[first : first + JOB_IDS_PER_CALL]}
        )
        for page in pages:
            jobs.extend(page.get("items", []))
    return jobs


def _targets(waves: list[WaveRecord]) -> list[Target]:
    return sorted({wave.target_of(server) for wave in waves for server in wave.Servers})


def _cleanup(
    item: dict[str, Any],
    drs: Callable[[Target], Any],
    targets: list[Target],
    since: Callable[[float | None], float | None],
    unread: Unread,
) -> dict[str, Any] | None:
    """The record's drill cleanup (Cleanup: Status, JobIds, StartedAt, EndedAt, Detail), with the recovery instances
    its TERMINATE jobs ended, as DRS lists them (DescribeJobs in each account and Region of the waves). Its wait
    began when the drill ended (the record's EndTime)."""
    cleanup = item.get("Cleanup")
    if not isinstance(cleanup, dict):
        return None
    job_ids = [str(job) for job in cleanup.get("JobIds") or []]
    terminated: list[str] = []
    for target in targets if job_ids else []:
        try:
            jobs = _described_jobs(drs(target), job_ids)
        except (BotoCoreError, ClientError) as error:
            unread(target, "the instances its drill cleanup terminated", error)
            continue
        terminated += [
            server["recoveryInstanceID"]
            for job in jobs
            for server in job.get("participatingServers", [])
            if server.get("launchStatus") == "TERMINATED" and server.get("recoveryInstanceID")
        ]
    return {
        "status": str(cleanup.get("Status") or "UNKNOWN"),
        "terminated": sorted(set(terminated)),
        "jobIds": job_ids,
        "startedAt": since(cleanup.get("StartedAt")),
        "endedAt": since(cleanup.get("EndedAt")),
        "detail": cleanup.get("Detail"),
        "afterMinutes": cleanup.get("AfterMinutes"),
        "waitStartedAt": since(item.get("EndTime")),
    }


def _wave(
    wave: WaveRecord,
    jobs: dict[str, tuple[float, float | None]],
    points: dict[str, float],
    since: Callable[[float | None], float | None],
    activity: activity_facts.Activity,
) -> dict[str, Any]:
    steps = sorted(wave.Steps, key=lambda s: (s["Phase"] != "BEFORE", int(s["Index"])))
    return {
        "number": wave.WaveNumber,
        "name": wave.WaveName,
        "status": wave.Status,
        "region": wave.Region,
        "impact": wave.Impact,
        "startedAt": audit.from_start(since, wave.StartTime),
        "endedAt": audit.from_start(since, wave.EndTime),
        "errorMessage": wave.ErrorMessage,
        "missedChecks": wave.MissedChecks,
        "jobIds": list(wave.JobIds),
        "steps": [
            {
                **audit.step_facts(step, since),
                **activity.step_json(wave.WaveNumber, str(step["Phase"]), int(step["Index"])),
            }
            for step in steps
        ],
        "activity": activity.wave_json(wave.WaveNumber),
        "servers": [_server(server, jobs.get(server.RecoveryJobId or ""), points, since) for server in wave.Servers],
    }


def _server(
    server: ServerRecord,
    job: tuple[float, float | None] | None,
    points: dict[str, float],
    since: Callable[[float | None], float | None],
) -> dict[str, Any]:
    created, ended = job if job is not None else (None, None)
    return {
        "sourceServerId": server.SourceServerId,
        "status": server.Status,
        "launchStatus": None,
        "recoveryInstanceId": server.InstanceId,
        "jobId": server.RecoveryJobId,
        "startedAt": since(created),
        "launchedAt": since(ended) if server.Status == "LAUNCHED" else None,
        "error": server.Error,
        "hostname": server.Hostname,
        "recoveryPointAt": since(server.RecoveryPointTime or points.get(server.SourceServerId)),
        "account": server.Account,
        "region": server.Region,
        "recoverySnapshotId": server.RecoverySnapshotId,
    }


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB client item as plain values (numbers as int or float, as the records hold them)."""
    deserializer = TypeDeserializer()
    plain: dict[str, Any] = from_item({key: deserializer.deserialize(value) for key, value in item.items()})
    return plain


def _stack_now(response: dict[str, Any]) -> float | None:
    """Now as the stack tells time: the Date of its answer (AWS's clock; in the sandbox, the sandbox's, the clock
    every time of the report is in), None when it has none."""
    date = (response.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(str(date)).timestamp() if date else None
    except (TypeError, ValueError):
        return None
