"""How Next runbook step finds the end of a hook's or an approval's task in the execution's history (newest first),
whatever happened around it: its retries, this state's own failed attempts, a callback's submission."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.core import step_end


def entered(name: str) -> dict[str, Any]:
    return {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def exited(name: str) -> dict[str, Any]:
    return {"type": "TaskStateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}}


def event(kind: str, **details: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:] + "EventDetails"
    return {"type": kind, key: {"resourceType": "lambda", "resource": "invoke", **details}}


def failed(error: str, cause: str = "") -> dict[str, Any]:
    return event("TaskFailed", error=error, cause=cause)


def history(state: str, *task_events: dict[str, Any], next_step_retries: int = 0) -> list[dict[str, Any]]:
    """Oldest first: the step's state and its task's events, then Next runbook step entered (and retried)."""
    events = [entered("Next runbook step"), event("TaskSucceeded", output="{}"), exited("Next runbook step")]
    events += [entered(state), *task_events, exited(state), entered("Next runbook step")]
    for _ in range(next_step_retries):
        events += [event("TaskScheduled"), event("TaskStarted"), failed("Sandbox.Timedout", "Task timed out")]
    return [*events, event("TaskScheduled"), event("TaskStarted")]


def read(events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(step_end, "_newest_first", lambda arn: events[::-1])
    return step_end.read("arn:aws:states:us-east-1:111122223333:execution:m:e")


def test_a_hooks_output_is_its_lambda_results_payload_even_after_retries_of_both_states(monkeypatch):
    result = json.dumps({"ExecutedVersion": "$LATEST", "Payload": {"promoted": True}, "StatusCode": 200})
    events = history(
        "Run hook",
        event("TaskScheduled"),
        event("TaskStarted"),
        failed("Lambda.ServiceException", "retried"),
        event("TaskScheduled"),
        event("TaskStarted"),
        event("TaskSucceeded", output=result),
        next_step_retries=6,
    )
    assert read(events, monkeypatch) == {"Output": {"promoted": True}}


def test_a_callbacks_and_an_approvers_answer_is_the_whole_output(monkeypatch):
    answer = json.dumps({"Decision": "APPROVE", "By": "arn:aws:iam::111122223333:user/alice"})
    submitted = event("TaskSubmitted", output=json.dumps({"Payload": {"Accepted": True}}))
    for state in ("Run hook and wait for its callback", "Ask for approval"):
        events = history(state, event("TaskScheduled"), submitted, event("TaskSucceeded", output=answer))
        assert read(events, monkeypatch) == {"Output": json.loads(answer)}, state


@pytest.mark.parametrize(
    ("ending", "expected"),
    [
        (failed("States.DataLimitExceeded", "returned a result with a size exceeding"), "States.DataLimitExceeded"),
        (event("TaskTimedOut", error="States.Timeout", cause=""), "States.Timeout"),
        (failed("Rejected", "not now"), "Rejected"),
    ],
)
def test_a_failure_is_its_error_and_cause(monkeypatch, ending, expected):
    events = history("Ask for approval", event("TaskScheduled"), ending)
    timed_out = {"TimedOut": True} if ending["type"] == "TaskTimedOut" else {}
    assert read(events, monkeypatch) == {
        "Error": expected,
        "Cause": ending[next(k for k in ending if k.endswith("EventDetails"))]["cause"],
        **timed_out,
    }


def test_only_a_task_timed_out_event_is_a_timeout_not_a_task_failed_naming_one(monkeypatch):
    """A SendTaskFailure (or a function) may name its error States.Timeout; only Step Functions' timer times out."""
    events = history("Ask for approval", event("TaskScheduled"), failed("States.Timeout", "sent by hand"))
    assert "TimedOut" not in read(events, monkeypatch)


def test_an_output_step_functions_truncated_is_kept_as_text(monkeypatch):
    events = history("Run hook and wait for its callback", event("TaskSucceeded", output='{"blob": "xxx'))
    assert read(events, monkeypatch) == {"Output": '{"blob": "xxx'}


def test_no_end_of_a_hook_or_approval_before_this_state_fails_rather_than_guess(monkeypatch):
    events = history("Check health", event("TaskSucceeded", output="{}"))
    with pytest.raises(step_end.StepEndNotFoundError, match="cannot be judged"):
        read(events, monkeypatch)
    with pytest.raises(step_end.StepEndNotFoundError):
        read([entered("Next runbook step"), event("TaskStarted")], monkeypatch)
