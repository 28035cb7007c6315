"""The workflow definition reads well in the graph view and handles failure in every state."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "statemachine" / "recovery_plan.asl.json").read_text()
ASL = json.loads(TEXT)
LAMBDA_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}


def all_states(states: dict[str, Any]) -> dict[str, Any]:
    found = dict(states)
    for state in states.values():
        if "ItemProcessor" in state:
            found |= all_states(state["ItemProcessor"]["States"])
    return found


STATES = all_states(ASL["States"])


# The plan's own functions: not ours, not known to be idempotent, so a timeout or a crash is theirs to report (the
# Catch records it and the step's impact decides), and only the Lambda service's own refusals are retried.
USER_FUNCTION_TASKS = {"Run hook", "Run hook and wait for its callback"}
LAMBDA_SERVICE_ERRORS = {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.TooManyRequestsException"}


def test_every_task_retries_lambda_service_errors_and_each_retrier_says_why():
    tasks = {name: state for name, state in STATES.items() if state["Type"] == "Task"}
    assert len(tasks) == 14  # 3 of them the drill cleanup's, 1 the health check's
    for name, task in tasks.items():
        errors = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        if name in USER_FUNCTION_TASKS:
            assert errors >= LAMBDA_SERVICE_ERRORS and not errors & {"Sandbox.Timedout", "States.Timeout"}, name
            last = task["Catch"][-1]
            assert last["ErrorEquals"] == ["States.ALL"] and last["Next"] == "Next runbook step", name
        elif name == "Ask for approval":  # a timeout of the task is the approvers' silence: OnTimeout decides
            assert errors >= LAMBDA_ERRORS | {"Sandbox.Timedout", "InternalServerError", "ThrottlingException"}, name
            assert "States.Timeout" not in errors, name
        else:
            assert errors >= LAMBDA_ERRORS, name
        assert all(retrier.get("Comment") for retrier in task["Retry"]), name


# The states whose result is the plan's own (a hook's output, a callback's or an approver's answer): step_end.py
STEP_END_IN_HISTORY = ("Run hook", "Run hook and wait for its callback", "Ask for approval")


def test_what_a_hook_or_an_approver_returns_never_enters_the_states_data():
    """Their result is read from the execution's history by Next runbook step: an output near 256 KiB cannot push the
    wave's state past the limit. A result over 256 KiB fails the task with States.DataLimitExceeded, which States.ALL
    does not catch: each of them names it, so it fails the step (by its Impact), never the whole execution."""
    from lambdas.core import step_end

    assert step_end.STEP_STATES == STEP_END_IN_HISTORY and step_end.NEXT_STEP_STATE in STATES
    for name in STEP_END_IN_HISTORY:
        task = STATES[name]
        assert task["ResultPath"] is None and "ResultSelector" not in task and "OutputPath" not in task, name
        assert [(c["ErrorEquals"], c["ResultPath"], c["Next"]) for c in task["Catch"]] == [
            (["States.DataLimitExceeded"], None, "Next runbook step"),
            (["States.ALL"], None, "Next runbook step"),
        ], name
        assert task["Next"] == "Next runbook step", name
    assert STATES["Next runbook step"]["Parameters"]["Payload"]["ExecutionArn.$"] == "$$.Execution.Id"
    # A state of the wave loop past 256 KiB still ends the record through Record failure
    assert ASL["States"]["Run waves in order"]["Catch"][0]["ErrorEquals"] == ["States.DataLimitExceeded"]
    assert ASL["States"]["Run waves in order"]["Catch"][0]["Next"] == "Record failure"


def test_every_fail_state_tells_the_operator_what_failed_and_why():
    fails = {name: state for name, state in STATES.items() if state["Type"] == "Fail"}
    assert len(fails) == 8
    for name, state in fails.items():
        assert "Error" in state or "ErrorPath" in state, name
        assert "Cause" in state or "CausePath" in state, name


def test_state_names_read_as_words_in_the_graph_view():
    assert all(" " in name and name[0].isupper() for name in STATES)


def test_only_function_arns_are_substituted_and_time_comes_from_the_context():
    assert sorted(set(re.findall(r"\$\{(\w+)\}", TEXT))) == [
        "ApprovalFunctionArn",
        "CheckWaveFunctionArn",
        "CleanupFunctionArn",
        "FinalizeFunctionArn",
        "HealthFunctionArn",
        "LockServersFunctionArn",
        "NextStepFunctionArn",
        "PrepareFunctionArn",
        "StartWaveFunctionArn",
    ]
    assert "$$.Execution.StartTime" not in TEXT  # breaks describe_execution in the local engine (docs/rehearsal.md)
    assert all(
        state["Parameters"]["Payload"].get("Now.$") == "$$.State.EnteredTime"
        for name, state in STATES.items()
        if state["Type"] == "Task" and name not in USER_FUNCTION_TASKS  # their event is the hook's (plan-format.md)
    )


def test_the_waves_run_one_at_a_time_in_plan_order():
    runner = ASL["States"]["Run waves in order"]
    assert runner["Type"] == "Map"
    assert runner["MaxConcurrency"] == 1
    assert runner["ItemProcessor"]["ProcessorConfig"]["Mode"] == "INLINE"


def test_a_health_check_polls_natively_and_every_check_fits_its_history_budget():
    """Which runbook step? -> Check health -> Servers healthy? -> Wait for health checks -> Check health, until the
    check decides; its outcome goes to Next runbook step, as a hook's does (lambdas/core/polling.py budgets it)."""
    from lambdas.core import health, polling
    from lambdas.core.health import HealthProgress

    choice = STATES["Which runbook step?"]["Choices"]
    assert {"Variable": "$.Steps.Kind", "StringEquals": "HEALTH", "Next": "Check health"} in choice
    check = STATES["Check health"]
    assert check["ResultPath"] == "$.Steps.Outcome" and check["Next"] == "Servers healthy?"
    assert check["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.Steps.Outcome", "Next": "Next runbook step"}
    ]
    assert set(check["ResultSelector"]) == {f"{key}.$" for key in HealthProgress.model_fields}
    assert sum(r["MaxAttempts"] for r in check["Retry"]) == polling.HEALTH_CHECK_MAX_RETRIES
    decided = STATES["Servers healthy?"]
    assert decided["Choices"] == [
        {"Variable": "$.Steps.Outcome.Status", "StringEquals": "PENDING", "Next": "Wait for health checks"}
    ]
    assert decided["Default"] == "Next runbook step"
    wait = STATES["Wait for health checks"]
    assert (wait["SecondsPath"], wait["Next"]) == ("$.Steps.Outcome.NextCheckSeconds", "Check health")
    # The schedule: at most HEALTH_CHECKS_MAX looks whatever the timeout (the first at once, the last at the deadline)
    for minutes in (1, 5, 9, 10, 11, 30, 59, 61, 600, 1440):
        timeout = minutes * 60
        now, looks = 0, 1
        while now < timeout:
            now += health._delay(timeout, timeout, now)
            looks += 1
        assert looks <= polling.HEALTH_CHECKS_MAX, minutes
