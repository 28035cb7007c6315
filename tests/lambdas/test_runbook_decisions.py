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
