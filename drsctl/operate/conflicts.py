"""Which executions of a plan are running: what `run start` and `plan load` refuse to go against.

A second start of a running plan would fail in Prepare with ExecutionConflictError (on AWS that fires the
failed-executions alarm), and a plan stored over a running execution's plan would make the record name a plan that
was not the one drilled. Both are refused before any call that changes anything.

Step Functions says which executions run (ListExecutions RUNNING); each one's record says its plan and whether its
execution is still under way (a drill whose record has ended runs on only for its cleanup, which reads no plan). An
execution started a moment ago has no record yet: its input names the plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from drsctl.operate.stack import DeployedStack
from drsctl.stamps import utc
from lambdas.core import records


@dataclass(frozen=True)
class Running:
    """An execution of the plan that is running: its name, mode, start (epoch s) and who started it (if recorded)."""

    name: str
    mode: str | None
    started: float | None
    started_by: str | None
    plan_version: str | None

    def describe(self) -> str:
        """`execution drill-1 (DRILL, started 20:15:03 UTC by arn:...)`."""
        parts = [self.mode or "mode unknown"]
        if self.started:
            parts.append(f"started {utc(self.started)}")
        if self.started_by:
            parts.append(f"by {self.started_by}")
        return f"execution {self.name} ({', '.join(parts)})"


def running_executions(stack: DeployedStack, plan_id: str) -> list[Running]:
    """The executions of `plan_id` still under way, oldest first."""
    client = stack.client("stepfunctions")
    found: list[Running] = []
    pages = client.get_paginator("list_executions").paginate(
        stateMachineArn=stack.state_machine_arn, statusFilter="RUNNING"
    )
    for page in pages:
        for execution in page.get("executions", []):
            running = _of_plan(stack, client, execution, plan_id)
            if running is not None:
                found.append(running)
    return sorted(found, key=lambda r: (r.started or 0, r.name))


def _of_plan(stack: DeployedStack, client: Any, execution: dict[str, Any], plan_id: str) -> Running | None:
    name = str(execution["name"])
    started = execution.get("startDate")
    started_at = started.timestamp() if isinstance(started, datetime) else None
    with stack.environment():
        record = records.find_execution_by_id(name)
    if record is not None:
        if record.PlanId != plan_id or record.Status not in records.ACTIVE_EXECUTION_STATUSES:
            return None  # another plan's, or a drill that ended and runs on for its cleanup only
        return Running(name, record.ExecutionType, record.StartTime, record.StartedBy, record.PlanVersion)
    described = client.describe_execution(executionArn=execution["executionArn"])
    try:
        given = json.loads(described.get("input") or "{}")
    except ValueError:
        return None
    if not isinstance(given, dict):
        return None
    inline = given.get("Plan")
    its_plan = given.get("PlanId") or (inline.get("PlanId") if isinstance(inline, dict) else None)
    if its_plan != plan_id:
        return None
    by = given.get("StartedBy")
    return Running(name, given.get("ExecutionType"), started_at, str(by) if by else None, None)
