"""Answer an approval: the stack's own function, behind a Lambda function URL with AuthType AWS_IAM, is the only
holder of states:SendTaskSuccess / SendTaskFailure (docs/approvals.md).

AWS verifies the caller's SigV4 signature and its lambda:InvokeFunctionUrl permission before the function runs, and
gives the function the caller's identity (`requestContext.authorizer.iam.userArn`): that ARN is who answered, never
a typed name. The function then

1. finds the waiting step on this stack's record (the execution must be one of this stack's state machine, still
   running, and the step an approval waiting for an answer);
2. refuses what cannot be an answer (a rejection without a reason, a principal that already answered);
3. records the principal's answer in the step's `Approvals`, conditionally on the steps being as it read them (two
   answers at once: one is written, the other reads again), so each principal counts once;
4. once the answers decide (any REJECT, or `Approvers` distinct principals approving: lambdas/core/approval_record.py)
   answers the task token it read from the record: SendTaskSuccess with the decision, or SendTaskFailure with the
   error `Rejected` and who and why as the cause. Next runbook step records the decision from the record.

A principal whose answer decided the step but whose request lost its answer (a timeout, a dropped connection) may
send the same answer again: the decision is sent again, which is how an answer lost between the record and the
token is recovered. Time comes from the request (`requestContext.timeEpoch`, when AWS received it), as every other
function gets it from the state machine, so a rehearsal on a virtual clock runs this unchanged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from lambdas.core import executions, records
from lambdas.core.approval_record import REASON_MAX, ApprovalAnswer, ApprovalDecision, Decided, decide
from lambdas.core.approvals import iso_utc
from lambdas.core.errors import StepsChangedError
from lambdas.core.runbook import REJECTED, StepRecord
from lambdas.core.steps import Phase

STATE_MACHINE_NAME = "STATE_MACHINE_NAME"  # this stack's state machine: only its executions are answered
WRITE_ATTEMPTS = 3  # answers written at the same moment: each re-reads and tries again
GONE = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")  # the task no longer waits for this token


class StepRef(BaseModel):
    """The step answered: its phase and its position in that phase (what `drsctl run show --json` lists)."""

    model_config = ConfigDict(extra="forbid")

    Phase: Phase
    Index: int = Field(ge=0)


class AnswerRequest(BaseModel):
    """The body of a request to the function URL."""

    model_config = ConfigDict(extra="forbid")

    ExecutionId: str = Field(min_length=1, max_length=80)
    Wave: int = Field(ge=1, description="The wave's number (1 for the first).")
    Step: StepRef | str = Field(description="{Phase, Index}, or the step's Name when it is unique in the wave.")
    Decision: ApprovalDecision
    Reason: str | None = Field(None, max_length=REASON_MAX)


class AnswerRefused(Exception):
    """An answer that cannot be taken; `status` is the HTTP status the function URL answers with."""

    status = 400
    code = "BadRequest"


class NotAuthenticated(AnswerRefused):
    status, code = 403, "NotAuthenticated"


class NoSuchApproval(AnswerRefused):
    status, code = 404, "NotFound"


class NotWaiting(AnswerRefused):
    status, code = 409, "NotWaiting"


class AlreadyAnswered(AnswerRefused):
    status, code = 409, "AlreadyAnswered"


@dataclass(frozen=True)
class AnswerResult:
    """What the request did: RECORDED (more approvals are needed), or APPROVED / REJECTED (the token answered)."""

    status: Literal["RECORDED", "APPROVED", "REJECTED"]
    execution_id: str
    step: StepRecord
    wave_number: int
    needed: int
    by: str

    def to_json(self) -> dict[str, Any]:
        approvals = self.step.Approvals or []
        return {
            "Status": self.status,
            "ExecutionId": self.execution_id,
            "Wave": self.wave_number,
            "Step": {"Phase": self.step.Phase, "Index": self.step.Index, "Name": self.step.Name},
            "By": self.by,
            "ApproversNeeded": self.needed,
            "Approvals": [answer.model_dump(exclude_none=True) for answer in approvals],
        }


def answer(request: AnswerRequest, *, principal: str | None, now: int) -> AnswerResult:
    """Record `principal`'s answer and, once the answers decide, answer the task token (see the module doc)."""
    if not principal:
        raise NotAuthenticated(
            "no AWS identity came with the request: the approval URL takes only requests AWS authenticated "
            "(AuthType AWS_IAM, signed with SigV4); use drsctl run approve"
        )
    reason = (request.Reason or "").strip() or None
    if request.Decision == "REJECT" and reason is None:
        raise AnswerRefused("Reason is required to reject: say why (it is recorded with your rejection)")
    record = records.find_execution_by_id(request.ExecutionId)
    if record is None or not _of_this_stack(record):
        raise NoSuchApproval(f"no execution {request.ExecutionId!r} of this stack (drsctl run list lists them)")
    if record.Status not in records.ACTIVE_EXECUTION_STATUSES:
        raise NotWaiting(f"execution {request.ExecutionId} has ended ({record.Status}): there is nothing to answer")
    for _attempt in range(WRITE_ATTEMPTS):
        wave = records.find_wave(request.ExecutionId, request.Wave)
        if wave is None:
            raise NoSuchApproval(f"execution {request.ExecutionId} has no wave {request.Wave}")
        steps = [StepRecord.model_validate(step) for step in wave.Steps]
        step = _waiting_step(steps, request)
        needed = step.ApproversNeeded or 1
        given = list(step.Approvals or [])
        decided = decide(given, needed)
        mine = next((entry for entry in given if entry.By == principal), None)
        if mine is not None and decided is None:
            raise AlreadyAnswered(
                f"{principal} already answered {mine.Decision} at {iso_utc(mine.At)}: each principal counts once; "
                f"{needed - len({e.By for e in given if e.Decision == 'APPROVE'})} more distinct principal(s) "
                "must approve"
            )
        if mine is None and decided is not None:
            raise AlreadyAnswered(
                f"approval {step.Name!r} is decided already ({decided.decision} by {decided.by}); the workflow goes "
                f"on from it (drsctl run watch {request.ExecutionId})"
            )
        if mine is not None:  # decided, and this principal's answer is in it: send the decision again
            break
        step.Approvals = [*given, ApprovalAnswer(By=principal, Decision=request.Decision, Reason=reason, At=now)]
        try:
            records.set_wave_steps(
                request.ExecutionId,
                wave.WaveNumber,
                [s.model_dump(exclude_none=True) for s in steps],
                read_version=wave.StepsVersion,
            )
            break
        except StepsChangedError:
            continue  # another answer, or the workflow, wrote the steps since: read them again
    else:
        raise NotWaiting(f"the steps of wave {request.Wave} kept changing while the answer was written; send it again")
    decided = decide(step.Approvals or [], needed)
    if decided is None:
        return AnswerResult("RECORDED", request.ExecutionId, step, request.Wave, needed, principal)
    _send(decided, str(step.TaskToken), step)
    status: Literal["APPROVED", "REJECTED"] = "APPROVED" if decided.decision == "APPROVE" else "REJECTED"
    return AnswerResult(status, request.ExecutionId, step, request.Wave, needed, principal)


def _of_this_stack(record: records.ExecutionRecord) -> bool:
    """The record names an execution of this stack's state machine (when the function knows its name)."""
    machine = os.environ.get(STATE_MACHINE_NAME)
    if not machine or not record.ExecutionArn:
        return True
    return record.ExecutionArn.split(":")[-2] == machine


def _waiting_step(steps: list[StepRecord], request: AnswerRequest) -> StepRecord:
    approvals = [step for step in steps if step.Kind == "Approval"]
    if isinstance(request.Step, StepRef):
        found = [s for s in approvals if s.Phase == request.Step.Phase and s.Index == request.Step.Index]
        named = f"{request.Step.Phase} step {request.Step.Index}"
    else:
        found = [s for s in approvals if s.Name == request.Step]
        named = f"step {request.Step!r}"
        if len(found) > 1:
            raise AnswerRefused(
                f"wave {request.Wave} has {len(found)} approval steps named {request.Step!r}: give Step as "
                "{Phase, Index} instead"
            )
    if not found:
        raise NoSuchApproval(f"wave {request.Wave} of execution {request.ExecutionId} has no approval {named} (yet)")
    step = found[0]
    if step.Status != "RUNNING" or not step.TaskToken:
        state = "is being asked" if step.Status == "RUNNING" else f"ended {step.Status}"
        raise NotWaiting(f"approval {step.Name!r} of wave {request.Wave} is not waiting for an answer: it {state}")
    # Past its Deadline the task times out: Step Functions decides that (TaskTimedOut below), not this function's
    # reading of the time, so the sandbox (whose token waits count real time) and AWS answer alike.
    return step


def _send(decided: Decided, token: str, step: StepRecord) -> None:
    """Answer the task token with the decision; a token the task no longer waits for is said plainly."""
    # short timeouts and two attempts (lambdas/core/executions.py): far inside the function's timeout; an answer
    # whose call failed is sent again when its principal sends the same answer again
    client = boto3.client("stepfunctions", config=executions.CONFIG)
    try:
        if decided.decision == "APPROVE":
            client.send_task_success(taskToken=token, output=json.dumps(decided.output()))
        else:
            client.send_task_failure(taskToken=token, error=REJECTED, cause=json.dumps(decided.output()))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in GONE:
            raise NotWaiting(
                f"approval {step.Name!r} can no longer be answered: it timed out or the execution ended "
                f"({error.response['Error']['Code']}); your answer is recorded on the step (a rejection recorded "
                "before the step closed still stops the plan)"
            ) from error
        raise
