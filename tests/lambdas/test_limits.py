"""The 48 h fit counts every retry budget, derived from the definition's own Retry blocks (lambdas/core/limits.py,
lambdas/core/task_budget.py): a change of a Retry changes the limit."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambdas.core import limits, task_budget
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.records import ServerRecord, WaveRecord
from stacks import bundling

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "recovery_plan.asl.json").read_text())
FUNCTIONS = json.loads((ROOT / "lambdas" / "functions.json").read_text())
DAY = 86_400


def every_task(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if "ItemProcessor" in state:
            yield from every_task(state["ItemProcessor"]["States"])


def retried_one_by_one(task: dict[str, Any], timeout: float, retried_attempt: float) -> float:
    """The task at its worst, attempt by attempt: every retry of every retrier, each attempt to its limit and each
    wait to its ceiling (full jitter draws below it)."""
    seconds = timeout  # the attempt that finally fails, or succeeds, at its limit
    for retrier in task.get("Retry", []):
        wait = retrier.get("IntervalSeconds", 1)
        for _ in range(retrier.get("MaxAttempts", 3)):
            seconds += retried_attempt + min(wait, retrier.get("MaxDelaySeconds", math.inf))
            wait *= retrier.get("BackoffRate", 2.0)
    return seconds


def test_each_tasks_worst_case_is_its_retry_blocks_taken_attempt_by_attempt():
    tasks = dict(every_task(ASL["States"]))
    assert set(tasks) == set(task_budget.tasks())
    for name, task in tasks.items():
        if "TimeoutSeconds" in task:
            expected = retried_one_by_one(task, task["TimeoutSeconds"], task["TimeoutSeconds"])
            assert task_budget.worst_seconds(name) == math.ceil(expected), name
    # The ones that wait for a token retry only their invocation (the function's timeout + 30 s), not the wait
    approval = tasks["Ask for approval"]
    request = FUNCTIONS["request_approval"]["timeoutSeconds"] + 30
    assert task_budget.worst_seconds("Ask for approval", 3600) == math.ceil(retried_one_by_one(approval, 3600, request))
    callback = tasks["Run hook and wait for its callback"]
    assert task_budget.worst_seconds("Run hook and wait for its callback", 7200) == math.ceil(
        retried_one_by_one(callback, 7200, 900 + 30)
    )
    hook = tasks["Run hook"]
    assert task_budget.worst_seconds("Run hook", 900) == math.ceil(retried_one_by_one(hook, 900, 900))


def test_prepare_alone_can_take_an_hour_and_a_half_not_the_five_minutes_once_allowed():
    # 10 retries of 5 s doubling to 120 s (755 s of backoff: "about 12.5 minutes") and 3 of 2 s doubling (14 s);
    # 14 attempts of 330 s each
    assert task_budget.backoff_seconds("Prepare execution") == (5 + 10 + 20 + 40 + 80 + 5 * 120) + (2 + 4 + 8)
    assert task_budget.worst_seconds("Prepare execution") == 14 * 330 + 769 == 5389
    assert task_budget.worst_seconds("Finalize execution") == task_budget.worst_seconds("Record failure") == 1099


def plan_of(waves: int, **options: Any) -> tuple[RecoveryPlan, list[WaveRecord], RunOptions]:
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p",
            "Name": "P",
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [{"WaveName": f"w{n}", "ProtectionGroupId": "g"} for n in range(waves)],
        }
    )
    records = [
        WaveRecord(
            WaveNumber=n + 1,
            WaveName=f"w{n}",
            ProtectionGroupId="g",
            Region="us-east-1",
            Servers=[ServerRecord(SourceServerId=f"s-{n:017d}")],
        )
        for n in range(waves)
    ]
    return plan, records, RunOptions(**options)


def too_long(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions) -> list[str]:
    return [p for p in limits.problems(plan, waves, options) if "more than the 48 h" in p]


def test_the_48_hour_fit_counts_prepare_the_locks_finalize_and_record_failure_at_their_worst():
    plan, waves, options = plan_of(3, WaveTimeoutMinutes=900, ExpectedJobMinutes=9)
    worst = limits.worst_case(plan, waves, options)
    fixed = sum(
        task_budget.worst_seconds(name)
        for name in ("Prepare execution", "Lock the plan's servers", "Finalize execution", "Record failure")
    )
    assert worst.fixed == fixed == 5389 + 3 * 1099  # one lock step for 3 servers
    assert worst.waves == 3 * (900 * 60 + limits.WAVE_END_MARGIN_SECONDS)
    assert (worst.runbook, worst.cleanup) == (0, 0)


def test_the_largest_wave_timeout_it_names_fits_and_one_minute_more_does_not():
    plan, waves, options = plan_of(3, WaveTimeoutMinutes=1000, ExpectedJobMinutes=9)
    (problem,) = too_long(plan, waves, options)
    assert "3 waves x 1000 min WaveTimeoutMinutes, plus 10 s per wave and 2.4 h for Prepare" in problem
    most = int(problem.split("Lower Options.WaveTimeoutMinutes to at most ")[1].split(",")[0])
    assert too_long(*plan_of(3, WaveTimeoutMinutes=most, ExpectedJobMinutes=9)) == []
    assert too_long(*plan_of(3, WaveTimeoutMinutes=most + 1, ExpectedJobMinutes=9))
    inside = limits.worst_case(*plan_of(3, WaveTimeoutMinutes=most, ExpectedJobMinutes=9)).total
    assert limits.EXECUTION_TIMEOUT_SECONDS - 3 * 60 < inside <= limits.EXECUTION_TIMEOUT_SECONDS
    # Before: 5 minutes for Prepare and Finalize, so 3 x 956 minutes were accepted; at 956 the same plan with Prepare
    # throttled for 6 minutes ran into the 48 h TimeoutSeconds
    assert most < (limits.EXECUTION_TIMEOUT_SECONDS - 300) // 3 // 60


def test_the_runbook_and_the_cleanup_count_their_tasks_retries():
    plan = RecoveryPlan.model_validate(
        {
            "PlanId": "p",
            "Name": "P",
            "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
            "Waves": [
                {
                    "WaveName": "w0",
                    "ProtectionGroupId": "g",
                    "Before": [{"Lambda": {"FunctionName": "drs-hook-a"}}, {"Wait": {"Minutes": 5}}],
                    "After": [{"Approval": {"Message": "ok?"}}, {"HealthCheck": {"TimeoutMinutes": 20}}],
                }
            ],
        }
    )
    _, waves, _ = plan_of(1)
    options = RunOptions(DrillCleanup={"AfterMinutes": 10})
    worst = limits.worst_case(plan, waves, options)
    worst_of = task_budget.worst_seconds
    assert worst.runbook == (
        worst_of("Run hook", 15 * 60)
        + 5 * 60
        + worst_of("Ask for approval", 60 * 60)
        + 20 * 60
        + limits.STEP_MARGIN_SECONDS
        + (3 + 3) * worst_of("Next runbook step")  # before, between and after the steps of each phase
    )
    assert worst.cleanup == 600 + 1800 + worst_of("Terminate drill instances") + 2 * worst_of(
        "Check the terminate jobs"
    ) + worst_of("Record the cleanup failure")


def test_a_change_of_a_retry_in_the_definition_changes_the_limit(monkeypatch):
    plan, waves, options = plan_of(3, WaveTimeoutMinutes=900, ExpectedJobMinutes=9)
    before = limits.worst_case(plan, waves, options).total
    assert not too_long(plan, waves, options)
    changed = copy.deepcopy(ASL)
    prepare = changed["States"]["Prepare execution"]
    prepare["Retry"][0]["MaxAttempts"] = 20  # ten more retries: 10 x (330 s + 120 s)
    monkeypatch.setattr(task_budget, "definition", lambda: changed)
    task_budget.tasks.cache_clear()
    try:
        after = limits.worst_case(plan, waves, options).total
        assert after - before == 10 * (330 + 120)
        edge = (limits.EXECUTION_TIMEOUT_SECONDS - after + 3 * 900 * 60) // 3 // 60
        assert too_long(*plan_of(3, WaveTimeoutMinutes=edge + 1, ExpectedJobMinutes=9))
    finally:
        task_budget.tasks.cache_clear()


def test_lock_steps_are_counted_as_the_lock_loop_takes_them():
    assert limits.lock_steps([]) == 0
    assert limits.lock_steps([3, 4, 5]) == 1
    # a step takes whole waves while it holds fewer than 1,000 servers (locks.lock_servers)
    assert limits.lock_steps([998, 1, 5]) == 1
    assert limits.lock_steps([999, 1, 5]) == 2
    assert limits.lock_steps([1000, 1, 5]) == 2
    assert limits.lock_steps([2000] * 5) == 5
    assert limits.lock_steps([100] * 100) == 10


def test_the_lambda_asset_carries_the_definition_prepare_reads(tmp_path):
    bundling.copy_code(tmp_path)
    carried = tmp_path / task_budget.DEFINITION.relative_to(task_budget.ROOT)
    assert carried.read_bytes() == task_budget.DEFINITION.read_bytes()
    assert (tmp_path / "lambdas" / "core" / "task_budget.py").is_file()
    assert task_budget.execution_timeout_seconds() == ASL["TimeoutSeconds"] == 2 * DAY
