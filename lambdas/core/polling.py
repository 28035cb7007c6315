"""When to check a running wave next, and how many checks an execution can afford.

Step Functions fails a Standard execution at 25,000 history events. The waves run inline in one execution (the
Map's iterations count against it), so Prepare splits the history into a fixed part and an equal event budget per
wave, and every check spends from its wave's budget by what it really cost, retries included (the state machine
passes `$$.State.RetryCount`). Before scheduling another check, the wave must be able to afford the most expensive
one; when only one more is affordable, it is scheduled at the wave's timeout, so the last check decides. An accepted
plan therefore cannot reach the cap, whatever DRS does. (Child executions per wave would lift the limit further,
at the price of a graph view split across executions; no plan that DRS quotas allow needs them.)

Checks are spaced by what is known about DRS jobs (docs/architecture.md, Polling): nothing can be launched long
before the expected job time, so the first check comes at half of it and each later one halves the remaining time;
once the wave is due, checks come every MinPollIntervalSeconds and stretch to PollIntervalSeconds as it runs late.
A wave is thus noticed within seconds of launching at a cost of about ten checks, instead of a fixed 30 s poll's
average 15 s lag and 18 checks for a 9-minute job.
"""

from __future__ import annotations

import math
import random

HISTORY_EVENT_CAP = 25_000
SAFETY_EVENTS = 500  # headroom for events we do not model exactly
# Execution start and end, Prepare (5) with up to 11 retries, the Map's own events, Finalize or Record failure (5
# each) with up to 6 retries each, the Choice and the end state. A test pins it against the ASL's retriers.
EXECUTION_FIXED_EVENTS = 150
WAVE_FIXED_EVENTS = 40  # Map iteration start and end, the wave's Choice and end state; every task is counted apart
EVENTS_PER_CHECK = 9  # Wait (2) + task (5) + Choice (2): a check, or a start attempt
EVENTS_PER_RETRY = 3  # LambdaFunctionScheduled, Started, Failed
CHECK_MAX_RETRIES = 6  # the Retry of "Check wave jobs" and "Start wave recovery": 3 + 3; a test pins it to the ASL
WORST_CHECK_EVENTS = EVENTS_PER_CHECK + CHECK_MAX_RETRIES * EVENTS_PER_RETRY
MIN_CHECKS_PER_WAVE = 5
RETRY_BASE_SECONDS = 5  # a start attempt that got no answer (throttled, 5xx): backoff 5 s, 10 s, ... 120 s, jittered
RETRY_CAP_SECONDS = 120


def wave_event_budget(wave_count: int) -> int:
    """History events each wave may spend on checks."""
    shared = HISTORY_EVENT_CAP - SAFETY_EVENTS - EXECUTION_FIXED_EVENTS
    return shared // wave_count - WAVE_FIXED_EVENTS


def max_waves() -> int:
    """The most waves for which every wave can still afford MIN_CHECKS_PER_WAVE worst-case checks."""
    shared = HISTORY_EVENT_CAP - SAFETY_EVENTS - EXECUTION_FIXED_EVENTS
    return shared // (WAVE_FIXED_EVENTS + MIN_CHECKS_PER_WAVE * WORST_CHECK_EVENTS)


def check_cost(retry_count: int) -> int:
    """History events one check cost, given how many times its task was retried."""
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
    """Seconds to wait before the next check of a wave that has run `elapsed` of `timeout` seconds."""
    until_timeout = max(0.0, timeout - elapsed)
    affordable = events_left // WORST_CHECK_EVENTS
    if affordable <= 1:
        return max(1, math.ceil(until_timeout))  # one check left: spend it at the timeout
    remaining = expected - elapsed
    if remaining > 0:
        delay = max(float(min_interval), remaining / 2)
    else:
        delay = min(float(max_interval), max(float(min_interval), -remaining / 4))
    # Never plan more checks than the budget holds before the timeout: while the budget could still pay for checks
    # every max_interval until the timeout, any schedule is safe; once it could not, checks are spread evenly.
    if affordable - 1 < until_timeout / max_interval:
        delay = max(delay, until_timeout / (affordable - 1))
    return max(1, min(math.ceil(delay), max(1, math.ceil(until_timeout))))


def retry_delay(attempt: int, key: str) -> int:
    """Exponential backoff with full jitter (as the AWS SDKs back off), for the `attempt`-th try in a row.

    The jitter is drawn from a generator seeded by `key` (execution, wave, attempt): executions racing each other
    spread out, and a rehearsal replays exactly.
    """
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(attempt, 10))
    return max(1, math.ceil(random.Random(f"{key}:{attempt}").uniform(0, ceiling)))


def next_start_delay(*, wanted: float, elapsed: float, timeout: float, events_left: int) -> int | None:
    """When to try starting a wave's remaining servers again, or None when the wave cannot afford another try.

    Start attempts share the wave's event budget with the checks that follow, so they leave room for
    MIN_CHECKS_PER_WAVE worst-case checks, and spread what remains so the tries last until the deadline.
    """
    until_timeout = timeout - elapsed
    affordable = (events_left - MIN_CHECKS_PER_WAVE * WORST_CHECK_EVENTS) // WORST_CHECK_EVENTS
    if affordable < 1 or until_timeout <= 1:
        return None
    delay = max(wanted, until_timeout / affordable)
    return max(1, min(math.ceil(delay), math.floor(until_timeout) - 1))
