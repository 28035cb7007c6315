"""The polling schedule and the history budget: walked check by check, as the state machine would, for many plan
shapes, job lengths and budgets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lambdas.core import limits, locks, polling

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "recovery_plan.asl.json").read_text())
WAVE_STATES = ASL["States"]["Run waves in order"]["ItemProcessor"]["States"]


def test_check_and_start_retry_budgets_match_the_state_machine():
    for state in ("Check wave jobs", "Start wave recovery"):
        assert sum(r["MaxAttempts"] for r in WAVE_STATES[state]["Retry"]) == polling.CHECK_MAX_RETRIES


def test_the_fixed_parts_of_the_budget_cover_the_states_outside_the_checks():
    prepare = sum(r["MaxAttempts"] for r in ASL["States"]["Prepare execution"]["Retry"])
    finalize = sum(r["MaxAttempts"] for r in ASL["States"]["Finalize execution"]["Retry"])
    failure = sum(r["MaxAttempts"] for r in ASL["States"]["Record failure"]["Retry"])
    lock = sum(r["MaxAttempts"] for r in ASL["States"]["Lock the plan's servers"]["Retry"])
    # the lock loop: one step per SERVERS_PER_LOCK_STEP servers, or per wave when waves are larger, plus the last
    lock_steps = limits.PLAN_SERVERS_MAX // locks.SERVERS_PER_LOCK_STEP + 1
    # start and end (2), each task (5) with its retries (3 each), the Map (4), a Choice (2), the end state (2)
    fixed = 2 + 5 * 3 + (prepare + finalize + failure) * polling.EVENTS_PER_RETRY + 4 + 2 + 2
    fixed += lock_steps * (5 + 2 + lock * polling.EVENTS_PER_RETRY)
    assert fixed <= polling.EXECUTION_FIXED_EVENTS
    # the Map iteration, the last Choice, the end state, the Choices before and after the wave
    assert polling.WAVE_FIXED_EVENTS >= 2 + 2 + 2 + 2 + 2


def test_the_execution_timeout_is_the_one_prepare_plans_with():
    assert ASL["TimeoutSeconds"] == limits.EXECUTION_TIMEOUT_SECONDS


def walk(job: float, *, budget: int, expected: float, timeout: float, worst: bool = False) -> tuple[float, int]:
    """One wave's checks after its jobs started; returns (seconds from the end of the job to the check that saw it,
    or to the deadline; events spent). `worst`: every check pays all its retries."""
    cost = polling.WORST_CHECK_EVENTS if worst else polling.EVENTS_PER_CHECK
    used = polling.EVENTS_PER_CHECK  # the start attempt
    elapsed = 0.0
    while True:
        elapsed += polling.next_check_delay(
            elapsed=elapsed,
            expected=expected,
            timeout=timeout,
            events_left=budget - used,
            min_interval=5,
            max_interval=30,
        )
        used += cost
        assert used <= budget, (elapsed, used, budget)
        if elapsed >= job or elapsed >= timeout or budget - used < polling.WORST_CHECK_EVENTS:
            return min(elapsed, timeout) - min(job, timeout), used


@pytest.mark.parametrize("job", [500, 535, 551, 579, 620])
def test_a_nine_minute_job_is_noticed_within_seconds(job):
    lag, used = walk(job, budget=polling.wave_event_budget(2), expected=540, timeout=7200)
    assert 0 <= lag <= 12
    assert used <= 25 * polling.EVENTS_PER_CHECK


@pytest.mark.parametrize("worst", [False, True])
@pytest.mark.parametrize("waves", [1, 3, 20, 60, 135, polling.max_waves()])
@pytest.mark.parametrize("job", [30, 551, 3600, 40_000])
def test_no_schedule_spends_more_than_its_budget(waves, job, worst):
    timeout = 7200 if waves < 60 else 1200
    walk(job, budget=polling.wave_event_budget(waves), expected=540, timeout=timeout, worst=worst)  # asserts inside


def plan_overhead(waves: int, job: float, *, timeout: float, seed: int = 1) -> tuple[float, int]:
    """(makespan / DRS time, events) for `waves` waves of jobs of about `job` seconds (+-5%), each wave learning the
    expected time from the previous one, as Start wave does."""
    rng = random.Random(seed)
    budget = polling.wave_event_budget(waves)
    configured = 540.0
    previous = None
    makespan = drs_time = 0.0
    events = polling.EXECUTION_FIXED_EVENTS
    for _ in range(waves):
        actual = job * rng.uniform(0.95, 1.05)
        expected = polling.expected_from(previous, configured, timeout)
        lag, used = walk(actual, budget=budget, expected=expected, timeout=timeout)
        makespan += actual + lag + 2  # a second each to start the wave and to end it
        drs_time += actual
        events += used + polling.WAVE_FIXED_EVENTS
        previous = actual  # what DRS reports: the jobs' creationDateTime to endDateTime
    return makespan / drs_time, events


@pytest.mark.parametrize(
    ("waves", "job", "timeout"),
    [(135, 551, 1200), (20, 3600, 7200), (20, 600, 7200), (3, 720 * 60, 1440 * 60), (10, 4 * 3600, 8 * 3600)],
)
def test_the_overhead_stays_within_3_percent_for_any_plan_shape(waves, job, timeout):
    ratio, events = plan_overhead(waves, job, timeout=timeout)
    assert ratio <= 1.03, ratio
    assert events < polling.HISTORY_EVENT_CAP


def test_twenty_waves_of_hour_long_jobs_take_fewer_than_5000_events():
    _, events = plan_overhead(20, 3600, timeout=7200)
    assert events < 5_000


def test_when_one_check_is_left_it_is_spent_at_the_deadline():
    delay = polling.next_check_delay(
        elapsed=1000,
        expected=540,
        timeout=7200,
        events_left=polling.WORST_CHECK_EVENTS,
        min_interval=5,
        max_interval=30,
    )
    assert delay == 6200


def test_max_waves_is_consistent_with_the_budget():
    waves = polling.max_waves()
    assert waves >= 135
    assert polling.wave_event_budget(waves) + polling.WAVE_FIXED_EVENTS >= polling.MIN_WAVE_EVENTS
    assert polling.wave_event_budget(waves + 1) + polling.WAVE_FIXED_EVENTS < polling.MIN_WAVE_EVENTS


@pytest.mark.parametrize("elapsed", [0, 100, 539, 541, 900, 7100])
def test_delays_are_positive_and_never_pass_the_deadline(elapsed):
    delay = polling.next_check_delay(
        elapsed=elapsed, expected=540, timeout=7200, events_left=5000, min_interval=5, max_interval=30
    )
    assert 1 <= delay <= max(1, 7200 - elapsed)


def test_start_retries_come_promptly_then_spread_and_leave_room_for_the_checks():
    first = polling.next_start_delay(wanted=10, elapsed=0, timeout=1200, events_left=140)
    assert first == 10
    last = polling.next_start_delay(wanted=10, elapsed=0, timeout=1200, events_left=3 * polling.WORST_CHECK_EVENTS)
    assert last is not None and last > 300  # the last tries are spread until the deadline
    assert polling.next_start_delay(wanted=10, elapsed=0, timeout=1200, events_left=80) is None


def test_the_expected_time_is_learned_from_the_previous_wave():
    assert polling.expected_from(None, 540, 7200) == 540
    assert polling.expected_from(3_650, 540, 7200) == 3_650
    assert polling.expected_from(9_000, 540, 7200) == 7200
