"""The execution's own deadline (lambdas/core/deadline.py): derived from the definition's Retry blocks, and enough for
the worst a wave, a health check or a step can do past its own deadline.

The walks below replay the real schedules (polling.py, health.py) with every Task at its worst and every next Task
scheduled from the stale Now its answering attempt saw: the Task after them still ends by WavesEndBy, and with the
cut one wave Task later it would not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lambdas.core import deadline, health, limits, polling, task_budget
from lambdas.core.plan import RunOptions
from lambdas.core.steps import DrillCleanup, Step
from lambdas.core.waves import WaveStep

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachine" / "recovery_plan.asl.json").read_text())
START = 1_767_225_600
HANDOFF = deadline.HANDOFF_SECONDS


def worst(state: str, timeout: int | None = None) -> int:
    return task_budget.worst_seconds(state, timeout)


def test_the_reserve_is_the_end_states_at_their_worst_under_the_definitions_retry_blocks():
    end = worst("Finalize execution") + worst("Record failure")
    assert deadline.end_reserve(None) == end + 2 * HANDOFF == 2202
    cleanup = DrillCleanup(AfterMinutes=10)
    looks = worst("Terminate drill instances") + 2 * worst("Check the terminate jobs")
    after = 600 + looks + polling.CLEANUP_DEADLINE_SECONDS + worst("Record the cleanup failure")
    assert deadline.end_reserve(cleanup) == end + after + 2 * HANDOFF
    assert deadline.waves_end_by(START, None) == START + ASL["TimeoutSeconds"] - 2202
    # the next Task and a wave's Task at their worst, as their Retry blocks make them
    assert deadline.next_task_seconds() == max(worst("Next runbook step"), worst("Start wave recovery")) + HANDOFF
    assert deadline.wave_task_seconds() == max(worst("Check wave jobs"), worst("Start wave recovery")) + HANDOFF
    assert deadline.loop_task_names() == {
        "Start wave recovery",
        "Check wave jobs",
        "Next runbook step",
        "Run hook",
        "Run hook and wait for its callback",
        "Ask for approval",
        "Check health",
    }


def test_a_change_of_a_retry_in_the_definition_changes_the_reserve_and_the_cut(monkeypatch):
    before = deadline.end_reserve(None), deadline.wave_cut(START)
    changed = copy.deepcopy(ASL)
    changed["States"]["Record failure"]["Retry"][1]["MaxAttempts"] = 5  # two more: 2 x 150 s, 5 x 2^3 + 5 x 2^4 s
    loop = changed["States"]["Run waves in order"]["ItemProcessor"]["States"]
    loop["Check wave jobs"]["TimeoutSeconds"] = 240  # 7 attempts of 240 s, not 120
    monkeypatch.setattr(task_budget, "definition", lambda: changed)
    task_budget.tasks.cache_clear()
    try:
        assert deadline.end_reserve(None) - before[0] == 2 * 150 + 40 + 80
        assert deadline.wave_task_seconds() == worst("Check wave jobs") + HANDOFF == 7 * 240 + 49 + HANDOFF
        assert before[1] - deadline.wave_cut(START) == 2 * (7 * 240 + 49 - 1099)
    finally:
        task_budget.tasks.cache_clear()


def test_the_first_task_of_the_wave_loop_can_always_end_it_in_time():
    """Prepare and the lock loop at their worst (10,000 servers: 10 lock steps), then the loop's first Task at its
    worst, then the end states with the longest drill cleanup (24 h of AfterMinutes): inside 48 h with 16 h to
    spare, whatever plan Prepare accepts, so the loop's first Task, entered at its latest, can always end it."""
    before_loop = worst("Prepare execution") + 10 * worst("Lock the plan's servers")
    longest = deadline.end_reserve(DrillCleanup(AfterMinutes=1440))
    assert before_loop + deadline.next_task_seconds() + longest < limits.EXECUTION_TIMEOUT_SECONDS - 16 * 3600


def walk_wave(started: int, ends_by: int, *, timeout: int, expected: int, events: int, starting: bool) -> int:
    """A wave at its worst from `started`: every start attempt (`starting`) or check takes its Task's worst; the next
    one waits what the real schedule says, computed from the Now its first attempt saw. Returns when the Task after
    the wave (its After steps, or the next wave) ends at its worst; or, when the wave's first Task already finds the
    cut passed, when that Task ends (the wave ends TIMED_OUT, the loop with it: nothing follows)."""
    step = WaveStep("e", "p", "DRILL", 1, RunOptions(WaveTimeoutMinutes=timeout // 60), 10_000, started, ends_by)
    allowed = step.allowed(started)
    if allowed <= 0:
        return started + deadline.wave_task_seconds()
    entered = started
    attempt = 0
    while True:
        elapsed = entered - started
        if elapsed >= allowed:  # this one ends the wave (finished, it may be): then the Task after it, at its worst
            return entered + deadline.wave_task_seconds() + deadline.next_task_seconds()
        attempt += 1
        if starting:
            wanted = polling.retry_delay(attempt, f"e:1:{started}")
            delay = polling.next_start_delay(wanted=wanted, elapsed=elapsed, timeout=allowed, events_left=events)
            if delay is None:  # the wave ends here
                return entered + deadline.wave_task_seconds() + deadline.next_task_seconds()
        else:
            delay = polling.next_check_delay(
                elapsed=elapsed, expected=expected, timeout=allowed, events_left=events, min_interval=5, max_interval=30
            )
        entered += deadline.wave_task_seconds() + delay


@pytest.mark.parametrize("starting", [False, True], ids=["checks", "start attempts"])
@pytest.mark.parametrize(("timeout", "expected"), [(7200, 540), (1200, 60), (86_400, 3600)])
def test_a_wave_at_its_worst_leaves_the_task_after_it_time_to_end_the_loop(timeout, expected, starting):
    ends_by = deadline.waves_end_by(START, None)
    latest = 0
    # a wave begun at any second near the end that the Task before it leaves (it hands over only in time for this
    # one, at its worst, to end the loop: deadline.can_hand_over)
    for started in range(ends_by - 15_000, ends_by - deadline.next_task_seconds() + 1, 7):
        ended = walk_wave(started, ends_by, timeout=timeout, expected=expected, events=400, starting=starting)
        assert ended <= ends_by, started
        latest = max(latest, ended)
    # the bound is used: some schedule comes within a wave Task of it, so a cut one Task later would pass it
    assert latest > ends_by - deadline.wave_task_seconds()


def test_a_wave_cut_a_task_later_would_let_the_task_after_it_end_too_late(monkeypatch):
    ends_by = deadline.waves_end_by(START, None)
    cut = deadline.wave_cut
    monkeypatch.setattr(deadline, "wave_cut", lambda end: cut(end) + deadline.wave_task_seconds())
    late = [
        s
        for s in range(ends_by - 15_000, ends_by - deadline.next_task_seconds() + 1, 7)
        if walk_wave(s, ends_by, timeout=7200, expected=540, events=400, starting=False) > ends_by
    ]
    assert late


def test_a_wave_cut_short_says_so_and_one_within_its_own_timeout_does_not():
    ends_by = deadline.waves_end_by(START, None)
    options = RunOptions(WaveTimeoutMinutes=120)
    early = WaveStep("e", "p", "DRILL", 1, options, 10_000, START + 3600, ends_by)
    assert early.allowed(START + 3600) == 7200
    late_start = deadline.wave_cut(ends_by) - 1800
    at_the_cut = WaveStep("e", "p", "DRILL", 1, options, 10_000, deadline.wave_cut(ends_by), ends_by)
    assert at_the_cut.allowed(late_start) == 1800
    assert at_the_cut.ended_by(late_start) == "out_of_time"
    before_the_cut = WaveStep("e", "p", "DRILL", 1, options, 10_000, deadline.wave_cut(ends_by) - 1, ends_by)
    assert before_the_cut.ended_by(late_start) == "deadline"  # closed for another reason (its history budget)
    unbounded = WaveStep("e", "p", "DRILL", 1, options, 10_000, START, None)
    assert unbounded.allowed(START) == 7200


HOOK = Step.model_validate({"Lambda": {"FunctionName": "drs-hook-a", "TimeoutMinutes": 15}})
CALLBACK = Step.model_validate(
    {"Lambda": {"FunctionName": "drs-hook-b", "WaitForCallback": True, "TimeoutMinutes": 120}}
)
APPROVAL = Step.model_validate({"Approval": {"Message": "Go?", "TimeoutMinutes": 60}})
HEALTH = Step.model_validate({"HealthCheck": {"TimeoutMinutes": 60}})
WAIT = Step.model_validate({"Wait": {"Minutes": 30}})


@pytest.mark.parametrize(
    ("step", "kind", "state"),
    [
        (HOOK, "LAMBDA", "Run hook"),
        (CALLBACK, "CALLBACK", "Run hook and wait for its callback"),
        (APPROVAL, "APPROVAL", "Ask for approval"),
    ],
)
def test_a_steps_timeout_is_cut_to_the_largest_that_fits_before_the_next_runbook_step(step, kind, state):
    ends_by = deadline.waves_end_by(START, None)
    nrs = worst("Next runbook step")
    far = START
    assert deadline.step_timeout(step, kind, far, ends_by) == step.timeout_seconds  # plenty of time: its own
    for left in (3 * 3600, 2 * 3600, 3000, 2000, 1500):
        now = ends_by - left
        cut = deadline.step_timeout(step, kind, now, ends_by)
        if cut is None:  # not even a second of it fits
            assert now + 2 * nrs + 2 * HANDOFF + worst(state, 1) > ends_by
            continue
        # this Next runbook step, the step at its worst (its Retry included) and the Next runbook step after it
        assert now + nrs + HANDOFF + worst(state, cut) + HANDOFF + nrs <= ends_by
        if cut < step.timeout_seconds:  # the largest that fits: one second more would not
            assert now + nrs + HANDOFF + worst(state, cut + 1) + HANDOFF + nrs > ends_by
    assert deadline.step_timeout(step, kind, ends_by - 1000, ends_by) is None


def test_a_wait_is_never_cut_short_and_not_begun_when_it_would_not_end_in_time():
    ends_by = deadline.waves_end_by(START, None)
    room = 2 * worst("Next runbook step") + 2 * HANDOFF
    assert deadline.step_timeout(WAIT, "WAIT", ends_by - room - 1800 - HANDOFF, ends_by) == 1800
    assert deadline.step_timeout(WAIT, "WAIT", ends_by - room - 1800 - HANDOFF + 1, ends_by) is None


def walk_health(now: int, ends_by: int, config_timeout: int) -> int | None:
    """A health check begun by the Next runbook step entered at `now`, at its worst: each look takes its Task's
    worst, the next comes after health._delay from the Now its answering attempt saw. Returns when the Next runbook
    step after it ends, at its worst (None: the step is not begun)."""
    cut = deadline.step_timeout(HEALTH, "HEALTH", now, ends_by)
    if cut is None:
        return None
    deadline_at = now + cut  # its StartedAt is the Next runbook step's Now
    look = worst("Check health") + HANDOFF
    entered = now + worst("Next runbook step") + HANDOFF
    while entered < deadline_at:
        entered += look + health._delay(config_timeout, deadline_at, entered)
    return entered + look + worst("Next runbook step")  # the look that decides, then the Next runbook step


def test_a_health_check_at_its_worst_leaves_the_next_runbook_step_time_to_end_the_loop():
    ends_by = deadline.waves_end_by(START, None)
    latest = 0
    for now in range(ends_by - 4 * 3600, ends_by, 3):
        ended = walk_health(now, ends_by, HEALTH.timeout_seconds)
        if ended is not None:
            assert ended <= ends_by, now
            latest = max(latest, ended)
    assert latest > ends_by - worst("Check health")
    assert deadline.step_timeout(HEALTH, "HEALTH", START, ends_by) == 3600  # its own, far from the end


def test_a_task_hands_over_only_when_the_next_one_can_still_end_the_loop():
    ends_by = deadline.waves_end_by(START, None)
    last = ends_by - worst("Next runbook step") - deadline.next_task_seconds()
    assert deadline.can_hand_over(last, "Next runbook step", ends_by)
    assert not deadline.can_hand_over(last + 1, "Next runbook step", ends_by)
    assert deadline.can_hand_over(ends_by + 10**6, "Next runbook step", None)  # no deadline given: no limit
