"""A plan's drill schedule in the deployed stack: `plan load` creates, updates or deletes it from the plan's
`Schedule`, `plan schedule --enable|--disable` turns it on or off, `plan list` shows the next drill.

The schedule (EventBridge Scheduler, in the stack's group: output DrillScheduleGroupName) is named after the plan
(`drill-<PlanId>`, lambdas/core/drill_schedule.py) and starts the state machine with the role the stack made for it
(output DrillScheduleRoleArn: it may only start the state machine), the input fixed at load: a DRILL of the stored
plan, Scheduled, with its drill cleanup. A rate schedule starts one period after it is created or its expression
changes (Scheduler would otherwise start at once): loading a plan never starts a drill by itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from drsctl.operate.executions import OperateError, stack_time
from drsctl.operate.stack import DeployedStack
from lambdas.core import schedule_expression
from lambdas.core.drill_schedule import schedule_name, scheduled_input
from lambdas.core.plan import RecoveryPlan

GROUP_OUTPUT, GROUP_VARIABLE = "DrillScheduleGroupName", "DRSCTL_DRILL_SCHEDULE_GROUP"
ROLE_OUTPUT, ROLE_VARIABLE = "DrillScheduleRoleArn", "DRSCTL_DRILL_SCHEDULE_ROLE_ARN"
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}


@dataclass(frozen=True)
class ScheduleChange:
    """What `plan load` did to the plan's schedule."""

    name: str
    action: str  # created, updated, unchanged, deleted
    state: str | None = None  # ENABLED, DISABLED
    next_drill: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "action": self.action, "state": self.state, "nextDrill": _iso(self.next_drill)}


def _needed(stack: DeployedStack) -> tuple[str, str]:
    group = os.environ.get(GROUP_VARIABLE) or stack.outputs.get(GROUP_OUTPUT)
    role = os.environ.get(ROLE_VARIABLE) or stack.outputs.get(ROLE_OUTPUT)
    if not group or not role:
        raise OperateError(
            f"stack {stack.name} has no {GROUP_OUTPUT} or {ROLE_OUTPUT} output: deploy this version of the stack "
            "(scheduled drills came with it), or set "
            f"{GROUP_VARIABLE} and {ROLE_VARIABLE}"
        )
    return group, role


def _client(stack: DeployedStack) -> Any:
    return stack.client("scheduler")


def _existing(scheduler: Any, name: str, group: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = scheduler.get_schedule(Name=name, GroupName=group)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    return found


def apply(stack: DeployedStack, plan: RecoveryPlan) -> ScheduleChange | None:
    """Make the plan's schedule what its `Schedule` says (delete it when the plan has none). None: no schedule
    before or after."""
    name = schedule_name(plan.PlanId)
    scheduler = _client(stack)
    if plan.Schedule is None:
        group = os.environ.get(GROUP_VARIABLE) or stack.outputs.get(GROUP_OUTPUT)
        if not group or _existing(scheduler, name, group) is None:
            return None
        scheduler.delete_schedule(Name=name, GroupName=group)
        return ScheduleChange(name, "deleted")
    group, role = _needed(stack)
    existing = _existing(scheduler, name, group)
    now = stack_time(existing or scheduler.list_schedules(GroupName=group, MaxResults=1))
    wanted = plan.Schedule
    cleanup = (plan.Options.DrillCleanup if plan.Options else None) or None
    execution = scheduled_input(plan.PlanId, cleanup.model_dump() if cleanup else None, role)
    state = (
        ("ENABLED" if wanted.Enabled else "DISABLED")
        if wanted.Enabled is not None
        else str(existing.get("State") or "ENABLED")
        if existing
        else "ENABLED"
    )
    arguments: dict[str, Any] = {
        "Name": name,
        "GroupName": group,
        "Description": f"drs-orchestrator: a scheduled drill of plan {plan.PlanId}"[:512],
        "ScheduleExpression": wanted.Expression,
        "ScheduleExpressionTimezone": wanted.Timezone or "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": state,
        "Target": {
            "Arn": stack.state_machine_arn,
            "RoleArn": role,
            "Input": json.dumps(execution, sort_keys=True),
            "RetryPolicy": RETRY_POLICY,
        },
    }
    period = schedule_expression.period_seconds(wanted.Expression)
    if period is not None:
        same = existing is not None and existing.get("ScheduleExpression") == wanted.Expression
        start = existing.get("StartDate") if same and existing else None
        arguments["StartDate"] = start or datetime.fromtimestamp(now + period, tz=UTC)
    unchanged = existing is not None and _same(existing, arguments)
    if existing is None:
        scheduler.create_schedule(**arguments)
    elif not unchanged:
        scheduler.update_schedule(**arguments)
    action = "created" if existing is None else "unchanged" if unchanged else "updated"
    return ScheduleChange(name, action, state, next_drill(arguments, now))


def _same(existing: dict[str, Any], arguments: dict[str, Any]) -> bool:
    target = existing.get("Target") or {}
    return bool(
        existing.get("ScheduleExpression") == arguments["ScheduleExpression"]
        and (existing.get("ScheduleExpressionTimezone") or "UTC") == arguments["ScheduleExpressionTimezone"]
        and existing.get("State") == arguments["State"]
        and target.get("Arn") == arguments["Target"]["Arn"]
        and target.get("RoleArn") == arguments["Target"]["RoleArn"]
        and target.get("Input") == arguments["Target"]["Input"]
    )


def set_enabled(stack: DeployedStack, plan_id: str, enabled: bool) -> ScheduleChange:
    """Turn the plan's schedule on or off (`drsctl plan schedule PLAN_ID --enable|--disable`)."""
    group, _ = _needed(stack)
    name = schedule_name(plan_id)
    scheduler = _client(stack)
    existing = _existing(scheduler, name, group)
    if existing is None:
        raise OperateError(
            f"plan {plan_id} has no drill schedule: add a Schedule to the plan file (Schedule: {{Expression: "
            '"rate(30 days)"}) and load it (drsctl plan load FILE)'
        )
    state = "ENABLED" if enabled else "DISABLED"
    now = stack_time(existing)
    kept = {
        key: existing[key]
        for key in (
            "Name",
            "GroupName",
            "Description",
            "ScheduleExpression",
            "ScheduleExpressionTimezone",
            "StartDate",
            "EndDate",
            "FlexibleTimeWindow",
            "Target",
            "KmsKeyArn",
            "ActionAfterCompletion",
        )
        if existing.get(key) is not None
    }
    if existing.get("State") != state:
        scheduler.update_schedule(**{**kept, "State": state})
    return ScheduleChange(name, "enabled" if enabled else "disabled", state, next_drill({**kept, "State": state}, now))


def schedules(stack: DeployedStack) -> dict[str, ScheduleChange]:
    """Schedule name -> its state and next drill, for every schedule of the stack's group (empty when the stack
    has no group)."""
    group = os.environ.get(GROUP_VARIABLE) or stack.outputs.get(GROUP_OUTPUT)
    if not group:
        return {}
    scheduler = _client(stack)
    found: dict[str, ScheduleChange] = {}
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
        for summary in page.get("Schedules", []):
            detail = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
            state = str(detail.get("State"))
            found[str(summary["Name"])] = ScheduleChange(
                str(summary["Name"]), "listed", state, next_drill(detail, stack_time(detail))
            )
    return found


def next_drill(schedule: dict[str, Any], now: float) -> float | None:
    """When the schedule next starts a drill after `now`; None when it is disabled or will not again."""
    if schedule.get("State") != "ENABLED":
        return None
    start = schedule.get("StartDate")
    begins = start.timestamp() if isinstance(start, datetime) else None
    return schedule_expression.next_time(
        str(schedule["ScheduleExpression"]),
        now,
        timezone=schedule.get("ScheduleExpressionTimezone"),
        start=begins,
    )


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if epoch is not None else None
