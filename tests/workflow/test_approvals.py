"""Approvals answered through the stack's answer function, as its function URL gives it a request AWS has
authenticated: distinct principals, reasons, rejections, a lost answer, a forged request, and no task token in the
notification or the logs. On the real definition, handlers, engine and emulator."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import boto3
import pytest

from drsctl.emulator import Scenario
from drsctl.local.engine import LambdaFault
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
            (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
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


def _iso(epoch: int) -> str:
    from lambdas.core.approvals import iso_utc

    return iso_utc(epoch)
