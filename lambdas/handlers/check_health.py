"""Check health: one look at whether a wave's launched servers are healthy (a HealthCheck step), and when to look
again."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import HealthEvent
from lambdas.core.health import HealthProgress, check_health
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = HealthEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber, phase=request.Steps.Phase)
    progress = check_health(
        execution_id=request.ExecutionId,
        wave_number=request.WaveNumber,
        phase=request.Steps.Phase,
        index=request.Steps.Index,
        config=request.Steps.Event,
        timeout_seconds=request.Steps.TimeoutSeconds,
        previous=request.Steps.Outcome or HealthProgress(),
        now=request.Now,
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    logger.info("health checked", extra={"status": progress.Status, "checks": progress.Checks})
    return progress.model_dump()
