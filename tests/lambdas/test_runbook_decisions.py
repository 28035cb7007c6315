"""How Next runbook step reads an ended step: approvals are decided by the answers the record holds (N distinct
principals, any rejection rejects) and fail closed; a failure to ask is not a rejection."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core import runbook
from lambdas.core.approval_record import ApprovalAnswer
from lambdas.core.records import WaveRecord
from lambdas.core.steps import Step

WAVE = WaveRecord(WaveNumber=2, WaveName="app", ProtectionGroupId="g", Region="us-east-1")
APPROVAL = Step.model_validate({"Approval": {"Message": "Fail over?"}})
TWO_APPROVERS = Step.model_validate({"Approval": {"Message": "Fail over?", "Approvers": 2}})
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/DrApprover/bob"


def answer(by: str, decision: str = "APPROVE", reason: str | None = None, at: int = 50) -> ApprovalAnswer:
    return ApprovalAnswer.model_validate({"By": by, "Decision": decision, "Reason": reason, "At": at})


def ended(
    step: Step, outcome: dict[str, Any], approvals: list[ApprovalAnswer] | None = None
) -> tuple[runbook.StepRecord, dict[str, str] | None]:
    record = runbook.StepRecord(Phase="BEFORE", Index=0, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=0)
    assert step.Approval is not None
    record.ApproversNeeded, record.Approvals, record.TaskToken = step.Approval.Approvers, approvals, "token"
    cursor = runbook.StepCursor(Phase="BEFORE", Index=0, Outcome=outcome)
    decision = runbook._record_outcome([record], cursor, step, 60, WAVE)
    return record, decision


def test_approve_approves_with_the_recorded_answer_and_names_the_principal():
    record, stop = ended(APPROVAL, {"Output": {"Decision": "APPROVE"}}, [answer(ALICE, reason="change 42", at=55)])
    assert (record.Status, record.Decision, record.DecidedBy, record.Reason, record.DecidedAt, stop) == (
        "SUCCEEDED",
        "APPROVE",
        ALICE,
        "change 42",
        55,
        None,
    )
    assert record.TaskToken is None


def test_an_approve_without_the_answers_the_record_holds_fails_closed():
    """A SendTaskSuccess made by hand with a token read from the history is not an approval."""
    record, stop = ended(APPROVAL, {"Output": {"Decision": "APPROVE", "DecidedBy": ALICE}})
    assert record.Status == "REJECTED" and record.DecidedBy is None and record.Decision == "REJECT"
    assert stop is not None and stop["Error"] == "ApprovalRejected"
    assert "an unrecorded principal" in stop["Cause"] and "not an approval" in stop["Cause"]


def test_n_distinct_principals_are_needed_and_the_same_one_twice_counts_once():
    twice = [answer(ALICE), answer(ALICE, at=56)]
    record, stop = ended(TWO_APPROVERS, {"Output": {"Decision": "APPROVE"}}, twice)
    assert record.Status == "REJECTED" and stop is not None
    record, stop = ended(TWO_APPROVERS, {"Output": {"Decision": "APPROVE"}}, [answer(ALICE), answer(BOB, at=70)])
    assert (record.Status, record.DecidedBy, record.DecidedAt, stop) == ("SUCCEEDED", BOB, 70, None)
    assert [a.By for a in record.Approvals or []] == [ALICE, BOB]


@pytest.mark.parametrize("decision", ["REJECTED", "reject", "DENY", "no", " approve it", None])
def test_only_an_explicit_approve_approves(decision):
    output = {} if decision is None else {"Decision": decision}
    record, stop = ended(APPROVAL, {"Output": output}, [answer(ALICE)])
    assert record.Status == "REJECTED" and stop is not None and stop["Error"] == "ApprovalRejected"
    assert "before wave 2 (app)" in stop["Cause"]


def test_a_rejection_keeps_who_and_why_from_the_record():
    cause = '{"Decision": "REJECT", "DecidedBy": "' + BOB + '"}'
    approvals = [answer(ALICE), answer(BOB, "REJECT", "the database is not ready", at=80)]
    record, stop = ended(TWO_APPROVERS, {"Error": "Rejected", "Cause": cause}, approvals)
    assert (record.Status, record.Decision, record.DecidedBy, record.Reason, record.DecidedAt) == (
        "REJECTED",
        "REJECT",
        BOB,
        "the database is not ready",
        80,
    )
    assert stop is not None and BOB in stop["Cause"] and "the database is not ready" in stop["Cause"]


def test_a_send_task_failure_from_outside_the_answer_function_still_rejects():
    record, stop = ended(APPROVAL, {"Error": "Rejected", "Cause": "the database is not ready"})
    assert record.Status == "REJECTED" and record.DecidedBy is None and stop is not None
    assert "the database is not ready" in stop["Cause"]


def test_an_unanswered_approval_times_out_saying_how_many_answered():
    record, stop = ended(TWO_APPROVERS, {"Error": "States.Timeout", "TimedOut": True}, [answer(ALICE)])
    assert record.Status == "TIMED_OUT" and "1 of 2 approval(s) recorded" in str(record.Detail)
    assert stop is not None and stop["Error"] == "ApprovalTimedOut"


CONTINUE_ON_TIMEOUT = Step.model_validate({"Approval": {"Message": "Fail over?", "OnTimeout": "CONTINUE"}})


@pytest.mark.parametrize(
    "error",
    [
        "Sandbox.Timedout",  # the request function timed out on every attempt: maybe nobody was asked
        "States.Timeout",  # a SendTaskFailure naming a timeout, sent with the token before the deadline
        "States.HeartbeatTimeout",
    ],
)
def test_only_step_functions_own_timeout_is_an_unanswered_approval_that_on_timeout_continue_goes_past(error):
    """OnTimeout CONTINUE goes on as if approved: only the task's TaskTimedOut event (step_end.read's TimedOut) may
    lead there; any other end the approvers did not decide stops the plan."""
    record, stop = ended(CONTINUE_ON_TIMEOUT, {"Error": error, "Cause": "Task timed out"})
    assert record.Status == "FAILED" and stop is not None and stop["Error"] == "RunbookStepFailed"
    assert "could not be asked" in stop["Cause"] and error in stop["Cause"]
    record, stop = ended(CONTINUE_ON_TIMEOUT, {"Error": "States.Timeout", "TimedOut": True})
    assert record.Status == "TIMED_OUT" and stop is None


def test_an_approval_that_could_not_be_asked_is_a_failure_not_a_rejection():
    cause = '{"errorType": "InternalServerError", "errorMessage": "DynamoDB 500", "stackTrace": ["  File x"]}'
    record, stop = ended(APPROVAL, {"Output": None, "Error": "InternalServerError", "Cause": cause})
    assert record.Status == "FAILED" and record.Detail == "InternalServerError: DynamoDB 500"
    assert stop is not None and stop["Error"] == "RunbookStepFailed" and "could not be asked" in stop["Cause"]


@pytest.mark.parametrize(
    "outcome",
    [
        {"Error": "States.Timeout", "TimedOut": True},  # its SendTaskFailure came after the deadline
        {"Error": "Sandbox.Timedout", "Cause": "the request function died"},
        {"Output": {"Decision": "APPROVE"}},  # an APPROVE sent by hand with the token
    ],
)
def test_a_rejection_on_the_record_stands_however_the_task_ended(outcome):
    rejected = [answer(ALICE), answer(BOB, "REJECT", "not ready", at=80)]
    record, stop = ended(
        Step.model_validate({"Approval": {"Message": "Go?", "Approvers": 2, "OnTimeout": "CONTINUE"}}),
        outcome,
        rejected,
    )
    assert (record.Status, record.DecidedBy, record.Reason) == ("REJECTED", BOB, "not ready")
    assert stop is not None and stop["Error"] == "ApprovalRejected" and BOB in stop["Cause"]


# -- steps cut short by the execution's own deadline (lambdas/core/deadline.py) ------------------------------------

CONTINUING = Step.model_validate({"Approval": {"Message": "Go on?", "TimeoutMinutes": 60, "OnTimeout": "CONTINUE"}})
OPTIONAL_HOOK = Step.model_validate({"Lambda": {"FunctionName": "drs-hook-a", "Impact": "OPTIONAL"}})
OPTIONAL_HEALTH = Step.model_validate({"HealthCheck": {"TimeoutMinutes": 30, "Impact": "OPTIONAL"}})
TIMED_OUT = {"Error": "States.Timeout", "Cause": "the task timed out"}
SILENCE = {**TIMED_OUT, "TimedOut": True}  # an approval's end read from a TaskTimedOut event (step_end.py)
LATE = {"Status": "UNHEALTHY", "Error": "HealthCheckTimedOut", "Cause": "1 server(s) unhealthy", "Critical": 0}


def ended_with(step: Step, outcome: dict[str, Any], timeout: int | None) -> tuple[runbook.StepRecord, Any]:
    record = runbook.StepRecord(Phase="AFTER", Index=0, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=0)
    if step.Approval is not None:  # the answer function's record of who approved (an APPROVE needs it)
        record.ApproversNeeded, record.Approvals = step.Approval.Approvers, [answer(ALICE)]
    cursor = runbook.StepCursor(Phase="AFTER", Index=0, Outcome=outcome, TimeoutSeconds=timeout)
    return record, runbook._record_outcome([record], cursor, step, 60, WAVE, execution_id="exec-1")


@pytest.mark.parametrize(
    ("step", "outcome"),
    [(CONTINUING, SILENCE), (OPTIONAL_HOOK, TIMED_OUT), (OPTIONAL_HEALTH, LATE)],
    ids=["approval with OnTimeout CONTINUE", "OPTIONAL hook", "OPTIONAL health check"],
)
def test_a_step_cut_short_that_times_out_stops_the_plan_whatever_its_impact(step, outcome):
    # with its own timeout, the plan goes on: OnTimeout CONTINUE, OPTIONAL
    record, stop = ended_with(step, outcome, step.timeout_seconds)
    assert (record.Status, stop, record.StoppedPlan) == ("TIMED_OUT", None, False)
    # cut to 600 s by the execution's deadline, it did not get the time the plan gave it: the plan stops, out of time
    record, stop = ended_with(step, outcome, 600)
    assert (record.Status, record.StoppedPlan) == ("TIMED_OUT", True)  # a resume runs it again
    assert stop is not None and stop["Error"] == "ExecutionOutOfTime"
    assert "after 600 s" in stop["Cause"] and "drsctl run resume exec-1" in stop["Cause"]
    assert "after wave 2 (app)" in stop["Cause"] and "What to do:" in stop["Cause"]


def test_a_step_cut_short_that_answered_in_time_goes_on():
    record, stop = ended_with(CONTINUING, {"Output": {"Decision": "APPROVE"}}, 600)
    assert (record.Status, stop) == ("SUCCEEDED", None)
    record, stop = ended_with(OPTIONAL_HOOK, {"Error": "Boom", "Cause": "failed"}, 600)  # failed, not timed out
    assert (record.Status, stop) == ("FAILED", None)
