"""Executions of the deployed state machine: start, read (the record, its waves, pending approvals), answer an
approval, stop, clean up a drill's instances, list. What each returns is plain data the commands print or dump.

An execution is named by its ExecutionId (the Step Functions execution name). Its story is in two tables: the
ExecutionHistory record (status, times, a summary per wave) and ExecutionWaves (each wave with its servers and its
runbook steps; a waiting approval's task token is on its step).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from drsctl.operate import vocabulary
from drsctl.operate.cleanup_view import cleanup_view
from drsctl.operate.stack import DeployedStack
from lambdas.core import cleanup as drill_cleanup
from lambdas.core import drs, records
from lambdas.core.accounts import Target
from lambdas.core.errors import PlanNotFoundError
from lambdas.core.plan import recovery_confirmation

Mode = Literal["DRILL", "RECOVERY"]
NAME_MAX = 80  # Step Functions execution names
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
REJECTED = "Rejected"  # the error a rejection is sent with (lambdas/core/runbook.py REJECTED)
ACTIVE = records.ACTIVE_EXECUTION_STATUSES


class OperateError(Exception):
    """A request that cannot be done as asked (no such execution, nothing to approve, ...): one line, and the fix."""


@dataclass
class PendingApproval:
    wave_number: int
    wave_name: str
    phase: str
    name: str
    started_at: int
    task_token: str

    def to_json(self) -> dict[str, Any]:
        return {
            "WaveNumber": self.wave_number,
            "WaveName": self.wave_name,
            "Phase": self.phase,
            "Name": self.name,
            "StartedAt": self.started_at,
        }


@dataclass
class Snapshot:
    """An execution as it stands: Step Functions' view, the record (None until Prepare writes it), the waves."""

    name: str
    described: dict[str, Any]
    record: records.ExecutionRecord | None
    waves: list[records.WaveRecord]
    now: float = field(default_factory=time.time)  # the stack's clock when read (the sandbox's runs ahead)
    callbacks: set[tuple[int, str, int]] | None = None  # the plan's Lambda steps that wait for a callback
    rto_minutes: float | None = None  # the plan's RTO target (drsctl/operate/plan_facts.py), for the countdown

    @property
    def running(self) -> bool:
        return self.described["status"] == "RUNNING" or (self.record is not None and self.record.Status in ACTIVE)

    @property
    def record_running(self) -> bool:
        """The execution's record is still open (its drill cleanup may keep Step Functions running after it)."""
        return self.record is None or self.record.Status in ACTIVE

    @property
    def status(self) -> str:
        """RUNNING, COMPLETED, PARTIAL, FAILED, CANCELLED or TIMED_OUT: the record's status once written, else Step
        Functions', in one vocabulary (drsctl/operate/vocabulary.py)."""
        return vocabulary.execution_state(self.record.Status if self.record else None, self.described["status"])

    @property
    def record_status(self) -> str | None:
        """The status the record stores (PENDING, POLLING, COMPLETED, ...), None before Prepare writes it."""
        return self.record.Status if self.record is not None else None

    @property
    def waiting_for(self) -> str | None:
        """What it waits for (approval, callback, health check, wait, cleanup), None when it is working or ended."""
        if not self.running:
            return None
        return vocabulary.waiting_for(self.record, self.waves, self.callbacks)

    @property
    def input(self) -> dict[str, Any]:
        try:
            value = json.loads(self.described.get("input") or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def approvals(self) -> list[PendingApproval]:
        return pending_approvals(self.waves)

    def to_json(self) -> dict[str, Any]:
        return {
            "ExecutionId": self.name,
            "ExecutionArn": self.described["executionArn"],
            "StepFunctionsStatus": self.described["status"],
            "Status": self.status,
            "RecordStatus": self.record_status,
            "waitingFor": self.waiting_for,
            "planVersion": self.record.PlanVersion if self.record is not None else None,
            "startedBy": self.record.StartedBy if self.record is not None else None,
            "cleanup": cleanup_view(self.record),
            "Input": self.input,
            "StartDate": _epoch(self.described.get("startDate")),
            "StopDate": _epoch(self.described.get("stopDate")),
            "Error": self.described.get("error"),
            "Cause": self.described.get("cause"),
            "Record": self.record.model_dump(mode="json") if self.record is not None else None,
            "Waves": [_wave_json(wave) for wave in self.waves],
            "PendingApprovals": [approval.to_json() for approval in self.approvals()],
        }


def _wave_json(wave: records.WaveRecord) -> dict[str, Any]:
    steps = [{key: value for key, value in step.items() if key != "TaskToken"} for step in wave.Steps]
    return {**wave.model_dump(mode="json", exclude={"PendingStart", "Steps"}), "Steps": steps}


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def pending_approvals(waves: list[records.WaveRecord]) -> list[PendingApproval]:
    """Approvals waiting for an answer: RUNNING approval steps that hold a task token."""
    found = []
    for wave in waves:
        for step in wave.Steps:
            if step.get("Kind") == "Approval" and step.get("Status") == "RUNNING" and step.get("TaskToken"):
                found.append(
                    PendingApproval(
                        wave_number=wave.WaveNumber,
                        wave_name=wave.WaveName,
                        phase=str(step.get("Phase")),
                        name=str(step.get("Name")),
                        started_at=int(step.get("StartedAt") or 0),
                        task_token=str(step["TaskToken"]),
                    )
                )
    return found


def default_name(plan_id: str, mode: Mode, now: float | None = None) -> str:
    """`<plan>-drill-20261129-201500`: readable, sortable, unique per second, at most 80 characters."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC).strftime("%Y%m%d-%H%M%S")
    suffix = f"-{mode.lower()}-{stamp}"
    return _NAME_UNSAFE.sub("-", plan_id)[: NAME_MAX - len(suffix)] + suffix


def execution_input(  # noqa: PLR0917 - each an optional field of the input
    plan_id: str,
    mode: Mode,
    confirm: str | None,
    resume_from: str | None,
    started_by: str | None = None,
    point_in_time: str | None = None,
) -> dict[str, Any]:
    """What StartExecution gets (docs/execution-input.schema.json)."""
    started: dict[str, Any] = {"PlanId": plan_id, "ExecutionType": mode}
    if mode == "RECOVERY":
        started["Confirm"] = confirm
    if resume_from is not None:
        started["ResumeFrom"] = resume_from
    if started_by is not None:
        started["StartedBy"] = started_by
    if point_in_time is not None:
        started["PointInTime"] = point_in_time
    return started


def stored_plan(stack: DeployedStack, plan_id: str) -> dict[str, Any]:
    """The stored plan with its protection groups (what Prepare will read)."""
    with stack.environment():
        try:
            return records.load_plan(plan_id)
        except PlanNotFoundError as error:
            raise OperateError(f"{error} (drsctl plan load FILE)") from error


def start(
    stack: DeployedStack,
    plan_id: str,
    mode: Mode,
    name: str,
    *,
    confirm: str | None,
    resume_from: str | None,
    started_by: str | None = None,
    point_in_time: str | None = None,
) -> dict[str, Any]:
    """StartExecution; a RECOVERY only with the confirmation that names the plan (checked here and by Prepare).
    `started_by`: the caller's ARN (sts:GetCallerIdentity), recorded by Prepare as the record's StartedBy;
    `point_in_time`: recover to that moment (execution input PointInTime)."""
    if mode == "RECOVERY" and confirm != recovery_confirmation(plan_id):
        raise OperateError(
            f"a RECOVERY of plan {plan_id} needs the confirmation {recovery_confirmation(plan_id)!r} "
            f"(got {confirm!r}): nothing was started"
        )
    started = execution_input(plan_id, mode, confirm, resume_from, started_by, point_in_time)
    client = boto3.client("stepfunctions", region_name=stack.region)
    try:
        response = client.start_execution(stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(started))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("ExecutionAlreadyExists", "InvalidName"):
            raise OperateError(
                f"--name {name}: {error.response['Error'].get('Message', code)}; choose another name (or leave "
                "--name out for a generated one)"
            ) from error
        raise
    return {
        "ExecutionId": name,
        "ExecutionArn": response["executionArn"],
        "Input": started,
        "ConsoleUrl": stack.console_url(name),
    }


def snapshot(stack: DeployedStack, name: str, *, with_waves: bool = True) -> Snapshot:
    """The execution called `name`: DescribeExecution, its record and (by default) its waves with their servers."""
    client = boto3.client("stepfunctions", region_name=stack.region)
    try:
        described: dict[str, Any] = client.describe_execution(executionArn=stack.execution_arn(name))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise OperateError(
                f"no execution {name!r} of {stack.state_machine_arn}: see drsctl run list for the executions"
            ) from error
        raise
    with stack.environment():
        record = records.find_execution_by_id(name)
        waves = records.execution_waves(name) if with_waves else []
    return Snapshot(name=name, described=described, record=record, waves=waves, now=stack_time(described))


def stack_time(response: dict[str, Any]) -> float:
    """Now, as the stack tells time: the Date of its answer (AWS's clock, or the sandbox's, which runs --speed times
    faster), else this machine's. Second resolution: what HH:MM:SS and the countdowns need."""
    date = (response.get("ResponseMetadata") or {}).get("HTTPHeaders", {}).get("date")
    try:
        return parsedate_to_datetime(str(date)).timestamp() if date else time.time()
    except (TypeError, ValueError):
        return time.time()


def check_resumable(stack: DeployedStack, earlier: str, plan_id: str) -> None:
    """An execution can be resumed from `earlier` only if that is an ended execution of the same plan."""
    found = snapshot(stack, earlier, with_waves=False)
    its_plan = found.input.get("PlanId") or (found.record.PlanId if found.record else None)
    if its_plan != plan_id:
        raise OperateError(
            f"--resume-from {earlier}: it ran plan {its_plan}, not {plan_id}; resume from one of its own"
        )
    if found.running:
        raise OperateError(f"--resume-from {earlier}: it is still running; cancel it first (drsctl run cancel)")
    record = found.record
    if record is not None and record.Status == "COMPLETED":
        raise OperateError(f"--resume-from {earlier}: it COMPLETED; there is nothing left to resume")
    if record is not None and record.ResumedBy:
        raise OperateError(
            f"--resume-from {earlier}: it was already resumed by {record.ResumedBy}; resume {record.ResumedBy} instead"
        )
    if record is not None and record.Cleanup is not None and record.Cleanup.Terminated:
        raise OperateError(
            f"--resume-from {earlier}: its drill instances were terminated by its cleanup; start the drill afresh"
        )


def answer_approval(
    stack: DeployedStack, name: str, *, reject: bool, reason: str | None, by: str
) -> tuple[PendingApproval, dict[str, Any]]:
    """Answer the execution's waiting approval: SendTaskSuccess with Decision APPROVE, or SendTaskFailure with the
    error Rejected (what Next runbook step reads: only APPROVE approves)."""
    current = snapshot(stack, name)
    if not current.running:
        raise OperateError(f"execution {name} has ended ({current.status}): there is nothing to approve")
    waiting = current.approvals()
    if not waiting:
        raise OperateError(
            f"execution {name} has no approval waiting for an answer (it is {current.status}); "
            f"drsctl run watch {name} shows when one is asked"
        )
    approval = waiting[0]
    client = boto3.client("stepfunctions", region_name=stack.region)
    answer: dict[str, Any]
    if reject:
        answer = {"Error": REJECTED, "Cause": reason or f"rejected by {by}"}
    else:
        answer = {"Decision": "APPROVE", "By": by, **({"Reason": reason} if reason else {})}
    try:
        if reject:
            client.send_task_failure(taskToken=approval.task_token, error=REJECTED, cause=answer["Cause"])
        else:
            client.send_task_success(taskToken=approval.task_token, output=json.dumps(answer))
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            raise OperateError(
                f"the approval {approval.name!r} of wave {approval.wave_number} can no longer be answered ({code}): "
                f"it timed out or was answered; drsctl run show {name}"
            ) from error
        raise
    return approval, answer


def cancel(stack: DeployedStack, name: str, reason: str, *, wait_seconds: float = 30.0) -> Snapshot:
    """StopExecution, then wait (up to `wait_seconds`) for the record to end: the stack's EventBridge rule runs the
    reconcile Lambda, which ends it CANCELLED."""
    current = snapshot(stack, name, with_waves=False)
    if current.described["status"] != "RUNNING":
        raise OperateError(f"execution {name} is not running ({current.described['status']}): nothing to cancel")
    client = boto3.client("stepfunctions", region_name=stack.region)
    client.stop_execution(executionArn=stack.execution_arn(name), error="Cancelled", cause=reason[:32768])
    deadline = time.monotonic() + wait_seconds
    while True:
        current = snapshot(stack, name)
        if not current.running or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def cleanup(stack: DeployedStack, name: str, *, wait_seconds: float = 900.0) -> dict[str, Any]:
    """Terminate a finished DRILL's instances now, as its own drill cleanup would (lambdas/core/cleanup.py: only the
    drill instances its jobs launched, recorded on its record, so a later resume knows); never a RECOVERY's. Follows
    the TERMINATE jobs (up to `wait_seconds`), so the instances are gone from DRS on return; `Pending` lists those
    whose job had not ended by then (running the command again follows them further)."""
    current = snapshot(stack, name, with_waves=False)
    mode = (current.record.ExecutionType if current.record else None) or current.input.get("ExecutionType")
    if mode != "DRILL":
        raise OperateError(
            f"execution {name} is a {mode or 'execution of unknown type'}, not a DRILL: cleanup terminates only a "
            "drill's instances (a recovery's instances are production)"
        )
    if current.running or current.record is None:
        raise OperateError(
            f"execution {name} is still running: wait for it to end (drsctl run watch {name}) or cancel it "
            f"(drsctl run cancel {name} --reason ...), then clean up"
        )
    plan_id = current.record.PlanId
    deadline = time.monotonic() + wait_seconds
    # "now" as the stack tells time: never before the execution's end (the sandbox's clock runs --speed times ahead)
    lag = max(0.0, float(current.record.EndTime or 0) - time.time())

    def now() -> int:
        return int(time.time() + lag)

    with stack.environment():
        try:
            started = drill_cleanup.start_now(current.record, now())
        except ValueError as refused:
            raise OperateError(str(refused)) from refused
        if started is None:  # cleaned up already: nothing of it is up
            return {"ExecutionId": name, "Status": "COMPLETED", "Terminated": [], "Pending": [], "TerminateJobIds": []}
        progress = drill_cleanup.check(name, plan_id, now())
        while progress.Status == "TERMINATING" and time.monotonic() < deadline:
            time.sleep(CLEANUP_POLL_SECONDS)  # the jobs take minutes (seconds in the sandbox): look often
            progress = drill_cleanup.check(name, plan_id, now())
        ended = records.get_execution(name, plan_id).Cleanup
        jobs = list(ended.JobIds) if ended is not None else []
        targets = sorted({w.target_of(s) for w in records.execution_waves(name) for s in w.Servers})
        terminated, pending = _terminate_outcome(targets, jobs)
    return {
        "ExecutionId": name,
        "Status": progress.Status,
        "Terminated": terminated,
        "Pending": pending if progress.Status == "TERMINATING" else [],
        "TerminateJobIds": jobs,
        "Detail": ended.Detail if ended is not None else None,
    }


CLEANUP_POLL_SECONDS = 1.0


def _terminate_outcome(targets: list[Target], job_ids: list[str]) -> tuple[list[str], list[str]]:
    """(instances the TERMINATE jobs ended, instances in TERMINATE jobs still running), asked in every (account,
    Region) of the drill's servers."""
    terminated: list[str] = []
    pending: list[str] = []
    for target in targets:
        for job in drs.describe_jobs(target, job_ids) if job_ids else []:
            for participant in job.get("participatingServers", []):
                instance = participant.get("recoveryInstanceID")
                if participant.get("launchStatus") == "TERMINATED":
                    terminated.append(instance)
                elif job.get("status") != "COMPLETED":
                    pending.append(instance)
    return terminated, pending


def list_executions(stack: DeployedStack, *, plan_id: str | None, status: str | None) -> list[dict[str, Any]]:
    """Executions from ExecutionHistory, newest first: a plan's by its index, else every record (a Scan)."""
    wanted = (
        "ExecutionId, PlanId, ExecutionType, #status, StartTime, EndTime, ErrorMessage, PlanVersion, StartedBy, "
        "Cleanup, Waves"
    )
    names = {"#status": "Status"}
    with stack.environment():
        table = records.table(records.EXECUTION_HISTORY_TABLE)
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"ProjectionExpression": wanted, "ExpressionAttributeNames": names}
    if plan_id is not None:
        arguments.update(
            IndexName="PlanExecutionsByTime", KeyConditionExpression=Key("PlanId").eq(plan_id), ScanIndexForward=False
        )
    while True:
        page = table.query(**arguments) if plan_id is not None else table.scan(**arguments)
        items.extend(records.from_item(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    if status is not None:
        wanted_statuses = vocabulary.record_statuses(status.upper())
        items = [item for item in items if str(item.get("Status", "")).upper() in wanted_statuses]
    found = sorted(items, key=lambda item: (item.get("StartTime") or 0, item["ExecutionId"]), reverse=True)
    return [_listed(item) for item in found]


def _listed(item: dict[str, Any]) -> dict[str, Any]:
    """A record as `run list` shows it: the status in the one vocabulary (the stored one as RecordStatus), its plan
    version, who started it and its cleanup's state."""
    record = records.ExecutionRecord.model_validate(item)
    return {
        "ExecutionId": record.ExecutionId,
        "PlanId": record.PlanId,
        "ExecutionType": record.ExecutionType,
        "Status": vocabulary.execution_state(record.Status, None),
        "RecordStatus": record.Status,
        "StartTime": record.StartTime,
        "EndTime": record.EndTime,
        "ErrorMessage": record.ErrorMessage,
        "planVersion": record.PlanVersion,
        "startedBy": record.StartedBy,
        "cleanup": cleanup_view(record),
    }
