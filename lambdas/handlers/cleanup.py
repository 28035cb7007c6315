"""Terminate drill instances / Check the terminate jobs / Record the cleanup failure (plan Options.DrillCleanup)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core import cleanup
from lambdas.core.events import CleanupEvent
from lambdas.core.finish import plan_id_of
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CleanupEvent.model_validate(event)
    plan_id = plan_id_of(request.Input)

    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    if request.Action == "TERMINATE":
        progress = cleanup.terminate(request.ExecutionId, plan_id, request.Now, seconds_left)
    elif request.Action == "CHECK":
        progress = cleanup.check(request.ExecutionId, plan_id, request.Now, seconds_left)
    else:
        progress = cleanup.fail(request.ExecutionId, plan_id, request.Error or {}, request.Now)
    logger.info("drill cleanup", extra={"action": request.Action, "status": progress.Status})
    return progress.model_dump()
