"""Next runbook step: record how the last step of a wave's runbook ended and say which state runs next.

The state machine runs each step as its own native state (docs/architecture.md, Runbook steps); between two steps it
calls this one small function, which

1. records the step that just ended on the wave's item (`Steps`: SUCCEEDED, FAILED, TIMED_OUT or REJECTED, with when
   and why): a health check's or a wait's outcome as the state machine passes it in; a hook's or an approval's
   from the execution's history (`lambdas/core/step_end.py`: their output never enters the state's data), of which
   the record keeps at most DETAIL_MAX characters;
2. decides what that means: a CRITICAL step that failed, a rejected approval, an approval left unanswered with
   `OnTimeout: FAIL`, or a health check that a CRITICAL server failed ends the plan before anything more is
   launched; an OPTIONAL failure is recorded and the runbook goes on;
3. records the next step as RUNNING and returns what its state needs (`Kind` picks the state), or `LAUNCH` when the
   steps before the wave are done and `DONE` when those after it are.

The execution's own deadline (`WavesEndBy`, lambdas/core/deadline.py) holds here too: a step's timeout is cut so that
it, at its worst under its Retry, and the Next runbook step after it end in time; a step that cannot fit (a Wait is
never cut) is not begun, and neither is a wave's launch or the next wave when the Task after this one could not end
in time: the plan stops, out of time (`ExecutionOutOfTime`). A step cut short that times out stops the plan the same
way, whatever its Impact or OnTimeout (it did not get the time the plan gave it).

In a resumed execution (lambdas/core/resume.py), the wave's item may hold steps taken over from the execution it
resumes (`RanIn`): those the runbook went past there are not run again; the one that stopped it (or was cut short)
runs again, its new record saying how it ended there (`Previously`), and so does every step after it. A wave whose
servers all launched there runs none of its steps before the launch: they all went through before it launched.

Every answer is computed from the record and the event alone, so a retried call gives the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.core import deadline, records, step_end
from lambdas.core.approval_record import ApprovalAnswer, ApprovalDecision, decide
from lambdas.core.errors import ExecutionStoppedError, StepsChangedError
from lambdas.core.explain import with_action
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.steps import ApprovalStep, HealthCheckStep, Phase, Step

StepStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "REJECTED", "CANCELLED"]
# The errors the "Runbook step failed" state ends the plan with: the plan's own runbook stopped it, or the execution's
# own deadline (lambdas/core/deadline.py), not a fault.
RUNBOOK_ERRORS = (
    "RunbookStepFailed",
    "ApprovalRejected",
    "ApprovalTimedOut",
    "HealthCheckFailed",
    deadline.OUT_OF_TIME,
)
NextKind = Literal["LAMBDA", "CALLBACK", "APPROVAL", "WAIT", "HEALTH", "LAUNCH", "DONE", "FAILED"]
DETAIL_MAX = 500  # what the record keeps of a step's output or error (the full output is the function's business)
PAYLOAD_LIMIT_ERROR = "States.DataLimitExceeded"  # a task's result over 256 KiB (the step's Catch names it)
PREVIOUSLY_MAX = 200
# HealthCheckTimedOut: a health check whose servers were only not healthy in time (lambdas/core/health.py)
TIMEOUT_ERRORS = ("States.Timeout", "States.HeartbeatTimeout", "Sandbox.Timedout", "HealthCheckTimedOut")
REJECTED = "Rejected"  # the error the answer function's SendTaskFailure gives (lambdas/core/approval_answer.py)
MESSAGE_RECORD_MAX = 1_000  # UTF-8 bytes of an approval's question kept on the record (the notification has it all)


class StepRecord(BaseModel):
    """One runbook step as the wave's item records it."""

    model_config = ConfigDict(extra="ignore")

    Phase: Phase
    Index: int
    Kind: str
    Name: str
    Status: StepStatus
    StartedAt: int
    EndedAt: int | None = None
    Detail: str | None = Field(None, max_length=DETAIL_MAX)
    TaskToken: str | None = None  # while an approval waits: only the answer function reads it (docs/approvals.md)
    # An approval: what is asked, until when (epoch s), what no answer does, how many distinct principals must
    # approve, each principal's answer, and what was decided (by whom, why, when)
    Message: str | None = None
    Deadline: int | None = None
    OnTimeout: Literal["FAIL", "CONTINUE"] | None = None
    ApproversNeeded: int | None = None
    Approvals: list[ApprovalAnswer] | None = None
    Decision: ApprovalDecision | None = None
    DecidedBy: str | None = None  # the AWS principal (ARN) whose answer decided it, as AWS authenticated it
    Reason: str | None = None
    DecidedAt: int | None = None
    StoppedPlan: bool | None = None  # once ended: whether its end stopped the plan (what a resume runs again)
    RanIn: str | None = None  # a step taken over from the execution this one resumes: where it ran
    Previously: str | None = Field(None, max_length=PREVIOUSLY_MAX)  # run again by a resume: how it ended before

    def went_past(self) -> bool:
        """Whether the runbook went on past this step: it SUCCEEDED, or failed without stopping the plan (OPTIONAL,
        an approval with OnTimeout CONTINUE, a health check whose unhealthy servers were all OPTIONAL). A resume
        does not run such a step again; one that stopped the plan, or was cut short (CANCELLED, RUNNING), runs
        again."""
        if self.Status == "SUCCEEDED":
            return True
        return self.Status in ("FAILED", "TIMED_OUT") and self.StoppedPlan is False

    def taken_over(self) -> bool:
        """A step the execution this one resumes ran and went past: this one does not run it again."""
        return self.RanIn is not None and self.went_past()


class StepCursor(BaseModel):
    """Where the runbook of a wave stands, as the state machine carries it (`$.Steps`)."""

    model_config = ConfigDict(extra="ignore")

    Phase: Phase = "BEFORE"
    Index: int = -1  # the step that just ran; -1 before the first
    Kind: NextKind | None = None
    TimeoutSeconds: int | None = None  # the timeout the step ran with: its own, or less when cut (deadline.py)
    # A health check's answer or the error its Catch caught, a wait's {"Waited": true}; None after a hook or an
    # approval, whose end is read from the execution's history
    Outcome: dict[str, Any] | None = None


def next_step(
    *,
    execution_id: str,
    plan_id: str,
    mode: ExecutionMode,
    wave_number: int,
    phase_steps: list[Step],
    cursor: StepCursor,
    now: int,
    execution_arn: str | None = None,
    waves_end_by: int | None = None,
) -> dict[str, Any]:
    """Record the step that ended (if any) and return the next one for the state machine (see the module doc).
    `waves_end_by`: the execution's own deadline for its waves (None: none)."""
    if not records.execution_active(execution_id, plan_id):  # stopped meanwhile: the reconcile path closed the steps
        raise ExecutionStoppedError(f"Execution {execution_id} has ended; its runbook runs no further step")
    wave = records.get_wave(execution_id, wave_number)
    steps = [StepRecord.model_validate(s) for s in wave.Steps]
    ran = phase_steps[cursor.Index] if 0 <= cursor.Index < len(phase_steps) else None
    if ran is not None and (cursor.Outcome is not None or ends_in_history(ran)):
        ended = _record_outcome(
            steps, cursor, ran, now, wave, read_end=lambda: _read_end(execution_arn), execution_id=execution_id
        )
        if ended is not None:
            _save_steps(execution_id, wave, steps)
            return _answer({"Phase": cursor.Phase, "Index": cursor.Index, "Kind": "FAILED", **ended})
    index = cursor.Index + 1
    if cursor.Phase == "BEFORE" and _launched_before(wave):
        # A resume: every server of the wave launched in the execution resumed, so its steps before the launch all
        # went through there. None runs again, whatever the plan's Before list is now (a step inserted since would
        # shift the others, and one of them run again after the launch: a "stop the source" a second time).
        index = len(phase_steps)
    while index < len(phase_steps) and _taken_over(steps, cursor.Phase, index):
        index += 1  # a resume: it ran in the execution resumed, and the runbook went past it there
    out_of_time = _OutOfTime(execution_id, cursor.Phase, index, wave, waves_end_by)
    if index >= len(phase_steps):
        _save_steps(execution_id, wave, steps)
        return _phase_done(cursor.Phase, index, now, out_of_time, plan_id)
    step = phase_steps[index]
    timeout = deadline.step_timeout(step, step_kind(step), now, waves_end_by)
    if timeout is None:
        _save_steps(execution_id, wave, steps)  # how the step before it ended
        return out_of_time.fail_plan(f"step {step.label!r} was not begun: no time is left for it at its worst")
    earlier = _find(steps, cursor.Phase, index)
    if earlier is None or earlier.RanIn is not None:  # not yet run here (a retried call finds its RUNNING record)
        running = StepRecord(
            Phase=cursor.Phase,
            Index=index,
            Kind=step.kind,
            Name=step.label,
            Status="RUNNING",
            StartedAt=now,
            Previously=_previously(earlier),
        )
        if step.Approval is not None:  # what the approvers are asked, shown while it waits (drsctl run show)
            running.Message = records.truncate(step.Approval.Message, MESSAGE_RECORD_MAX)
            running.OnTimeout = step.Approval.OnTimeout
            running.ApproversNeeded = step.Approval.Approvers
            running.Deadline = now + step.timeout_seconds  # Ask for approval sets it exactly when it asks
        steps = [s for s in steps if s is not earlier] + [running]
    _save_steps(execution_id, wave, steps)
    if not records.execution_active(execution_id, plan_id):
        # stopped between our first look and this write: the end may have closed the steps before this one was
        # written, so close it here (CANCELLED, versioned like every write of the steps)
        close_running_steps(execution_id, [wave], "stopped", now)
        raise ExecutionStoppedError(f"Execution {execution_id} has ended; its runbook runs no further step")
    return _answer(
        {
            "Phase": cursor.Phase,
            "Index": index,
            "Name": step.label,
            **_state_input(step, wave, mode, cursor.Phase, timeout=timeout),
        }
    )


def _phase_done(phase: Phase, index: int, now: int, out_of_time: _OutOfTime, plan_id: str) -> dict[str, Any]:
    """The phase's steps all ran: on to the launch (BEFORE) or the wave's end (AFTER), if time is left to hand over."""
    if not deadline.can_hand_over(now, "Next runbook step", out_of_time.ends_by):
        if phase == "BEFORE":
            return out_of_time.fail_plan("its launch was not begun: Start wave recovery could not end in time")
        if _waves_follow(out_of_time.execution_id, plan_id, out_of_time.wave.WaveNumber):
            following = out_of_time.wave.WaveNumber + 1
            return out_of_time.fail_plan(f"wave {following} was not begun: its first step could not end in time")
    return _answer({"Phase": phase, "Index": index, "Kind": "LAUNCH" if phase == "BEFORE" else "DONE"})


# Every key the state machine's ResultSelector reads: a missing one would be a States.Runtime error.
ANSWER_KEYS: tuple[str, ...] = ("Phase", "Index", "Kind", "Name", "FunctionName", "TimeoutSeconds", "Seconds")
ANSWER_KEYS += ("Event", "Message", "Error", "Cause")


def ends_in_history(step: Step) -> bool:
    """A hook's or an approval's state keeps nothing of its result: its end is read from the execution's history."""
    return step.Lambda is not None or step.Approval is not None


def _read_end(execution_arn: str | None) -> dict[str, Any]:
    if not execution_arn:
        raise ValueError("Next runbook step needs the execution's ARN to read how a hook or approval ended")
    return step_end.read(execution_arn)


def _launched_before(wave: records.WaveRecord) -> bool:
    """Every server of the wave was launched by the execution this one resumes (or one it resumed)."""
    return bool(wave.Servers) and all(server.taken_over for server in wave.Servers)


def _taken_over(steps: list[StepRecord], phase: Phase, index: int) -> bool:
    found = _find(steps, phase, index)
    return found is not None and found.taken_over()


def _previously(earlier: StepRecord | None) -> str | None:
    """How a step a resume runs again ended in the execution it resumes: a new decision, never inherited."""
    if earlier is None or earlier.RanIn is None:
        return None
    by = f" by {earlier.DecidedBy}" if earlier.DecidedBy else ""
    return f"{earlier.Status}{by} in execution {earlier.RanIn}"[:PREVIOUSLY_MAX]


def _answer(values: dict[str, Any]) -> dict[str, Any]:
    return {key: values.get(key) for key in ANSWER_KEYS}


def step_kind(step: Step) -> NextKind:
    """The state that runs the step (`Kind`, which "Which runbook step?" reads)."""
    if step.Wait is not None:
        return "WAIT"
    if step.Approval is not None:
        return "APPROVAL"
    if step.Lambda is not None:
        return "CALLBACK" if step.Lambda.WaitForCallback else "LAMBDA"
    if step.HealthCheck is not None:
        return "HEALTH"
    raise ValueError(f"step kind {step.kind} is not run by this version of the workflow")


def _state_input(
    step: Step, wave: records.WaveRecord, mode: ExecutionMode, phase: Phase, *, timeout: int | None = None
) -> dict[str, Any]:
    """What the step's own state reads from `$.Steps`. `timeout`: the step's TimeoutSeconds, its own unless the
    execution's deadline cut it (a Wait is never cut)."""
    kind = step_kind(step)
    seconds = step.timeout_seconds if timeout is None else timeout
    if step.Wait is not None:
        return {"Kind": kind, "Seconds": step.Wait.Minutes * 60}
    if step.Approval is not None:
        return {"Kind": kind, "Message": step.Approval.Message, "TimeoutSeconds": seconds}
    if step.Lambda is not None:
        return {
            "Kind": kind,
            "FunctionName": step.Lambda.FunctionName,
            "TimeoutSeconds": seconds,
            "Event": hook_event(step, wave, mode, phase, timeout=seconds),
        }
    # a HealthCheck: Check health reads the step from Event; its deadline counts from this step's StartedAt
    # (recorded now) and is TimeoutSeconds away
    assert step.HealthCheck is not None
    return {"Kind": kind, "TimeoutSeconds": seconds, "Event": step.HealthCheck.model_dump()}


def hook_event(
    step: Step, wave: records.WaveRecord, mode: ExecutionMode, phase: Phase, *, timeout: int | None = None
) -> dict[str, Any]:
    """The event a user function receives (docs/plan-format.md, Lambda steps); the state machine adds TaskToken."""
    assert step.Lambda is not None
    return {
        "Mode": mode,
        "Phase": phase,
        "WaveNumber": wave.WaveNumber,
        "WaveName": wave.WaveName,
        "Region": wave.Region,
        "Servers": [
            {
                "SourceServerId": s.SourceServerId,
                "Account": s.Account,
                "Region": s.Region or wave.Region,
                "Hostname": s.Hostname,
                "Status": "LAUNCHED" if s.taken_over else s.Status,  # launched by the execution this one resumes
                "RecoveryInstanceId": s.InstanceId,
                "Ec2InstanceId": s.InstanceId,  # DRS names a recovery instance after its EC2 instance
            }
            for s in wave.Servers
        ],
        "Payload": step.Lambda.Payload or {},
        # the step's deadline, counted from its start (less than its TimeoutMinutes when the execution's time is short)
        "TimeoutSeconds": step.timeout_seconds if timeout is None else timeout,
    }


def _record_outcome(
    steps: list[StepRecord],
    cursor: StepCursor,
    step: Step,
    now: int,
    wave: records.WaveRecord,
    *,
    read_end: Callable[[], dict[str, Any]] | None = None,
    execution_id: str = "",
) -> dict[str, str] | None:
    """Record how the step ended; return the state machine's FAILED answer (Error, Cause) when the plan must stop.
    The outcome is the cursor's, or (a hook, an approval) what `read_end` reads from the execution's history; it is
    read only while the step is still RUNNING in the record (a retried call decides from the record)."""
    record = _find(steps, cursor.Phase, cursor.Index)
    if record is None:  # the RUNNING record was lost (it never is, but the outcome must still count)
        record = StepRecord(
            Phase=cursor.Phase, Index=cursor.Index, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=now
        )
        steps.append(record)
    if record.Status != "RUNNING":  # a retried call: recorded already; decide again from the record
        return _decided(record, step, cursor, wave, execution_id)
    outcome = (cursor.Outcome if cursor.Outcome is not None or read_end is None else read_end()) or {}
    error = outcome.get("Error")
    record.EndedAt = now
    if step.Approval is not None:
        _record_approval(record, step.Approval, outcome)
    elif error is None:
        record.Status = "SUCCEEDED"
        record.Detail = _detail(outcome.get("Output"))
    else:
        record.Status = "TIMED_OUT" if error in TIMEOUT_ERRORS else "FAILED"
        record.Detail = _detail(_error_text(str(error), outcome.get("Cause")))
        if error == PAYLOAD_LIMIT_ERROR:
            record.Detail = _detail(
                f"{PAYLOAD_LIMIT_ERROR}: the result was larger than the 256 KiB Step Functions passes between "
                f"states; return at most a short summary (the record keeps its first {DETAIL_MAX} characters) and "
                "keep the rest in the function's own store"
            )
    record.TaskToken = None
    return _decided(record, step, cursor, wave, execution_id)


def _decided(
    record: StepRecord, step: Step, cursor: StepCursor, wave: records.WaveRecord, execution_id: str = ""
) -> dict[str, str] | None:
    """The decision, kept on the record too (`StoppedPlan`): a resume runs again the step that stopped the plan."""
    decision = _decision(record, step, cursor, wave, execution_id)
    record.StoppedPlan = decision is not None
    return decision


def _record_approval(record: StepRecord, approval: ApprovalStep, outcome: dict[str, Any]) -> None:
    """How an approval ended, from the record's own answers (written by the answer function) as much as from what
    reached the task token. It fails closed: the plan goes on only when the record holds the approvals the step
    needs (an APPROVE sent with a token read elsewhere, without them, rejects); a rejection always rejects."""
    error = outcome.get("Error")
    needed = record.ApproversNeeded or approval.Approvers
    decided = decide(record.Approvals or [], needed)
    if decided is not None and decided.decision == "REJECT":
        # A principal's rejection on the record stands however the task ended: its SendTaskFailure may have reached
        # Step Functions just after the deadline (TaskTimedOut), or been lost. Read as a timeout, OnTimeout CONTINUE
        # would launch the next waves over a recorded "no".
        record.Status = "REJECTED"
        _set_decision(record, "REJECT", decided.by, decided.reason, decided.at)
        record.Detail = _detail(decided.reason)
        return
    if error is None:
        output = outcome.get("Output")
        said = output.get("Decision") if isinstance(output, dict) else None
        if str(said).strip().upper() == "APPROVE" and decided is not None and decided.decision == "APPROVE":
            record.Status = "SUCCEEDED"
            _set_decision(record, decided.decision, decided.by, decided.reason, decided.at)
            given = len({answer.By for answer in decided.approvals if answer.Decision == "APPROVE"})
            record.Detail = _detail(f"approved by {given} of {needed} principal(s) needed")
        else:
            record.Status = "REJECTED"
            record.Decision = "REJECT"
            record.Detail = _detail(
                f"the answer {_detail(output)} reached the task token without the {needed} approval(s) the stack's "
                "answer function records: not an approval (approvers answer with drsctl run approve)"
            )
    elif outcome.get("TimedOut") is True:
        # Only Step Functions' own timer (a TaskTimedOut event) is the approvers' silence that OnTimeout decides.
        # A timeout of the request function (Sandbox.Timedout: nobody may have been asked), or a SendTaskFailure
        # naming a timeout (anyone holding the token could send one before the deadline), is not: read as a
        # timeout, OnTimeout CONTINUE would let the plan go on without the approvers ever saying yes.
        record.Status = "TIMED_OUT"
        given = len({answer.By for answer in record.Approvals or [] if answer.Decision == "APPROVE"})
        record.Detail = f"no decision within {approval.TimeoutMinutes} min ({given} of {needed} approval(s) recorded)"
    elif error == REJECTED:  # a SendTaskFailure made outside the answer function: a rejection, by nobody we know
        record.Status = "REJECTED"
        record.Decision = "REJECT"
        record.Detail = _detail(_error_text(str(error), outcome.get("Cause")))
    else:  # the approval could not be asked (an AWS error, the request function timed out), or its task was
        # failed with an error that is neither a rejection nor Step Functions' timeout: not an approver's answer
        record.Status = "FAILED"
        record.Detail = _detail(_error_text(str(error), outcome.get("Cause")))


def _set_decision(record: StepRecord, decision: ApprovalDecision, by: str, reason: str | None, at: int) -> None:
    record.Decision, record.DecidedBy, record.Reason, record.DecidedAt = decision, by, reason, at


def _decision(
    record: StepRecord, step: Step, cursor: StepCursor, wave: records.WaveRecord, execution_id: str
) -> dict[str, str] | None:
    where = f"{'before' if cursor.Phase == 'BEFORE' else 'after'} wave {wave.WaveNumber} ({wave.WaveName})"
    if record.Status == "SUCCEEDED":
        return None
    if record.Status == "TIMED_OUT" and _cut(step, cursor):
        what = (
            f"step {record.Name!r} timed out after {cursor.TimeoutSeconds} s, its {step.timeout_seconds // 60} min "
            "cut to the time left"
        )
        return _out_of_time_failure(execution_id, where, what, None)
    if step.Approval is not None:
        return _approval_decision(record, step.Approval, where)
    if step.HealthCheck is not None:
        return _health_decision(record, step.HealthCheck, cursor.Outcome or {}, where)
    impact = step.Lambda.Impact if step.Lambda is not None else "CRITICAL"
    if impact == "OPTIONAL":
        return None
    return {
        "Error": "RunbookStepFailed",
        "Cause": with_action(
            f"Step {record.Name!r} {where} {record.Status.replace('_', ' ').lower()}: {record.Detail or 'no detail'}"
            "; it is CRITICAL, so the plan stopped and nothing was launched after it",
            "read the function's logs, fix it, then start the execution again (or mark the step Impact: OPTIONAL)",
        ),
    }


def _approval_decision(record: StepRecord, approval: ApprovalStep, where: str) -> dict[str, str] | None:
    if record.Status == "FAILED":
        return {
            "Error": "RunbookStepFailed",
            "Cause": with_action(
                f"Approval {record.Name!r} {where} could not be asked: {record.Detail or 'no detail'}; nothing was "
                "launched after it",
                "check the request-approval function's logs and the notification topic, then start the execution again",
            ),
        }
    if record.Status == "TIMED_OUT" and approval.OnTimeout == "CONTINUE":
        return None
    if record.Status == "TIMED_OUT":
        return {
            "Error": "ApprovalTimedOut",
            "Cause": with_action(
                f"Approval {record.Name!r} {where} was not answered within {approval.TimeoutMinutes} min "
                "(OnTimeout: FAIL); nothing was launched after it",
                "start the execution again when an approver is available",
            ),
        }
    why = record.Reason if record.DecidedBy else record.Detail
    return {
        "Error": "ApprovalRejected",
        "Cause": with_action(
            f"Approval {record.Name!r} {where} was rejected by {record.DecidedBy or 'an unrecorded principal'}"
            f"{': ' + why if why else ''}; nothing was launched after it",
            "settle what the approver objected to, then start the execution again",
        ),
    }


def _health_decision(
    record: StepRecord, check: HealthCheckStep, outcome: dict[str, Any], where: str
) -> dict[str, str] | None:
    """A failed health check stops the plan when one of its unhealthy servers is CRITICAL (the step's Impact, else
    the server's own: Check health counts them); a check that could not run at all fails closed, unless the step
    is OPTIONAL."""
    critical = outcome.get("Critical")
    if isinstance(critical, int) and not isinstance(critical, bool):
        stops = critical > 0
    else:
        stops = (check.Impact or "CRITICAL") == "CRITICAL"
    if not stops:
        return None
    return {
        "Error": "HealthCheckFailed",
        "Cause": with_action(
            f"Health check {record.Name!r} {where} {record.Status.replace('_', ' ').lower()}: "
            f"{record.Detail or 'no detail'}; a CRITICAL server failed it, so the plan stopped before the next launch",
            "look at the unhealthy servers' post-launch action runs (DRS console, SSM Run Command) and EC2 status "
            "checks, fix them, then start the execution again (or set the step's Impact: OPTIONAL)",
        ),
    }


def _error_text(error: str, cause: Any) -> str:
    """`error: message`, the message taken from a Lambda error's JSON (errorMessage) without its stack trace."""
    message = cause
    if isinstance(cause, str) and cause.startswith("{"):
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            message = parsed["errorMessage"]
    return f"{error}: {message}" if message else error


def _detail(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def _find(steps: list[StepRecord], phase: Phase, index: int) -> StepRecord | None:
    return next((s for s in steps if s.Phase == phase and s.Index == index), None)


def _save_steps(execution_id: str, wave: records.WaveRecord, steps: list[StepRecord]) -> None:
    """Write the steps, if nobody wrote them since `wave` was read: the execution's end (a stop) closes a step while
    it runs, and the step's own late write must not bring it back (StepsChangedError, an ExecutionStoppedError)."""
    written = [s.model_dump(exclude_none=True) for s in steps]
    records.set_wave_steps(execution_id, wave.WaveNumber, written, read_version=wave.StepsVersion)
    wave.Steps, wave.StepsVersion = written, wave.StepsVersion + 1


def record_approval_request(
    *, execution_id: str, wave_number: int, phase: Phase, index: int, task_token: str, deadline: int
) -> StepRecord:
    """Keep the pending approval's task token on its step, for the stack's answer function alone to read, and the
    deadline its task counts to (a request asked again, after a lost answer, has a new token)."""
    wave = records.get_wave(execution_id, wave_number)
    steps = [StepRecord.model_validate(s) for s in wave.Steps]
    record = _find(steps, phase, index)
    if record is None:
        raise ValueError(f"wave {wave_number} has no {phase} step {index} to ask approval for")
    if record.Status != "RUNNING":  # the execution's end closed it before this request ran: nobody is asked
        raise ExecutionStoppedError(
            f"Wave {wave_number}'s approval {record.Name!r} ended {record.Status} before it was asked; it asks nobody"
        )
    record.TaskToken = task_token
    record.Deadline = deadline
    _save_steps(execution_id, wave, steps)
    return record


def close_running_steps(execution_id: str, waves: list[records.WaveRecord], reason: str, now: int) -> None:
    """The execution ended while a step ran (a stop, a timeout, a failure): the step ends CANCELLED, saying so, and
    a pending approval's token is dropped (answering it now would change nothing). A step that wrote its steps
    meanwhile makes this read them again."""
    for wave in waves:
        for _attempt in range(STEPS_WRITE_ATTEMPTS):
            try:
                _close_running(execution_id, wave, reason, now)
                break
            except StepsChangedError:
                _reread(execution_id, wave)  # in place: the caller writes these waves next


STEPS_WRITE_ATTEMPTS = 3


def _reread(execution_id: str, wave: records.WaveRecord) -> None:
    fresh = records.get_wave(execution_id, wave.WaveNumber)
    wave.Steps, wave.StepsVersion = fresh.Steps, fresh.StepsVersion


def _close_running(execution_id: str, wave: records.WaveRecord, reason: str, now: int) -> None:
    steps = [StepRecord.model_validate(s) for s in wave.Steps]
    running = [s for s in steps if s.Status == "RUNNING"]
    for step in running:
        step.Status = "CANCELLED"
        step.EndedAt = now
        step.Detail = f"the execution ended ({reason.replace('_', ' ')}) while this step ran"
        step.TaskToken = None
    if running:
        _save_steps(execution_id, wave, steps)  # in the wave object too: the execution's end writes it next


def _cut(step: Step, cursor: StepCursor) -> bool:
    """Whether the step ran with less than its own timeout: cut so the execution ends in time (deadline.py)."""
    return cursor.TimeoutSeconds is not None and cursor.TimeoutSeconds < step.timeout_seconds


def _waves_follow(execution_id: str, plan_id: str, wave_number: int) -> bool:
    """Whether a wave after this one is still to run in this execution (a resume leaves out those it took over)."""
    record = records.get_execution(execution_id, plan_id)
    return any(w.WaveNumber > wave_number and w.Status == "PENDING" for w in record.Waves)


class _OutOfTime:
    """The answer that ends the plan because the execution's own deadline has come (lambdas/core/deadline.py)."""

    def __init__(
        self, execution_id: str, phase: Phase, index: int, wave: records.WaveRecord, ends_by: int | None
    ) -> None:
        self.execution_id, self.phase, self.index, self.wave, self.ends_by = execution_id, phase, index, wave, ends_by

    def fail_plan(self, what: str) -> dict[str, Any]:
        where = f"{'before' if self.phase == 'BEFORE' else 'after'} wave {self.wave.WaveNumber} ({self.wave.WaveName})"
        failed = _out_of_time_failure(self.execution_id, where, what, self.ends_by)
        return _answer({"Phase": self.phase, "Index": self.index, "Kind": "FAILED", **failed})


def _out_of_time_failure(execution_id: str, where: str, what: str, ends_by: int | None) -> dict[str, str]:
    hours = deadline.EXECUTION_TIMEOUT_SECONDS // 3600
    execution = execution_id or "<execution>"
    by = f" by {datetime.fromtimestamp(ends_by, tz=UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}" if ends_by else " in time"
    return {
        "Error": deadline.OUT_OF_TIME,
        "Cause": with_action(
            f"The execution ran out of time {where}: {what}. It must end within {hours} h of its start (the state "
            f"machine's TimeoutSeconds), leaving its record, locks and drill cleanup time to close, so its waves end"
            f"{by}; nothing was launched after it",
            f"resume it with `drsctl run resume {execution}` (servers launched and steps passed are not run again);"
            " if it ran out of time without faults to wait out, lower the steps' TimeoutMinutes or "
            "Options.WaveTimeoutMinutes, or split the plan",
        ),
    }
