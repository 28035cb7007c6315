"""Executions of the deployed state machine: start, read (the record, its waves, pending approvals), answer an
approval, stop, clean up a drill's instances, list. What each returns is plain data the commands print or dump.

An execution is named by its ExecutionId (the Step Functions execution name). Its story is in two tables: the
ExecutionHistory record (status, times, a summary per wave, who cancelled it and why) and ExecutionWaves (each wave
with its servers and its runbook steps: a waiting approval's question, deadline and answers are on its step).

An approval is answered through the stack's approval URL, signed with the operator's own credentials: AWS says who
answers, and the stack's answer function answers the task token (docs/approvals.md). Nothing here reads, prints or
sends a task token.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from boto3.dynamodb.conditions import Key
from botocore.exceptions import BotoCoreError, ClientError

from drsctl.operate import identity, vocabulary
from drsctl.operate.cleanup_view import cleanup_view
from drsctl.operate.signed_post import NoCredentials, post_json
from drsctl.operate.stack import DeployedStack, approval_url
from lambdas.core import accounts, drs, records, recovery_points
from lambdas.core import cleanup as drill_cleanup
from lambdas.core.accounts import Target
from lambdas.core.approvals import iso_utc
from lambdas.core.errors import PlanNotFoundError
from lambdas.core.plan import point_in_time_epoch, recovery_confirmation

Mode = Literal["DRILL", "RECOVERY"]
NAME_MAX = 80  # Step Functions execution names
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
ACTIVE = records.ACTIVE_EXECUTION_STATUSES


class OperateError(Exception):
    """A request that cannot be done as asked (no such execution, nothing to approve, ...): one line, and the fix."""


@dataclass
class PendingApproval:
    """An approval step waiting for its answers: what is asked, since when, until when, and who answered so far."""

    wave_number: int
    wave_name: str
    phase: str
    index: int
    name: str
    started_at: int
    message: str | None = None
    deadline: int | None = None
    on_timeout: str = "FAIL"
    approvers_needed: int = 1
    approvals: list[dict[str, Any]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{'before' if self.phase == 'BEFORE' else 'after'} wave {self.wave_number} ({self.wave_name})"

    def to_json(self) -> dict[str, Any]:
        return {
            "WaveNumber": self.wave_number,
            "WaveName": self.wave_name,
            "Phase": self.phase,
            "Index": self.index,
            "Name": self.name,
            "StartedAt": self.started_at,
            "Message": self.message,
            "Deadline": self.deadline,
            "OnTimeout": self.on_timeout,
            "ApproversNeeded": self.approvers_needed,
            "Approvals": self.approvals,
        }

    def view(self, execution: str) -> dict[str, Any]:
        """`approval` in `--json`: the question, the wave and step, when asked, the deadline, what no answer does
        and how to answer; times in ISO 8601 UTC."""
        return {
            "wave": self.wave_number,
            "waveName": self.wave_name,
            "step": self.name,
            "phase": self.phase,
            "index": self.index,
            "message": self.message,
            "askedAt": iso_utc(self.started_at),
            "deadline": iso_utc(self.deadline),
            "onTimeout": self.on_timeout,
            "approversNeeded": self.approvers_needed,
            "approvals": [_answer_view(answer) for answer in self.approvals],
            "answer": f'drsctl run approve {execution} --reason "..." (or --reject --reason "...")',
        }


def _answer_view(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        "by": answer.get("By"),
        "decision": answer.get("Decision"),
        "reason": answer.get("Reason"),
        "at": iso_utc(answer.get("At")),
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
        waiting = self.approvals()
        record = self.record
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
            "PendingApprovals": [approval.to_json() for approval in waiting],
            "approval": waiting[0].view(self.name) if waiting else None,
            "cancelledBy": record.CancelledBy if record is not None else None,
            "cancelReason": record.CancelReason if record is not None else None,
            "cancelledAt": iso_utc(record.CancelledAt) if record is not None and record.CancelledAt else None,
        }


def _wave_json(wave: records.WaveRecord) -> dict[str, Any]:
    return {
        **wave.model_dump(mode="json", exclude={"PendingStart", "Steps"}),
        "Steps": [_step_json(s) for s in wave.Steps],
    }


def _step_json(step: dict[str, Any]) -> dict[str, Any]:
    """A step as recorded, without the task token; a decided approval also says who decided, why and when."""
    shown = {key: value for key, value in step.items() if key != "TaskToken"}
    if step.get("Decision"):
        shown |= {
            "decision": step["Decision"],
            "decidedBy": step.get("DecidedBy"),
            "reason": step.get("Reason"),
            "decidedAt": iso_utc(step.get("DecidedAt")) if step.get("DecidedAt") else None,
            "approvals": [_answer_view(answer) for answer in step.get("Approvals") or []],
        }
    return shown


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def pending_approvals(waves: list[records.WaveRecord]) -> list[PendingApproval]:
    """Approvals waiting for an answer: RUNNING approval steps that have been asked (their token is recorded)."""
    found = []
    for wave in waves:
        for step in wave.Steps:
            if step.get("Kind") == "Approval" and step.get("Status") == "RUNNING" and step.get("TaskToken"):
                found.append(
                    PendingApproval(
                        wave_number=wave.WaveNumber,
                        wave_name=wave.WaveName,
                        phase=str(step.get("Phase")),
                        index=int(step.get("Index") or 0),
                        name=str(step.get("Name")),
                        started_at=int(step.get("StartedAt") or 0),
                        message=step.get("Message"),
                        deadline=step.get("Deadline"),
                        on_timeout=str(step.get("OnTimeout") or "FAIL"),
                        approvers_needed=int(step.get("ApproversNeeded") or 1),
                        approvals=list(step.get("Approvals") or []),
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
    client = stack.client("stepfunctions")
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
    client = stack.client("stepfunctions")
    try:
        described: dict[str, Any] = client.describe_execution(executionArn=stack.execution_arn(name))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise OperateError(
                f"no execution {name!r} of {stack.state_machine_arn}: see drsctl run list for the executions"
            ) from error
        raise
    with stack.environment():
        # The waves first, then the record: the workflow writes the record ahead of the waves as an execution starts
        # (POLLING before any step runs) and ends the steps before the record, so a record read after the waves is
        # never behind them (no "PENDING, waiting for approval" of an execution that moved on between the reads).
        waves = records.execution_waves(name) if with_waves else []
        record = records.find_execution_by_id(name)
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
    if record is not None and record.Cleanup is not None and record.Cleanup.Status == "TERMINATING":
        # Prepare refuses it too, but only once started: a FAILED execution (and, on AWS, the alarm) for nothing
        raise OperateError(
            f"--resume-from {earlier}: its drill instances are being terminated (its cleanup is TERMINATING; drsctl "
            f"run cleanup {earlier} follows it), so a resume would have none of them; start the drill afresh"
        )
    if record is not None and record.Cleanup is not None and record.Cleanup.Terminated:
        raise OperateError(
            f"--resume-from {earlier}: its drill instances were terminated by its cleanup; start the drill afresh"
        )


def check_point_in_time(stack: DeployedStack, text: str, resume_from: str | None) -> None:
    """--point-in-time before anything starts: not after the stack's now (no recovery point can be newer), and for
    a resume the moment of the execution it resumes (its servers' recovery points are kept), as Prepare would refuse
    them once started (a FAILED execution, and on AWS its alarm, for nothing)."""
    moment = point_in_time_epoch(text)
    answer = stack.client("sts").get_caller_identity()  # needs no permission; its Date is the stack's clock
    now = stack_time(answer)
    if moment > now + recovery_points.FUTURE_GRACE_SECONDS:
        raise OperateError(
            f"--point-in-time {text} is in the future (the stack's clock reads {recovery_points.iso(now)}): no "
            "recovery snapshot is that new; give a moment in the past, or leave --point-in-time out to launch every "
            "server from its latest recovery point. Nothing was started"
        )
    earlier = snapshot(stack, resume_from, with_waves=False).record if resume_from is not None else None
    if earlier is not None:
        kept = recovery_points.resumed_point_in_time(earlier, moment)
        if isinstance(kept, str):
            raise OperateError(f"--point-in-time: {kept}. Nothing was started")


def answer_approval(
    stack: DeployedStack, name: str, *, reject: bool, reason: str | None
) -> tuple[PendingApproval, dict[str, Any]]:
    """Answer the execution's waiting approval through the stack's approval URL, signed with the caller's own AWS
    credentials: the answer function records who AWS says the caller is, and answers the task token once the
    approval is decided (its JSON answer is returned: Status RECORDED, APPROVED or REJECTED)."""
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
    body: dict[str, Any] = {
        "ExecutionId": name,
        "Wave": approval.wave_number,
        "Step": {"Phase": approval.phase, "Index": approval.index},
        "Decision": "REJECT" if reject else "APPROVE",
    }
    if reason:
        body["Reason"] = reason
    url = approval_url(stack)
    try:
        status, answered = post_json(url, body, region=stack.region)
    except NoCredentials as error:
        raise OperateError(str(error)) from error
    if status == 200:
        return approval, answered
    message = str(answered.get("Message") or answered.get("message") or "no detail")
    if answered.get("Error"):  # the answer function refused it, and said why
        raise OperateError(f"approval {approval.name!r} {approval.where}: {message}")
    if status == 403:
        raise OperateError(
            f"AWS refused the answer (403 {message}): answering approvals takes your own credentials with "
            "lambda:InvokeFunctionUrl and lambda:InvokeFunction on the stack's answer function (attach the stack's "
            f"ApproverPolicy, output ApproverPolicyArn); the approval URL is {url}"
        )
    raise OperateError(f"the approval URL {url} answered {status}: {message}")


def cancel(stack: DeployedStack, name: str, reason: str, *, wait_seconds: float = 30.0) -> Snapshot:
    """StopExecution, then wait (up to `wait_seconds`) for the record to end: the stack's EventBridge rule runs the
    reconcile Lambda, which ends it CANCELLED. Who cancelled (the caller's ARN, as STS says) and why are written on
    the record, and in the stop's cause for Step Functions' own history."""
    current = snapshot(stack, name, with_waves=False)
    if current.described["status"] != "RUNNING":
        raise OperateError(f"execution {name} is not running ({current.described['status']}): nothing to cancel")
    by = identity.caller(stack).arn
    client = stack.client("stepfunctions")
    cause = f"{reason} (cancelled by {by})"
    stopped = client.stop_execution(executionArn=stack.execution_arn(name), error="Cancelled", cause=cause[:32768])
    # the stack's clock (the sandbox's runs --speed times ahead): the stop's own time, as the record will have it
    stopped_at = _epoch(stopped.get("stopDate")) or stack_time(stopped)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            current = snapshot(stack, name)
            if not current.running or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:  # also when the wait is interrupted (Ctrl-C): the execution is stopped, its record says who and why
        record = current.record
        if record is not None:
            at = int(record.EndTime or stopped_at) if not current.record_running else int(stopped_at)
            with stack.environment():
                records.record_cancel(name, record.PlanId, by=by, reason=reason, at=at)
                current.record = records.find_execution(name, record.PlanId) or record
    return current


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
    # "now" as the stack tells time (the Date of its answer: the sandbox's clock runs --speed times ahead, and the
    # cleanup's times on the record and in the report are in it), never before the execution's end
    lag = max(0.0, current.now - time.time(), float(current.record.EndTime or 0) - time.time())

    def now() -> int:
        return int(time.time() + lag)

    with stack.environment():
        # every account first: a drill whose member accounts the CLI cannot reach is refused whole, before anything
        # is terminated or recorded, never cleaned up in the accounts it reaches only
        unreachable = _unreachable_accounts(records.execution_waves(name))
        if unreachable:
            raise OperateError(_cannot_reach(name, unreachable))
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


@dataclass
class _Unreachable:
    """A member account of the drill whose role the CLI's credentials cannot assume, and the drill's instances there."""

    account: str
    why: str
    instances: dict[str, list[str]]  # Region -> the recovery instance IDs the records hold there


def _unreachable_accounts(waves: list[records.WaveRecord]) -> list[_Unreachable]:
    """The member accounts of the drill's servers the CLI cannot reach: their role trusts only the stack's functions
    (docs/accounts.md), so from a laptop AssumeRole is refused. The stack's own account needs no role."""
    by_account: dict[str, dict[str, list[str]]] = {}
    for wave in waves:
        for server in wave.Servers:
            target = wave.target_of(server)
            in_region = by_account.setdefault(target.account, {}).setdefault(target.region, [])
            if server.InstanceId:
                in_region.append(server.InstanceId)
    found = []
    for account, instances in sorted(by_account.items()):
        if accounts.is_home(account):
            continue
        try:
            accounts.check_role(account)
        except (BotoCoreError, ClientError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            found.append(_Unreachable(account, code or type(error).__name__, instances))
    return found


def _cannot_reach(name: str, unreachable: list[_Unreachable]) -> str:
    """Why the cleanup is refused, each account with its role and instances, and what to do instead."""
    parts = []
    commands = []
    for each in unreachable:
        held = "; ".join(f"{region}: {', '.join(ids)}" for region, ids in sorted(each.instances.items()) if ids)
        parts.append(
            f"account {each.account} (the member role {accounts.role_arn(each.account)} could not be assumed: "
            f"{each.why}; drill instances recorded there: {held or 'none'})"
        )
        commands += [
            f"aws drs terminate-recovery-instances --region {region} --recovery-instance-ids {' '.join(ids)}"
            for region, ids in sorted(each.instances.items())
            if ids
        ]
    with_commands = f" ({'; '.join(commands)})" if commands else ""
    return (
        f"execution {name}'s drill has servers in member accounts this CLI cannot reach: {'; '.join(parts)}. A "
        "member role trusts only the stack's own functions (docs/accounts.md). Nothing was terminated, in any "
        "account, and the record is unchanged. What to do: terminate those instances with credentials of each "
        f"account{with_commands}, and let the stack clean up its drills itself: give the plan "
        "Options.DrillCleanup (its cleanup runs in the stack's functions, which reach every member account)"
    )


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
