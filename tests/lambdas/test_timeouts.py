"""Every SDK client's worst case fits far inside each function's timeout, and every Task waits longer than its
function may run: a Lambda that hangs on AWS ends by its own timeout, which the state machine retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.config import Config

from drsctl.operate import signed_post
from lambdas.core import approval_answer, drs, executions, launch_actions, records, waves

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = json.loads((ROOT / "lambdas" / "functions.json").read_text())
ASL = json.loads((ROOT / "statemachine" / "recovery_plan.asl.json").read_text())
BACKOFF_CAP_SECONDS = 20  # botocore's standard mode: rand(0, 1) * min(2 ** attempt, 20) s between attempts


def worst_call_seconds(config: Config) -> float:
    """One call at its worst: every attempt connects and reads until the timeout, with the longest backoffs."""
    attempts = config.retries["total_max_attempts"]  # type: ignore[index]
    per_attempt = config.connect_timeout + config.read_timeout
    backoff = sum(min(2**attempt, BACKOFF_CAP_SECONDS) for attempt in range(attempts - 1))
    return attempts * per_attempt + backoff


CONFIGS = {
    "DRS reads": drs.READ_CONFIG,
    "StartRecovery": drs.START_CONFIG,
    "DynamoDB": records.DYNAMODB_CONFIG,
    "Step Functions": executions.CONFIG,
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_one_call_at_its_worst_is_a_small_part_of_the_shortest_timeout(name):
    shortest = min(spec["timeoutSeconds"] for spec in FUNCTIONS.values())
    assert worst_call_seconds(CONFIGS[name]) <= shortest / 2, name


def test_a_check_at_its_worst_fits_its_timeout():
    # DescribeJobs, then reading and writing the wave, then the missed-check count: all at their worst
    worst = worst_call_seconds(drs.READ_CONFIG) + 3 * worst_call_seconds(records.DYNAMODB_CONFIG)
    assert worst < FUNCTIONS["check_wave"]["timeoutSeconds"]


def test_start_wave_stops_starting_chunks_while_a_chunk_at_its_worst_still_fits():
    chunk = 2 * worst_call_seconds(records.DYNAMODB_CONFIG) + worst_call_seconds(drs.START_CONFIG)
    assert chunk <= waves.CHUNK_WORST_SECONDS < FUNCTIONS["start_wave"]["timeoutSeconds"]


def test_a_health_check_stops_reading_configured_actions_while_a_read_and_its_write_at_their_worst_still_fit():
    read_and_write = worst_call_seconds(drs.READ_CONFIG) + worst_call_seconds(records.DYNAMODB_CONFIG)
    assert read_and_write <= launch_actions.READ_RESERVE_SECONDS < FUNCTIONS["check_health"]["timeoutSeconds"]


def _tasks(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        if state["Type"] == "Task":
            found[name] = state
        if state["Type"] == "Map":
            found |= _tasks(state["ItemProcessor"]["States"])
    return found


PLACEHOLDER_FUNCTION = {
    "${" + spec["placeholder"] + "}": key for key, spec in FUNCTIONS.items() if "placeholder" in spec
}


# Tasks that wait for something else than their function: the plan's own hooks and the approvers (their timeout is
# the step's TimeoutMinutes, TimeoutSecondsPath).
WAITING_TASKS = {"Run hook", "Run hook and wait for its callback", "Ask for approval"}


def test_the_tasks_that_wait_on_the_plan_take_their_timeout_from_the_step():
    for name in WAITING_TASKS:
        task = _tasks(ASL["States"])[name]
        assert task["TimeoutSecondsPath"] == "$.Steps.TimeoutSeconds" and "TimeoutSeconds" not in task, name


@pytest.mark.parametrize("state", sorted(set(_tasks(ASL["States"])) - WAITING_TASKS))
def test_each_task_times_out_after_its_function_and_retries_a_timed_out_lambda(state):
    task = _tasks(ASL["States"])[state]
    function = PLACEHOLDER_FUNCTION[task["Parameters"]["FunctionName"]]
    assert task["TimeoutSeconds"] > FUNCTIONS[function]["timeoutSeconds"]
    retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
    assert {"Sandbox.Timedout", "Lambda.Unknown", "States.Timeout"} <= retried


def test_an_answer_at_its_worst_fits_its_timeout_and_drsctl_waits_for_it():
    # the record (Query), then each write attempt reads and writes the wave, then the task token's answer
    dynamodb = (1 + 2 * approval_answer.WRITE_ATTEMPTS) * worst_call_seconds(records.DYNAMODB_CONFIG)
    worst = dynamodb + worst_call_seconds(executions.CONFIG)
    assert worst < FUNCTIONS["answer_approval"]["timeoutSeconds"] < signed_post.TIMEOUT[1]
