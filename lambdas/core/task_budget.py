"""How long each Task of the state machine can take at its worst, read from the definition's own Retry blocks.

The definition is `statemachine/recovery_plan.asl.json`, the file the stack deploys (stacks/workflow.py) and the
Lambda asset carries (stacks/bundling.py): change a Retry, a MaxDelaySeconds or a TimeoutSeconds there and every
limit computed from here follows (lambdas/core/limits.py: the plan's worst case against the 48 h TimeoutSeconds).

A Task at its worst (Amazon States Language, "Retry"): every attempt runs until it fails, and every retrier waits
its longest before each of its retries.

    worst = TimeoutSeconds                                  the last attempt
          + sum(MaxAttempts) x the longest a retried attempt runs
          + sum over retriers of min(IntervalSeconds x BackoffRate^n, MaxDelaySeconds), n = 0 .. MaxAttempts - 1

Each retrier counts its own attempts, so the attempts of all retriers add up. `JitterStrategy: FULL` draws each wait
between 0 and that value, so the value stays the worst. A retried attempt runs at most TimeoutSeconds; for a task
that waits for a task token, the errors its Retry lists come from invoking the function, before any wait for the
answer, so a retried attempt runs at most the function's own longest run plus the 30 s every Task allows beyond it.
The ASL's defaults: IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0, no MaxDelaySeconds.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository, or the Lambda asset's root
DEFINITION = ROOT / "statemachine" / "recovery_plan.asl.json"
FUNCTIONS = ROOT / "lambdas" / "functions.json"
LAMBDA_MAX_SECONDS = 900  # AWS Lambda's longest invocation: a plan's function runs at most this long
TASK_SLACK_SECONDS = 30  # what each Task allows beyond its function's timeout (tests/lambdas/test_timeouts.py)
CALLBACK_RESOURCE_SUFFIX = ".waitForTaskToken"
DEFAULT_INTERVAL_SECONDS = 1
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_RATE = 2.0


@cache
def definition() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITION.read_text())
    return loaded


@cache
def tasks() -> dict[str, dict[str, Any]]:
    """Every Task state of the definition by name, those of the wave loop included."""
    found: dict[str, dict[str, Any]] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if state["Type"] == "Task":
                found[name] = state
            if "ItemProcessor" in state:
                walk(state["ItemProcessor"]["States"])

    walk(definition()["States"])
    return found


def execution_timeout_seconds() -> int:
    return int(definition()["TimeoutSeconds"])


def backoff_seconds(state: str) -> float:
    """The longest the task's retriers wait in all, every retry of every retrier taken."""
    total = 0.0
    for retrier in tasks()[state].get("Retry", []):
        interval = float(retrier.get("IntervalSeconds", DEFAULT_INTERVAL_SECONDS))
        rate = float(retrier.get("BackoffRate", DEFAULT_BACKOFF_RATE))
        cap = retrier.get("MaxDelaySeconds")
        for attempt in range(int(retrier.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS))):
            delay = interval * rate**attempt
            total += min(delay, float(cap)) if cap is not None else delay
    return total


def retries(state: str) -> int:
    return sum(int(r.get("MaxAttempts", DEFAULT_MAX_ATTEMPTS)) for r in tasks()[state].get("Retry", []))


def worst_seconds(state: str, timeout_seconds: int | None = None) -> int:
    """The task at its worst (see the module doc). `timeout_seconds`: for a task whose TimeoutSecondsPath is the
    runbook step's own timeout; the others read their TimeoutSeconds."""
    task = tasks()[state]
    timeout = timeout_seconds if timeout_seconds is not None else int(task["TimeoutSeconds"])
    retried = timeout
    if str(task["Resource"]).endswith(CALLBACK_RESOURCE_SUFFIX):
        retried = min(timeout, _function_seconds(task) + TASK_SLACK_SECONDS)
    return int(timeout + retries(state) * retried + backoff_seconds(state) + 0.999)


def _function_seconds(task: dict[str, Any]) -> int:
    """The longest the task's function runs: ours by lambdas/functions.json, a plan's by Lambda's own limit."""
    name = str(task["Parameters"].get("FunctionName", ""))
    placeholder = name.removeprefix("${").removesuffix("}")
    for spec in json.loads(FUNCTIONS.read_text()).values():
        if placeholder and spec.get("placeholder") == placeholder:
            return int(spec["timeoutSeconds"])
    return LAMBDA_MAX_SECONDS
