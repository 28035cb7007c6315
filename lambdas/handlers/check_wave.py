"""Check wave jobs: one DescribeJobs for the wave, each server's state into the record, and what comes next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import CheckWaveEvent
from lambdas.core.observability import logger
from lambdas.core.waves import check_wave


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = CheckWaveEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber)
    progress = check_wave(
        execution_id=request.ExecutionId,
        plan_id=request.PlanId,
        wave_number=request.WaveNumber,
        options=request.Options,
        progress=request.Progress,
        event_budget=request.EventBudget,
        retry_count=request.RetryCount,
        now=request.Now,
    )
    logger.info("wave checked", extra={"status": progress.Status, "launched": progress.Launched})
    return progress.model_dump()
