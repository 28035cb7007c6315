"""EventBridge Scheduler in the sandbox: moto keeps the schedules (CreateSchedule, GetSchedule, UpdateSchedule, ...
answer as AWS's do), and a thread fires them on the sandbox's clock, as Scheduler does in AWS.

Every POLL_SECONDS of real time, unless no schedule changed and none is due, it reads every schedule of every group
and, for each ENABLED one whose next time (its rate from its StartDate, or its cron in its time zone:
lambdas/core/schedule_expression.py) has come on the sandbox's clock, calls its target with its Input: a state
machine ARN is StartExecution, a Lambda function ARN an asynchronous invocation. The context attributes Scheduler
substitutes in an Input (`<aws.scheduler.scheduled-time>`, `<aws.scheduler.execution-id>`,
`<aws.scheduler.schedule-arn>`, `<aws.scheduler.attempt-number>`) are substituted here too. A rate schedule
without a StartDate fires as soon as it is seen, as Scheduler starts at once. A time that passed while the sandbox
could not fire (a long pause) fires once, not once per missed period.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.scheduler.models import scheduler_backends

from drsctl.local.rehearsal import ACCOUNT
from drsctl.sandbox.clock import ScaledClock
from lambdas.core import schedule_expression

POLL_SECONDS = 0.1


@dataclass
class _Tracked:
    signature: str  # what the next time is computed from: a change recomputes it
    next_at: float | None
    enabled: bool = False


class ScheduleFirer:
    """Fire the sandbox's EventBridge Scheduler schedules on its clock."""

    def __init__(self, clock: ScaledClock, region: str, say: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.region = region
        self.say = say or (lambda line: None)
        self.fired: list[tuple[str, float]] = []  # (schedule ARN, when): what tests and the log read
        self._tracked: dict[str, _Tracked] = {}
        self._fingerprint: tuple[Any, ...] | None = None  # of the schedules as last read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)

    def start(self) -> ScheduleFirer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        scheduler = boto3.client("scheduler", region_name=self.region)
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.fire_due(scheduler)
            except Exception as error:  # noqa: BLE001 - keep firing the others; say what went wrong
                sys.stderr.write(f"sandbox: a schedule could not be fired: {type(error).__name__}: {error}\n")

    def fire_due(self, scheduler: Any) -> None:
        now = self.clock.now()
        fingerprint = _fingerprint(self.region)
        if fingerprint == self._fingerprint and not any(
            tracked.enabled and tracked.next_at is not None and tracked.next_at <= now
            for tracked in self._tracked.values()
        ):
            return  # the schedules read last time, unchanged, and none of them due: a read would change nothing
        self._fingerprint = fingerprint
        seen: set[str] = set()
        for group in _pages(scheduler, "list_schedule_groups", "ScheduleGroups"):
            for summary in _pages(scheduler, "list_schedules", "Schedules", GroupName=group["Name"]):
                schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group["Name"])
                seen.add(str(schedule["Arn"]))
                self._consider(schedule, now)
        for gone in set(self._tracked) - seen:  # deleted schedules
            del self._tracked[gone]

    def _consider(self, schedule: dict[str, Any], now: float) -> None:
        arn = str(schedule["Arn"])
        signature = json.dumps(
            [
                schedule.get("ScheduleExpression"),
                schedule.get("ScheduleExpressionTimezone"),
                str(schedule.get("StartDate")),
                str(schedule.get("EndDate")),
                schedule.get("State"),
            ]
        )
        tracked = self._tracked.get(arn)
        if tracked is None or tracked.signature != signature:
            tracked = self._tracked[arn] = _Tracked(signature, self._first_time(schedule, now))
        tracked.enabled = schedule.get("State") == "ENABLED"
        if schedule.get("State") != "ENABLED" or tracked.next_at is None or tracked.next_at > now:
            return
        end = schedule.get("EndDate")
        if isinstance(end, datetime) and tracked.next_at > end.timestamp():
            tracked.next_at = None
            return
        due = tracked.next_at
        tracked.next_at = self._next_time(schedule, max(due, now))
        self.fire(schedule, due)

    def _first_time(self, schedule: dict[str, Any], now: float) -> float | None:
        start = schedule.get("StartDate")
        expression = str(schedule["ScheduleExpression"])
        if schedule_expression.period_seconds(expression) is not None:
            return start.timestamp() if isinstance(start, datetime) else now  # Scheduler starts at once without one
        after = max(now, start.timestamp()) if isinstance(start, datetime) else now
        return schedule_expression.next_time(expression, after, timezone=schedule.get("ScheduleExpressionTimezone"))

    def _next_time(self, schedule: dict[str, Any], after: float) -> float | None:
        start = schedule.get("StartDate")
        return schedule_expression.next_time(
            str(schedule["ScheduleExpression"]),
            after,
            timezone=schedule.get("ScheduleExpressionTimezone"),
            start=start.timestamp() if isinstance(start, datetime) else None,
        )

    def fire(self, schedule: dict[str, Any], at: float) -> None:
        target = schedule["Target"]
        arn = str(target["Arn"])
        payload = _substituted(str(target.get("Input") or "{}"), schedule, at)
        self.fired.append((str(schedule["Arn"]), at))
        when = datetime.fromtimestamp(at, tz=UTC).strftime("%H:%M:%S")
        if ":states:" in arn and ":stateMachine:" in arn:
            # Scheduler starts it without a name (Step Functions gives it a UUID); moto would name it "None".
            started = boto3.client("stepfunctions", region_name=self.region).start_execution(
                stateMachineArn=arn, input=payload, name=str(uuid.uuid4())
            )
            name = str(started["executionArn"]).rsplit(":", 1)[-1]
            self.say(f"schedule {schedule['Name']} (due {when}) started execution {name}")
        elif ":lambda:" in arn:
            boto3.client("lambda", region_name=self.region).invoke(
                FunctionName=arn, InvocationType="Event", Payload=payload.encode()
            )
        else:
            self.say(f"schedule {schedule['Name']}: the sandbox fires only state machines and Lambda functions")


def _substituted(text: str, schedule: dict[str, Any], at: float) -> str:
    values = {
        "<aws.scheduler.scheduled-time>": datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.schedule-arn>": str(schedule["Arn"]),
        "<aws.scheduler.attempt-number>": "1",
    }
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def _fingerprint(region: str) -> tuple[Any, ...]:
    """What each schedule of the sandbox's account is (expression, zone, dates, state, target), read from moto's
    Scheduler itself: unchanged and none due, a poll reads nothing through the SDK (listing every group's schedules
    ten times a second cost a sixth of a core per sandbox)."""
    groups = list(scheduler_backends[ACCOUNT][region].schedule_groups.values())
    return tuple(
        (
            schedule.arn,
            schedule.state,
            schedule.schedule_expression,
            schedule.schedule_expression_timezone,
            str(schedule.start_date),
            str(schedule.end_date),
            json.dumps(schedule.target, sort_keys=True, default=str),
        )
        for group in groups
        for schedule in list(group.schedules.values())
    )


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = getattr(client, operation)(**arguments)
        found.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return found
        arguments["NextToken"] = token
