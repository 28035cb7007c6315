"""What `run show` and `run watch` read from the plan an execution runs: its RTO target (for the countdown) and
which Lambda steps wait for a callback (for `waitingFor`). Read from the stored plan only while it is still the
version the execution's record names (a plan stored since with --force is not the one running)."""

from __future__ import annotations

from pydantic import ValidationError

from drsctl.operate.executions import OperateError, Snapshot, stored_plan
from drsctl.operate.stack import DeployedStack
from drsctl.operate.vocabulary import callback_steps
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import OptionsOverride, RecoveryPlan, RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.plan_version import plan_version


def attach(stack: DeployedStack, current: Snapshot) -> Snapshot:
    """`current` with `rto_minutes` and `callbacks` set from its plan, when the stored plan is the one it runs."""
    plan_id = current.input.get("PlanId") or (current.record.PlanId if current.record else None)
    inline = current.input.get("Plan")
    try:
        raw = inline if isinstance(inline, dict) else stored_plan(stack, str(plan_id)) if plan_id else None
        if raw is None:
            return current
        plan = RecoveryPlan.model_validate(raw)
        recorded = current.record.PlanVersion if current.record is not None else None
        if recorded is not None and plan_version(plan) != recorded:
            return current  # stored again since it started: not the plan it runs
        given = current.input.get("Options")
        override = OptionsOverride.model_validate(given) if isinstance(given, dict) else None
        mode: ExecutionMode = "RECOVERY" if current.input.get("ExecutionType") == "RECOVERY" else "DRILL"
        current.rto_minutes = RunOptions.resolve(mode, plan.Options, override).RtoTargetMinutes
    except (OperateError, ValidationError, PlanValidationError):
        return current
    current.callbacks = callback_steps(plan.model_dump(mode="json"))
    return current
