"""How a hook's or an approval's task ended, read from the execution's history instead of the state's data.

What a plan's function returns (up to 6 MB from a Lambda, 256 KiB from a callback's SendTaskSuccess) and what an
approver answers never enter the state machine's data: "Run hook", "Run hook and wait for its callback" and "Ask for
approval" keep nothing of their result (`ResultPath: null`, on success and in their Catch). Merged into the wave's
state, an output close to 256 KiB would push the state past Step Functions' 256 KiB, a States.DataLimitExceeded
that no Catch of the state catches and that fails the whole execution. Instead, Next runbook step reads the task's
last event here (GetExecutionHistory, newest first) and records at most a prefix of it (`runbook.DETAIL_MAX`). A
result over 256 KiB fails the task itself with States.DataLimitExceeded, which the task's Catch names explicitly
(States.ALL does not match it): the step fails by its Impact, like any other failure of the function.

The events read: going back from the current "Next runbook step" (its TaskStateEntered), the first task end
(TaskSucceeded, TaskFailed, TaskTimedOut, TaskStartFailed, TaskSubmitFailed) is the step's, and the task state
entered before it must be one of the states above (the waves run one at a time, their steps in order).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3

from lambdas.core.aws_errors import classify
from lambdas.core.errors import ExecutionHistoryUnavailableError
from lambdas.core.executions import CONFIG

NEXT_STEP_STATE = "Next runbook step"
HOOK_STATE = "Run hook"  # lambda:invoke: the function's output is the result's Payload
STEP_STATES = (HOOK_STATE, "Run hook and wait for its callback", "Ask for approval")
# Event type -> the key of its details; the details carry `output`, or `error` and `cause`.
ENDS = {
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "TaskStartFailed": "taskStartFailedEventDetails",
    "TaskSubmitFailed": "taskSubmitFailedEventDetails",
}
# Read in one call (the function has 60 s, most of it for DynamoDB): back to the hook's own entry there are its
# retries (4 events each), its end and exit, this state's entry and start, and up to 6 retries of this state (3 events
# each), about 45 at most. Only the states' entries and exits and the tasks' parameters carry much data (a few MB).
EVENTS_READ = 60


class StepEndNotFoundError(Exception):
    """The history does not show how the step's task ended where it must: the step cannot be judged (it fails)."""


@cache
def _client() -> Any:
    return boto3.client("stepfunctions", config=CONFIG)


def read(execution_arn: str) -> dict[str, Any]:
    """The step's end as its Catch would have passed it: `{"Output": ...}` (the function's output, or the callback's
    or approver's answer, JSON-decoded; a string when Step Functions truncated it), or `{"Error", "Cause"}`, with
    `"TimedOut": True` when the task's end is a TaskTimedOut event (its timeout ran out, by Step Functions' clock)."""
    ending: tuple[str, dict[str, Any]] | None = None
    seen_current = False
    for event in _newest_first(execution_arn):
        kind = str(event.get("type"))
        if not seen_current:
            seen_current = kind == "TaskStateEntered" and _state_name(event) == NEXT_STEP_STATE
            continue
        if ending is None and kind in ENDS:
            ending = (kind, event.get(ENDS[kind]) or {})
        elif kind == "TaskStateEntered":
            state = _state_name(event)
            if ending is None or state not in STEP_STATES:
                break
            return _outcome(state, *ending)
    raise StepEndNotFoundError(
        f"Execution {execution_arn}: its history does not show how the last runbook step's task ended (one of "
        f"{', '.join(STEP_STATES)}) in its last {EVENTS_READ} events; the step cannot be judged"
    )


def _newest_first(execution_arn: str) -> list[dict[str, Any]]:
    """The last EVENTS_READ events, newest first, page after page: GetExecutionHistory may answer fewer events than
    asked (with a nextToken), so one page is not always enough. A throttled or unavailable read is raised as
    ExecutionHistoryUnavailableError, which the state's Retry backs off on (a ClientError would fail the plan)."""
    pages = (
        _client()
        .get_paginator("get_execution_history")
        .paginate(
            executionArn=execution_arn,
            reverseOrder=True,
            includeExecutionData=True,
            PaginationConfig={"MaxItems": EVENTS_READ, "PageSize": EVENTS_READ},
        )
    )
    events: list[dict[str, Any]] = []
    try:
        for page in pages:
            events.extend(page.get("events", []))
    except Exception as error:
        failure = classify(error)
        if failure is None or failure.kind != "transient":
            raise
        raise ExecutionHistoryUnavailableError(
            f"Execution {execution_arn}: its history could not be read ({failure.short()}); retried"
        ) from error
    return events[:EVENTS_READ]


def _state_name(event: dict[str, Any]) -> str | None:
    details = event.get("stateEnteredEventDetails") or {}
    name = details.get("name")
    return str(name) if name is not None else None


def _outcome(state: str, kind: str, details: dict[str, Any]) -> dict[str, Any]:
    if kind == "TaskTimedOut":  # Step Functions' own timer ran out: only this event says the task timed out
        return {"Error": details.get("error") or kind, "Cause": details.get("cause"), "TimedOut": True}
    if kind != "TaskSucceeded":  # a TaskFailed's error name is whatever failed it (a SendTaskFailure names its own)
        return {"Error": details.get("error") or kind, "Cause": details.get("cause")}
    output = _decoded(details.get("output"))
    if state == HOOK_STATE and isinstance(output, dict):
        output = output.get("Payload")  # lambda:invoke's result: the function's own output is its Payload
    return {"Output": output}


def _decoded(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # truncated by Step Functions: a prefix is all the step records anyway
