"""The sandbox's Scheduler (drsctl/sandbox/schedules.py) against moto's: when a schedule fires, and that a poll with
nothing changed and nothing due reads nothing through the SDK."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from moto import mock_aws

from drsctl.sandbox.schedules import ScheduleFirer

TARGET = {
    "Arn": "arn:aws:lambda:us-east-1:123456789012:function:nightly",
    "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
}
NOON = datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp()
NIGHTLY: dict[str, Any] = {
    "Name": "nightly",
    "ScheduleExpression": "cron(0 12 * * ? *)",
    "FlexibleTimeWindow": {"Mode": "OFF"},
    "Target": TARGET,
}


class Clock:
    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


class CountingScheduler:
    """moto's Scheduler client, counting the calls the firer makes through it."""

    def __init__(self) -> None:
        self.client = boto3.client("scheduler", region_name="us-east-1")
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        self.calls += 1
        return getattr(self.client, name)


def firer_at(clock: Clock) -> ScheduleFirer:
    firer = ScheduleFirer(clock, "us-east-1")  # type: ignore[arg-type]  # the clock's now() is all it reads
    firer.fire = lambda schedule, at: firer.fired.append((schedule["Name"], at))  # type: ignore[method-assign]
    return firer


def nightly_read_at_eleven(scheduler: Any) -> tuple[Clock, ScheduleFirer]:
    """The nightly (noon) schedule created ENABLED, and a firer that read it at 11:00 (next at 12:00)."""
    scheduler.create_schedule(**NIGHTLY, State="ENABLED")
    clock = Clock(NOON - 3600)
    firer = firer_at(clock)
    firer.fire_due(scheduler)
    return clock, firer


def test_a_cron_schedule_fires_at_its_time_and_a_poll_with_nothing_due_reads_nothing():
    with mock_aws():
        scheduler = CountingScheduler()
        clock, firer = nightly_read_at_eleven(scheduler)
        assert [t.next_at for t in firer._tracked.values()] == [NOON] and firer.fired == []  # read: next at 12:00
        scheduler.calls = 0
        clock.at = NOON - 60
        firer.fire_due(scheduler)  # 11:59: nothing changed, nothing due
        assert scheduler.calls == 0
        clock.at = NOON + 5
        firer.fire_due(scheduler)  # due: read and fired
        assert firer.fired == [("nightly", NOON)]
        scheduler.client.update_schedule(**NIGHTLY, State="ENABLED", ScheduleExpressionTimezone="Europe/Paris")
        scheduler.calls = 0
        firer.fire_due(scheduler)  # a change is read at once
        assert scheduler.calls > 0 and firer.fired == [("nightly", NOON)]


def test_a_cron_schedule_disabled_over_its_time_does_not_fire_when_enabled_again():
    with mock_aws():
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        clock, firer = nightly_read_at_eleven(scheduler)
        scheduler.update_schedule(**NIGHTLY, State="DISABLED")
        for at in (NOON - 1800, NOON + 3600):  # 11:30, 13:00: noon passes while it is disabled
            clock.at = at
            firer.fire_due(scheduler)
        scheduler.update_schedule(**NIGHTLY, State="ENABLED")
        clock.at = NOON + 3660
        firer.fire_due(scheduler)  # 13:01, enabled again: next is tomorrow's noon
        assert firer.fired == []
        clock.at = NOON + 86400 + 1
        firer.fire_due(scheduler)
        assert firer.fired == [("nightly", NOON + 86400)]


def test_a_deleted_schedule_is_forgotten():
    with mock_aws():
        scheduler = boto3.client("scheduler", region_name="us-east-1")
        clock, firer = nightly_read_at_eleven(scheduler)
        scheduler.delete_schedule(Name="nightly")
        clock.at = NOON + 5
        firer.fire_due(scheduler)
        assert firer.fired == [] and firer._tracked == {}
