"""Scheduled drills: a plan's `Schedule`, the EventBridge Scheduler schedule `drsctl plan load` makes of it, and the
execution input that schedule sends.

The schedule targets the state machine itself (Scheduler's templated Step Functions StartExecution target) with a
role that may only start it. Its input is fixed when the plan is loaded: a DRILL (a RECOVERY is never scheduled: the
input model refuses `Scheduled` with RECOVERY), the plan's own DrillCleanup or else one AfterMinutes 60, `Scheduled`
true and `StartedBy` the schedule's role. A scheduled drill that cannot start (another execution of the plan runs,
the plan's stored readiness is FAIL) is refused by Prepare before anything launches: the execution's record ends
FAILED with ScheduledDrillRefusedError and the reason, and the stack's topic is told (its rule on FAILED executions),
so a refusal is recorded and notified, never skipped in silence.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lambdas.core import schedule_expression
from lambdas.core.plan_types import Boolean

SCHEDULED_CLEANUP_MINUTES = 60  # a scheduled drill's cleanup when the plan has none: nobody is there to clean up
SCHEDULE_NAME_MAX = 64  # EventBridge Scheduler: a schedule's name is 1 to 64 of [0-9a-zA-Z-_.]
SCHEDULE_NAME_PREFIX = "drill-"
# What a plan author may write to ask for another kind of execution: a schedule starts only drills.
MODE_KEYS = ("ExecutionType", "Mode", "Type")


class Schedule(BaseModel):
    """When the plan drills on its own (EventBridge Scheduler, in the stack's schedule group)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    Expression: str = Field(
        min_length=1,
        max_length=256,
        description='"rate(value unit)" (minute(s), hour(s), day(s)) or "cron(minutes hours day-of-month month '
        'day-of-week year)", as EventBridge Scheduler reads them; e.g. "rate(30 days)", "cron(0 6 ? * MON#1 *)".',
    )
    Timezone: str | None = Field(
        None, max_length=50, description="The IANA time zone a cron expression is read in (default UTC)."
    )
    Enabled: Annotated[bool | None, Boolean] = Field(
        None,
        description="false: the schedule exists but starts nothing (drsctl plan schedule PLAN_ID --enable turns it "
        "on). Unset: a new schedule is enabled, an existing one keeps its state.",
    )

    @model_validator(mode="before")
    @classmethod
    def _drills_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in MODE_KEYS:
                if key in data and str(data[key]).upper() != "DRILL":
                    raise ValueError(
                        f"{key} {data[key]!r}: a schedule starts only DRILLs, a RECOVERY is never scheduled "
                        f"(start one with drsctl run start PLAN_ID --mode recovery); remove Schedule.{key}"
                    )
                if key in data:
                    raise ValueError(f"{key}: a schedule always starts a DRILL; remove Schedule.{key}")
        return data

    @field_validator("Expression")
    @classmethod
    def _known_expression(cls, value: str) -> str:
        try:
            schedule_expression.parse(value)
        except schedule_expression.ScheduleExpressionError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("Timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                schedule_expression.check_timezone(value)
            except schedule_expression.ScheduleExpressionError as error:
                raise ValueError(str(error)) from None
        return value


def schedule_name(plan_id: str) -> str:
    """The plan's schedule in the stack's group: `drill-<PlanId>`, shortened with a hash where a PlanId (up to 128
    characters) would not fit Scheduler's 64."""
    safe = re.sub(r"[^0-9A-Za-z_.-]", "-", plan_id)
    name = SCHEDULE_NAME_PREFIX + safe
    if len(name) <= SCHEDULE_NAME_MAX:
        return name
    digest = hashlib.sha256(plan_id.encode()).hexdigest()[:10]
    return f"{name[: SCHEDULE_NAME_MAX - 11]}-{digest}"


def scheduled_input(plan_id: str, drill_cleanup: dict[str, Any] | None, started_by: str) -> dict[str, Any]:
    """What the plan's schedule starts: a DRILL of the stored plan, cleaned up after (the plan's DrillCleanup, else
    AfterMinutes 60), marked Scheduled, started by the schedule's role."""
    execution: dict[str, Any] = {
        "PlanId": plan_id,
        "ExecutionType": "DRILL",
        "Scheduled": True,
        "StartedBy": started_by,
    }
    if drill_cleanup is None:
        execution["Options"] = {"DrillCleanup": {"AfterMinutes": SCHEDULED_CLEANUP_MINUTES}}
    return execution
