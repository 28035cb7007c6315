"""Next runbook step reads how a hook or an approval ended from the execution's history (lambdas/core/step_end.py):
on the real definition, handlers, engine and emulator, with GetExecutionHistory throttled and answering in pages
shorter than asked, as AWS may. A read that cannot be made now is retried by the state; it never fails the plan by
itself, and never runs the step again."""

from __future__ import annotations

from collections import Counter
from typing import Any

from drsctl.local import invariants
from drsctl.local.engine import EngineFaults, StepFunctionsFault
from drsctl.local.rehearsal import LocalAws
from tests.workflow.conftest import load, run, start_recovery_waves, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
PROMOTE = {"Name": "Promote", "Lambda": {"FunctionName": "drs-hook-promote"}}
SIGN_OFF = {"Name": "Sign-off", "Approval": {"Message": "Database ok?"}}


def gated() -> dict[str, Any]:
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [PROMOTE, SIGN_OFF]
    return plan


def scenario() -> dict[str, Any]:
    return three_tier_scenario(
        functions={"drs-hook-promote": {"seconds": 5}}, approvals=[{"decision": "APPROVE", "afterSeconds": 60}]
    )


def invoked(aws: LocalAws) -> Counter[str]:
    return Counter(invocation.function for invocation in aws.engine.invocations)


def ended(aws: LocalAws) -> list[tuple[str, str]]:
    return [(step["Name"], step["Status"]) for step in aws.waves("exec-1")[0].Steps]


def failed_next_steps(history: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]


def test_a_throttled_history_read_is_retried_by_the_state_and_the_plan_goes_on(stage):
    """Before: botocore raised a ClientError (Step Functions' ThrottlingException is not in its model), which no
    Retry names, and the drill FAILED after its first wave launched, the hook having succeeded."""
    with stage(scenario()) as aws:
        load(aws, gated())
        # two attempts of the SDK, twice: the first two reads of the history fail, after the hook and the approval
        throttled = StepFunctionsFault("GetExecutionHistory", "ThrottlingException", count=4)
        aws.engine.faults = EngineFaults(stepfunctions=[throttled])
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED" and throttled.count == 0
        assert failed_next_steps(history) == ["ExecutionHistoryUnavailableError"] * 2
        assert ended(aws) == [("Promote", "SUCCEEDED"), ("Sign-off", "SUCCEEDED")]
        assert invoked(aws)["drs-hook-promote"] == 1  # the read is retried, never the hook
        assert start_recovery_waves(aws) == ["1", "2", "3"]


def test_a_history_read_throttled_for_good_fails_closed_and_launches_nothing_more(stage):
    with stage(scenario()) as aws:
        load(aws, gated())
        aws.engine.faults = EngineFaults(stepfunctions=[StepFunctionsFault("GetExecutionHistory", count=1000)])
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED"
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED" and "could not be read" in str(record.ErrorMessage)
        assert ended(aws) == [("Promote", "CANCELLED")]  # closed with the execution: a resume runs it again
        assert start_recovery_waves(aws) == ["1"]
        assert not invariants.check(aws.drs)


def test_a_history_answered_in_short_pages_is_read_page_after_page(stage):
    """AWS may answer fewer events than maxResults asks (with a nextToken): one page of 3 events never reaches the
    hook's end, and the step could not be judged."""
    with stage(scenario()) as aws:
        load(aws, gated())
        aws.engine.faults = EngineFaults(history_page_max=3)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        (_, sign_off) = aws.waves("exec-1")[0].Steps
        assert ended(aws) == [("Promote", "SUCCEEDED"), ("Sign-off", "SUCCEEDED")]
        assert sign_off["Decision"] == "APPROVE" and sign_off["DecidedBy"].endswith("rehearsal-approver-1")
        assert start_recovery_waves(aws) == ["1", "2", "3"]
