"""How Next runbook step reads an ended step: approvals fail closed, a failure to ask is not a rejection."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core import runbook
from lambdas.core.records import WaveRecord
from lambdas.core.steps import Step

WAVE = WaveRecord(WaveNumber=2, WaveName="app", ProtectionGroupId="g", Region="us-east-1")
APPROVAL = Step.model_validate({"Approval": {"Message": "Fail over?"}})


def ended(step: Step, outcome: dict[str, Any]) -> tuple[runbook.StepRecord, dict[str, str] | None]:
    record = runbook.StepRecord(Phase="BEFORE", Index=0, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=0)
    cursor = runbook.StepCursor(Phase="BEFORE", Index=0, Outcome=outcome)
    decision = runbook._record_outcome([record], cursor, step, 60, WAVE)
    return record, decision


@pytest.mark.parametrize("decision", ["REJECTED", "reject", "DENY", "no", " approve it", None])
def test_only_an_explicit_approve_approves(decision):
    output = {"By": "alice"} if decision is None else {"Decision": decision, "By": "alice"}
    record, stop = ended(APPROVAL, {"Output": output})
    assert record.Status == "REJECTED" and stop is not None and stop["Error"] == "ApprovalRejected"
    assert "before wave 2 (app)" in stop["Cause"] and "alice" in stop["Cause"]


@pytest.mark.parametrize("decision", ["APPROVE", "approve", " Approve "])
def test_approve_approves_and_names_the_approver(decision):
    record, stop = ended(APPROVAL, {"Output": {"Decision": decision, "By": "alice"}})
    assert (record.Status, record.DecidedBy, stop) == ("SUCCEEDED", "alice", None)


def test_an_approval_that_could_not_be_asked_is_a_failure_not_a_rejection():
    cause = '{"errorType": "InternalServerError", "errorMessage": "DynamoDB 500", "stackTrace": ["  File x"]}'
    record, stop = ended(APPROVAL, {"Output": None, "Error": "InternalServerError", "Cause": cause})
    assert record.Status == "FAILED" and record.Detail == "InternalServerError: DynamoDB 500"
    assert stop is not None and stop["Error"] == "RunbookStepFailed" and "could not be asked" in stop["Cause"]


def test_an_approvers_send_task_failure_is_a_rejection_with_its_reason():
    record, stop = ended(APPROVAL, {"Error": "Rejected", "Cause": "the database is not ready"})
    assert record.Status == "REJECTED" and stop is not None
    assert "the database is not ready" in stop["Cause"]


# -- steps cut short by the execution's own deadline (lambdas/core/deadline.py) ------------------------------------

CONTINUING = Step.model_validate({"Approval": {"Message": "Go on?", "TimeoutMinutes": 60, "OnTimeout": "CONTINUE"}})
OPTIONAL_HOOK = Step.model_validate({"Lambda": {"FunctionName": "drs-hook-a", "Impact": "OPTIONAL"}})
OPTIONAL_HEALTH = Step.model_validate({"HealthCheck": {"TimeoutMinutes": 30, "Impact": "OPTIONAL"}})
TIMED_OUT = {"Error": "States.Timeout", "Cause": "the task timed out"}
LATE = {"Status": "UNHEALTHY", "Error": "HealthCheckTimedOut", "Cause": "1 server(s) unhealthy", "Critical": 0}


def ended_with(step: Step, outcome: dict[str, Any], timeout: int | None) -> tuple[runbook.StepRecord, Any]:
    record = runbook.StepRecord(Phase="AFTER", Index=0, Kind=step.kind, Name=step.label, Status="RUNNING", StartedAt=0)
    cursor = runbook.StepCursor(Phase="AFTER", Index=0, Outcome=outcome, TimeoutSeconds=timeout)
    return record, runbook._record_outcome([record], cursor, step, 60, WAVE, execution_id="exec-1")


@pytest.mark.parametrize(
    ("step", "outcome"),
    [(CONTINUING, TIMED_OUT), (OPTIONAL_HOOK, TIMED_OUT), (OPTIONAL_HEALTH, LATE)],
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
    record, stop = ended_with(CONTINUING, {"Output": {"Decision": "APPROVE", "By": "alice"}}, 600)
    assert (record.Status, stop) == ("SUCCEEDED", None)
    record, stop = ended_with(OPTIONAL_HOOK, {"Error": "Boom", "Cause": "failed"}, 600)  # failed, not timed out
    assert (record.Status, stop) == ("FAILED", None)
