"""When to check a running wave next, when to try starting it again, and what one execution's history affords.

**The budget.** Step Functions fails a Standard execution at 25,000 history events, and the waves run inline in one
execution. Prepare splits the history into a fixed part and an equal budget per wave; every start attempt and every
check spends from its wave's budget what it really cost, retries included (the state machine passes
`$$.State.RetryCount`). A check or an attempt costs 9 events, or up to 27 with all its retries. The rule that makes
the cap unreachable: a check other than the last is scheduled only while the wave could still pay for it at its
worst *and* for one more worst-case check; the last one is scheduled at the wave's deadline, where it decides. Start
attempts keep room for the first check and the last. Plans are planned with the typical cost (9), so the budget goes
to checks rather than to a reserve for retries that rarely happen.

**The schedule.** Nothing can launch long before a DRS job's expected time, and most jobs of a wave end close to it
(within about 5% in the public sample drill; two waves' jobs within about 10% of each other). The expected time is
learned from the previous wave of the execution when there is one (its jobs' duration by DRS's clock,
`expected_from`), else taken from Options.ExpectedJobMinutes. The checks then go where the end is likely, never
closer than 1% of the job time: with budget to spare, the first check comes at half the expected time and each later
one halves the gap, then checks come every step once due, stretching to PollIntervalSeconds as the wave runs late;
with a tight budget (many waves, or long timeouts), the first check comes just before a window of +-10% around the
expected end, the usable checks cover that window, and past it each check may double its lateness, keeping two for
a wave that runs far later than expected. Either way the last check is at the
deadline. (Child executions per wave would lift the cap further, at the price of a graph view split across
executions; no plan that DRS quotas allow needs them.)
"""

from __future__ import annotations

import math
import random

HISTORY_EVENT_CAP = 25_000
SAFETY_EVENTS = 500  # headroom for events we do not model exactly
# Execution start and end, Prepare (5) with up to 13 retries, the lock loop (at most 11 steps of a task, its Choice
# and up to 6 retries: 25 events each), the Map's own events, Finalize or Record failure (5 each) with up to 6
# retries each, the Choice and the end state. A test pins it against the ASL's retriers.
EXECUTION_FIXED_EVENTS = 430
# Map iteration start and end, the wave's Choice and end state, the two Choices that look for runbook steps (whose
# own events EVENTS_PER_RUNBOOK_STEP counts); every task is counted apart
WAVE_FIXED_EVENTS = 40
EVENTS_PER_CHECK = 9  # Wait (2) + task (5) + Choice (2): a check, or a start attempt
EVENTS_PER_RETRY = 3  # LambdaFunctionScheduled, Started, Failed
CHECK_MAX_RETRIES = 6  # the Retry of "Check wave jobs" and "Start wave recovery": 3 + 3; a test pins it to the ASL
WORST_CHECK_EVENTS = EVENTS_PER_CHECK + CHECK_MAX_RETRIES * EVENTS_PER_RETRY
# What every wave must be able to afford: a start attempt, the first and the last check at their worst, and a few
# typical checks around the expected end.
MIN_WAVE_EVENTS = WAVE_FIXED_EVENTS + 3 * WORST_CHECK_EVENTS + 5 * EVENTS_PER_CHECK
TAIL_CHECKS = 2  # kept for a wave that runs far past its expected time
STEP_SHARE = 0.01  # checks around the expected end come every 1% of the job time (within the Options' bounds)
WINDOW_SHARE = 0.1  # the window around the expected end that a tight budget concentrates on: +-10% ...
WINDOW_MIN_SECONDS = 15  # ... and at least +-15 s
RETRY_BASE_SECONDS = 5  # a start attempt that got no answer (throttled, 5xx): backoff 5 s, 10 s, ... 120 s, jittered
RETRY_CAP_SECONDS = 120


# A runbook step: Next runbook step (5 events, and up to 6 retries of 3), its Choice (2), the step's own state (5-6,
# a Wait 2 and a Pass 2) with up to 3 retries of the Lambda service; and the two Choices that look for steps.
EVENTS_PER_RUNBOOK_STEP = 45
# A HealthCheck step polls: "Check health" (5 events, up to 3 retries of 3), "Servers healthy?" (2) and "Wait for
# health checks" (2) per check, on top of the step's own EVENTS_PER_RUNBOOK_STEP. Its checks come every
# max(30 s, TimeoutMinutes / HEALTH_CHECKS_PER_TIMEOUT) with the last at the deadline, so one health check makes at
# most HEALTH_CHECKS_MAX checks (lambdas/core/health.py; a test pins both to the ASL and the schedule).
HEALTH_CHECKS_PER_TIMEOUT = 20
HEALTH_CHECKS_MAX = HEALTH_CHECKS_PER_TIMEOUT + 2  # the first at once, the last at the deadline
HEALTH_CHECK_MAX_RETRIES = 3
EVENTS_PER_HEALTH_CHECK = EVENTS_PER_CHECK + HEALTH_CHECK_MAX_RETRIES * EVENTS_PER_RETRY
EVENTS_PER_HEALTH_STEP = EVENTS_PER_RUNBOOK_STEP + HEALTH_CHECKS_MAX * EVENTS_PER_HEALTH_CHECK


# The drill cleanup (lambdas/core/cleanup.py): a look at the TERMINATE jobs every minute for at most 30 minutes.
CLEANUP_CHECK_SECONDS = 60
CLEANUP_DEADLINE_SECONDS = 30 * 60
# Its Choice and Wait (4), Terminate (5 and up to 6 retries of 3), the looks, and Record the cleanup failure (20).
CLEANUP_EVENTS = (
    4 + WORST_CHECK_EVENTS + (CLEANUP_DEADLINE_SECONDS // CLEANUP_CHECK_SECONDS + 1) * EVENTS_PER_CHECK + 20
)


def runbook_events(runbook_steps: int, health_steps: int = 0) -> int:
    """The most history events a plan's runbook steps can cost, `health_steps` of them HealthChecks."""
    return runbook_steps * EVENTS_PER_RUNBOOK_STEP + health_steps * (EVENTS_PER_HEALTH_STEP - EVENTS_PER_RUNBOOK_STEP)


def wave_event_budget(wave_count: int, runbook_steps: int = 0, health_steps: int = 0, *, cleanup: bool = False) -> int:
    """History events each wave may spend on start attempts and checks, once the plan's runbook steps (and its drill
    cleanup) are paid."""
    shared = HISTORY_EVENT_CAP - SAFETY_EVENTS - EXECUTION_FIXED_EVENTS - runbook_events(runbook_steps, health_steps)
    shared -= CLEANUP_EVENTS if cleanup else 0
    return shared // wave_count - WAVE_FIXED_EVENTS


def max_waves() -> int:
    """The most waves for which every wave can still afford MIN_WAVE_EVENTS."""
    shared = HISTORY_EVENT_CAP - SAFETY_EVENTS - EXECUTION_FIXED_EVENTS
    return shared // MIN_WAVE_EVENTS


def check_cost(retry_count: int) -> int:
    """History events one check (or start attempt) cost, given how many times its task was retried."""
    return EVENTS_PER_CHECK + retry_count * EVENTS_PER_RETRY


def next_check_delay(
    *,
    elapsed: float,
    expected: float,
    timeout: float,
    events_left: int,
    min_interval: int,
    max_interval: int,
) -> int:
    """Seconds to wait before the next check of a wave that has run `elapsed` of `timeout` seconds, whose jobs are
    expected to end `expected` seconds into it, with `events_left` of its budget."""
    until_timeout = max(0.0, timeout - elapsed)
    if events_left < 2 * WORST_CHECK_EVENTS:
        return max(1, math.ceil(until_timeout))  # only the last check is affordable: at the deadline
    affordable = (events_left - WORST_CHECK_EVENTS) // EVENTS_PER_CHECK  # typical checks before the last one
    usable = affordable - TAIL_CHECKS
    remaining = expected - elapsed
    # Finer than 1% of the job time buys nothing (the overhead it saves is below 0.5%) and costs history.
    step = min(float(max_interval), max(float(min_interval), STEP_SHARE * expected))
    half_window = max(WINDOW_MIN_SECONDS, WINDOW_SHARE * expected, step)
    if usable <= 0:
        delay = until_timeout / max(1, affordable)  # the tail: spread what is left until the deadline
    elif affordable * max_interval >= until_timeout:  # generous: could check every max_interval to the deadline
        delay = max(step, remaining / 2) if remaining > 0 else _late_interval(-remaining, step, max_interval)
    elif remaining > half_window:
        delay = remaining - half_window  # tight: straight to the window around the expected end
    elif remaining > -half_window:
        delay = max(step, (remaining + half_window) / usable)  # the usable checks cover the window
    else:
        # Later than the window: each check may double how late it is, but no coarser than spreading the usable checks
        # evenly until the deadline.
        delay = max(step, min(-remaining, until_timeout / usable))
    return max(1, min(math.ceil(delay), max(1, math.ceil(until_timeout))))


def _late_interval(late: float, step: float, max_interval: int) -> float:
    """Past the expected end, checks stretch from `step` to max_interval as the wave runs later."""
    return min(float(max_interval), max(step, late / 4))


def expected_from(previous_duration: float | None, configured: float, timeout: float) -> float:
    """The job time to expect: the previous wave's (what DRS took here, now) when known, else the configured one."""
    if previous_duration is None or previous_duration <= 0:
        return min(configured, timeout)
    return min(max(60.0, previous_duration), timeout)


def retry_delay(attempt: int, key: str) -> int:
    """Exponential backoff with full jitter (as the AWS SDKs back off), for the `attempt`-th try in a row.

    The jitter is drawn from a generator seeded by `key` (execution, wave, attempt): executions racing each other
    spread out, and a rehearsal replays exactly.
    """
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(attempt, 10))
    return max(1, math.ceil(random.Random(f"{key}:{attempt}").uniform(0, ceiling)))


def next_start_delay(*, wanted: float, elapsed: float, timeout: float, events_left: int) -> int | None:
    """When to try starting a wave's remaining servers again, or None when the wave cannot afford another try.

    Another attempt must leave room for the wave's first check and its last, at their worst. Tries come after the
    wanted delay (backoff, or the capacity interval) while there is budget for more than two; the last two are
    spread until the deadline.
    """
    until_timeout = timeout - elapsed
    spare = events_left - 3 * WORST_CHECK_EVENTS
    if spare < 0 or until_timeout <= 1:
        return None
    attempts = 1 + spare // EVENTS_PER_CHECK
    delay = wanted if attempts > 2 else until_timeout / (attempts + 1)
    return max(1, min(math.ceil(delay), math.floor(until_timeout) - 1))
