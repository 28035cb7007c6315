"""Approvals answered through the stack's answer function, as its function URL gives it a request AWS has
authenticated: distinct principals, reasons, rejections, a lost answer, a forged request, and no task token in the
notification or the logs. On the real definition, handlers, engine and emulator."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import boto3
import pytest

from drsctl.emulator import Scenario
from drsctl.local.engine import EngineFaults, LambdaFault
from drsctl.local.function_url import invoke, request_event
from drsctl.local.rehearsal import LocalAws, local_aws
from drsctl.operate.executions import pending_approvals
from tests.workflow.approving import answer_as, wait_for_approval
from tests.workflow.conftest import load, start_recovery_waves, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:sts::123456789012:assumed-role/DrApprover/bob"
CAROL = "arn:aws:iam::123456789012:user/carol"


def gated(approval: dict[str, Any]) -> dict[str, Any]:
    plan = three_wave_plan()
    plan["Waves"][1]["Before"] = [{"Name": "CAB", "Approval": {"Message": "Fail the app tier over?", **approval}}]
    return plan


@contextmanager
def waiting(approval: dict[str, Any], log_level: str = "WARNING") -> Iterator[tuple[LocalAws, str]]:
    """An execution waiting at wave 2's approval, which no scenario approver answers (an operator does)."""
    with local_aws(
        Scenario.model_validate(three_tier_scenario()), answer_undeclared_approvals=False, log_level=log_level
    ) as aws:
        load(aws, gated(approval))
        arn = aws.start_execution(DRILL, "exec-1")
        wait_for_approval(aws, "exec-1")
        try:
            yield aws, arn
        finally:  # an execution left waiting is stopped, as an operator would
            if aws.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "RUNNING":
                aws.stop(arn, "end of test")


def step(aws: LocalAws) -> dict[str, Any]:
    (found,) = aws.waves("exec-1")[1].Steps
    return found


def test_two_approvers_need_two_distinct_principals_and_the_same_one_twice_counts_once():
    with waiting({"Approvers": 2}) as (aws, arn):
        status, first = answer_as(aws, ALICE, "exec-1", 2, Reason="change 42")
        assert (status, first["Status"], first["ApproversNeeded"]) == (200, "RECORDED", 2)
        status, again = answer_as(aws, ALICE, "exec-1", 2)
        assert status == 409 and again["Error"] == "AlreadyAnswered" and "counts once" in again["Message"]
        assert pending_approvals(aws.waves("exec-1"))  # still waiting: one principal is not two
        status, second = answer_as(aws, BOB, "exec-1", 2, Step="CAB")  # by the step's name, as well
        assert (status, second["Status"]) == (200, "APPROVED")
        status, late = answer_as(aws, CAROL, "exec-1", 2)
        assert status == 409 and late["Error"] in ("AlreadyAnswered", "NotWaiting")
        assert aws.wait(arn)["status"] == "SUCCEEDED"
        ended = step(aws)
        assert (ended["Status"], ended["Decision"], ended["DecidedBy"]) == ("SUCCEEDED", "APPROVE", BOB)
        assert [(a["By"], a["Decision"], a.get("Reason")) for a in ended["Approvals"]] == [
            (ALICE, "APPROVE", "change 42"),
            (BOB, "APPROVE", None),
        ]
        assert ended["DecidedAt"] >= ended["StartedAt"] and "TaskToken" not in ended
        assert start_recovery_waves(aws) == ["1", "2", "3"]


def test_a_rejection_needs_a_reason_and_keeps_who_and_why_and_the_drill_fails():
    with waiting({}) as (aws, arn):
        status, refused = answer_as(aws, BOB, "exec-1", 2, Decision="REJECT")
        assert status == 400 and "Reason is required to reject" in refused["Message"]
        status, _ = answer_as(aws, BOB, "exec-1", 2, Decision="REJECT", Reason="   ")
        assert status == 400
        assert pending_approvals(aws.waves("exec-1")) and "Approvals" not in step(aws)  # nothing was recorded
        status, rejected = answer_as(aws, BOB, "exec-1", 2, Decision="REJECT", Reason="DB not ready")
        assert (status, rejected["Status"]) == (200, "REJECTED")
        described = aws.wait(arn)
        assert (described["status"], described["error"]) == ("FAILED", "ApprovalRejected")
        ended = step(aws)
        assert (ended["Status"], ended["Decision"], ended["DecidedBy"], ended["Reason"]) == (
            "REJECTED",
            "REJECT",
            BOB,
            "DB not ready",
        )
        record = aws.record("exec-1", "shop")
        assert (
            record.Status == "FAILED" and BOB in str(record.ErrorMessage) and "DB not ready" in str(record.ErrorMessage)
        )
        assert start_recovery_waves(aws) == ["1"]  # wave 2 never launched


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"Decision": "MAYBE"}, "Decision"),
        ({"Wave": 0}, "Wave"),
        ({"Step": {"Phase": "DURING", "Index": 0}}, "Step"),
        ({"Reason": "x" * 501}, "Reason"),
        ({"Surprise": 1}, "Surprise"),
    ],
)
def test_a_malformed_answer_is_refused_naming_the_field(body, problem):
    with waiting({}) as (aws, _):
        status, refused = answer_as(aws, ALICE, "exec-1", 2, **body)
        assert status == 400 and problem in refused["Message"], refused
        assert pending_approvals(aws.waves("exec-1"))


def test_a_request_without_an_aws_identity_or_for_nothing_waiting_is_refused():
    with waiting({}) as (aws, _):
        body = {"ExecutionId": "exec-1", "Wave": 2, "Step": {"Phase": "BEFORE", "Index": 0}, "Decision": "APPROVE"}
        # what a URL with AuthType NONE (or a forged event) would give: no authenticated caller
        unsigned = request_event(body=json.dumps(body).encode(), headers={}, principal=None, now=aws.clock.now())
        status, _, answered = invoke(unsigned)
        assert status == 403 and json.loads(answered)["Error"] == "NotAuthenticated"
        assert answer_as(aws, ALICE, "exec-9", 2)[0] == 404  # no such execution
        assert answer_as(aws, ALICE, "exec-1", 1)[0] == 404  # no approval in wave 1
        assert answer_as(aws, ALICE, "exec-1", 2, phase="AFTER")[0] == 404
        assert pending_approvals(aws.waves("exec-1")) and "Approvals" not in step(aws)


def test_an_answer_lost_before_the_token_was_answered_is_sent_again_by_the_same_principal():
    with waiting({}) as (aws, arn):
        # the answer function dies at its 4th AWS call, SendTaskSuccess (after the answer was recorded): 502
        aws.engine.faults.lambdas.append(LambdaFault("answer-approval", 1, "timeout_after_calls", calls=4))
        status, _ = answer_as(aws, ALICE, "exec-1", 2)
        assert status == 502
        assert [a["By"] for a in step(aws)["Approvals"]] == [ALICE] and pending_approvals(aws.waves("exec-1"))
        status, answered = answer_as(aws, ALICE, "exec-1", 2)  # the approver sends it again
        assert (status, answered["Status"]) == (200, "APPROVED")
        assert aws.wait(arn)["status"] == "SUCCEEDED"
        assert [a["By"] for a in step(aws)["Approvals"]] == [ALICE]  # recorded once


def test_a_forged_timeout_sent_with_the_token_before_the_deadline_is_no_timeout_and_on_timeout_continue_stops():
    """Anyone holding the token and states:SendTaskFailure (a callback hook's role, an administrator) could fail the
    task naming a timeout (here a Lambda's): with OnTimeout CONTINUE that would skip the approvers. Only Step
    Functions' own timer times an approval out: the forged one fails the step, and nothing launches after it."""
    with waiting({"OnTimeout": "CONTINUE", "TimeoutMinutes": 120}) as (aws, arn):
        token = step(aws)["TaskToken"]
        aws.client("stepfunctions").send_task_failure(taskToken=token, error="Sandbox.Timedout", cause="timed out")
        described = aws.wait(arn)
        assert (described["status"], described["error"]) == ("FAILED", "RunbookStepFailed")
        ended = step(aws)
        assert ended["Status"] == "FAILED" and "Sandbox.Timedout" in ended["Detail"]
        assert start_recovery_waves(aws) == ["1"]  # wave 2 never launched


def test_an_approval_whose_request_times_out_every_time_stops_the_plan_even_with_on_timeout_continue():
    """The request function killed before it asks (a Lambda timeout), on every attempt: nobody was asked, so the
    step fails; read as the approvers' silence, OnTimeout CONTINUE would launch the next waves unapproved."""
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [{"Name": "Sign-off", "Approval": {"Message": "ok?", "OnTimeout": "CONTINUE"}}]
    scenario = three_tier_scenario(approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    with local_aws(Scenario.model_validate(scenario)) as aws:
        load(aws, plan)
        killed = [LambdaFault("request-approval", n, "timeout_after_calls", calls=1) for n in range(1, 9)]
        aws.engine.faults = EngineFaults(lambdas=killed)
        arn = aws.start_execution(DRILL, "exec-1")
        described = aws.wait(arn)
        assert (described["status"], described["error"]) == ("FAILED", "RunbookStepFailed")
        (sign_off,) = aws.waves("exec-1")[0].Steps
        assert sign_off["Status"] == "FAILED" and sign_off["Detail"].startswith("Sandbox.Timedout")
        assert "could not be asked" in str(aws.record("exec-1", "shop").ErrorMessage)
        assert start_recovery_waves(aws) == ["1"]


def test_a_rejection_recorded_as_the_deadline_passes_stands_even_with_on_timeout_continue():
    """The approver rejects as the 30 minutes end: the answer function records it, then its SendTaskFailure reaches
    Step Functions after the task timed out (TaskTimedOut; the approver is told 409, "your answer is recorded").
    The recorded "no" stops the plan; read as the approvers' silence, OnTimeout CONTINUE launched the next waves."""
    plan = three_wave_plan()
    sign_off = {"Message": "Database ok?", "TimeoutMinutes": 30, "OnTimeout": "CONTINUE"}
    plan["Waves"][0]["After"] = [{"Name": "Sign-off", "Approval": sign_off}]
    scenario = three_tier_scenario(approvals=[{"decision": "REJECT", "afterSeconds": 1800, "reason": "DB corrupt"}])
    with local_aws(Scenario.model_validate(scenario)) as aws:
        load(aws, plan)
        arn = aws.start_execution(DRILL, "exec-1")
        described = aws.wait(arn)
        assert (described["status"], described["error"]) == ("FAILED", "ApprovalRejected")
        (ended,) = aws.waves("exec-1")[0].Steps
        assert (ended["Status"], ended["Decision"], ended["Reason"]) == ("REJECTED", "REJECT", "DB corrupt")
        assert ended["DecidedBy"].endswith("rehearsal-approver-1") and ended["DecidedAt"] <= ended["Deadline"]
        assert "DB corrupt" in str(aws.record("exec-1", "shop").ErrorMessage)
        assert start_recovery_waves(aws) == ["1"]


def test_an_answer_recorded_while_next_runbook_step_records_the_end_is_read_again_not_an_internal_failure():
    """Two writers of the wave's steps, at the same moment: Next runbook step recording how the approval's task
    ended, and the answer function recording an approver's answer (its write is versioned, so Next runbook step's
    is refused: StepsChangedError). The state runs Next runbook step again, which decides from the record as it is
    now; before, the execution failed with StepsChangedError, an internal error that named no approver."""
    with waiting({"Approvers": 2}) as (aws, arn):
        assert answer_as(aws, ALICE, "exec-1", 2)[1]["Status"] == "RECORDED"
        answered: list[tuple[int, dict[str, Any]]] = []

        def bob_rejects_meanwhile(function: str, operation: str) -> None:
            if function.endswith("next-step") and operation == "UpdateItem" and not answered:
                answered.append(answer_as(aws, BOB, "exec-1", 2, Decision="REJECT", Reason="DB not ready"))

        aws.engine.on_aws_call.append(bob_rejects_meanwhile)
        # the task ends first by a SendTaskFailure made with the token outside the answer function (an administrator)
        token = step(aws)["TaskToken"]
        aws.client("stepfunctions").send_task_failure(taskToken=token, error="Rejected", cause="by hand")
        described = aws.wait(arn)
        assert answered and answered[0][1]["Approvals"][-1]["By"] == BOB  # recorded while Next runbook step ran
        assert (described["status"], described["error"]) == ("FAILED", "ApprovalRejected")
        ended = step(aws)
        assert (ended["Status"], ended["DecidedBy"], ended["Reason"]) == ("REJECTED", BOB, "DB not ready")
        assert start_recovery_waves(aws) == ["1"]


def test_the_notification_and_the_logs_say_what_is_asked_and_hold_no_token(caplog, capfd):
    caplog.set_level("INFO", logger="drs-orchestrator")
    with local_aws(
        Scenario.model_validate(three_tier_scenario()), answer_undeclared_approvals=False, log_level="INFO"
    ) as aws:
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="approvers")["TopicArn"]
        queue = sqs.create_queue(QueueName="approvers")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        boto3.client("sns", region_name="us-east-1").subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        with patch.dict(os.environ, {"NOTIFICATION_TOPIC_ARN": topic}):
            load(aws, gated({"TimeoutMinutes": 90, "OnTimeout": "CONTINUE", "Approvers": 2}))
            arn = aws.start_execution(DRILL, "exec-1")
            wait_for_approval(aws, "exec-1")
            token = step(aws)["TaskToken"]  # on the record, for the answer function alone
            # the request function records the token, then publishes: the message can trail the record a moment
            (message,) = _received(sqs, queue)
            body = message["Body"]
            asked = step(aws)
            assert "Question: Fail the app tier over?" in body
            assert "'CAB' before wave 2 (app)" in body
            assert f"Deadline:   {_iso(asked['Deadline'])}" in body and asked["Deadline"] - asked["StartedAt"] == 5400
            assert "On timeout: CONTINUE: the plan goes on as if approved" in body
            assert "2 distinct AWS principal(s) must approve" in body
            assert 'drsctl run approve exec-1 --reject --reason "<why>"' in body
            assert token not in body and "send-task-success" not in body
            answer_as(aws, ALICE, "exec-1", 2)
            answer_as(aws, BOB, "exec-1", 2)
            assert aws.wait(arn)["status"] == "SUCCEEDED"
    logged = [(record.getMessage(), vars(record)) for record in caplog.records]
    assert "approval answered" in [message for message, _ in logged]  # the functions did log, at INFO
    assert "approval requested" in [message for message, _ in logged]
    assert not [message for message, fields in logged if token in str(fields)]
    printed = capfd.readouterr()
    assert token not in printed.out and token not in printed.err


def _received(sqs: Any, queue: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The queue's messages, waiting in real time until at least one arrived."""
    deadline = time.monotonic() + timeout
    while not (messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])):
        assert time.monotonic() < deadline, "no notification reached the approvers' queue"
        time.sleep(0.02)
    return messages


def _iso(epoch: int) -> str:
    from lambdas.core.approvals import iso_utc

    return iso_utc(epoch)
