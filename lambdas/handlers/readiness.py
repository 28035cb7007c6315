"""Readiness: every 30 minutes every stored plan, or one plan right after `drsctl plan load` ({"PlanId": ...})."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.errors import ReadinessNotEvaluatedError
from lambdas.core.observability import counts_refusals, logger
from lambdas.core.readiness.service import evaluate_due, evaluate_stored_plan


@logger.inject_lambda_context(clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # EventBridge Scheduler sends what it is given: the scheduled time ({"time": ...}); drsctl sends {"PlanId": ...,
    # "time": ...}, the stack's time when it asked (AWS's clock, or the sandbox's, faster than this function's own).
    stamp = event.get("time") if isinstance(event, dict) else None
    now = (
        int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
        if stamp
        else int(datetime.now(tz=UTC).timestamp())
    )
    plan_id = event.get("PlanId") if isinstance(event, dict) else None
    if plan_id:
        result = evaluate_stored_plan(str(plan_id), now)
        return {"PlanId": result.planId, "Status": result.status, "Findings": len(result.findings)}
    done = evaluate_due(now, lambda: context.get_remaining_time_in_millis() / 1000)
    failed = [d for d in done if d.error]
    if failed:  # the Lambda's error alarm: a plan nobody can evaluate is itself a problem
        raise ReadinessNotEvaluatedError(
            f"{len(failed)} plan(s) could not be evaluated: " + "; ".join(f"{d.plan_id}: {d.error}" for d in failed[:5])
        )
    return {"Evaluated": {d.plan_id: d.status for d in done}}
