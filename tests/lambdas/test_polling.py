"""The polling schedule and the history budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.core import polling

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "recovery_plan.asl.json").read_text())
WAVE_STATES = ASL["States"]["Run waves in order"]["ItemProcessor"]["States"]


def test_check_retry_budget_matches_the_state_machine():
    retriers = WAVE_STATES["Check wave jobs"]["Retry"]
    assert sum(r["MaxAttempts"] for r in retriers) == polling.CHECK_MAX_RETRIES


def test_start_wave_retries_fit_the_fixed_wave_budget():
    retries = sum(r["MaxAttempts"] for r in WAVE_STATES["Start wave recovery"]["Retry"])
    # Map iteration (2), the task (5), its retries, the first Wait is counted per check, the end state (2)
    assert 2 + 5 + retries * polling.EVENTS_PER_RETRY + 2 <= polling.WAVE_FIXED_EVENTS


def _simulate(job_seconds: float, *, waves: int, expected: float = 540, timeout: float = 7200) -> tuple[float, int]:
    """Walk one wave's checks; return (seconds from launch to the check that saw it, events spent)."""
    budget = polling.wave_event_budget(waves)
    elapsed = polling.next_check_delay(
        elapsed=0, expected=expected, timeout=timeout, events_left=10**9, min_interval=5, max_interval=30
    )
    used = 0
    while True:
        used += polling.check_cost(0)
        if elapsed >= job_seconds or elapsed >= timeout or budget - used < polling.WORST_CHECK_EVENTS:
            return elapsed - job_seconds, used
        elapsed += polling.next_check_delay(
            elapsed=elapsed,
            expected=expected,
            timeout=timeout,
            events_left=budget - used,
            min_interval=5,
            max_interval=30,
        )


@pytest.mark.parametrize("job_seconds", [500, 535, 551, 579, 620])
def test_a_nine_minute_job_is_noticed_within_seconds(job_seconds):
    lag, used = _simulate(job_seconds, waves=2)
    assert 0 <= lag <= 12
    assert used <= 25 * polling.EVENTS_PER_CHECK


def test_a_20_wave_plan_of_hour_long_jobs_stays_within_the_cap():
    lag, used = _simulate(3600, waves=20)
    assert used <= polling.wave_event_budget(20)
    assert 20 * (used + polling.WAVE_FIXED_EVENTS) + polling.EXECUTION_FIXED_EVENTS < polling.HISTORY_EVENT_CAP
    assert lag <= 240


def test_when_one_check_is_left_it_is_spent_at_the_timeout():
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
    assert polling.wave_event_budget(waves) >= polling.MIN_CHECKS_PER_WAVE * polling.WORST_CHECK_EVENTS
    assert polling.wave_event_budget(waves + 1) < polling.MIN_CHECKS_PER_WAVE * polling.WORST_CHECK_EVENTS


@pytest.mark.parametrize("elapsed", [0, 100, 539, 541, 900, 7100])
def test_delays_are_positive_and_never_pass_the_timeout(elapsed):
    delay = polling.next_check_delay(
        elapsed=elapsed, expected=540, timeout=7200, events_left=5000, min_interval=5, max_interval=30
    )
    assert 1 <= delay <= max(1, 7200 - elapsed)
