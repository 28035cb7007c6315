"""Start wave recovery: one StartRecovery per chunk of the wave's servers, recorded as it goes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import StartWaveEvent
from lambdas.core.observability import logger
from lambdas.core.waves import start_wave


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = StartWaveEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber)
    progress = start_wave(
        execution_id=request.ExecutionId,
        plan_id=request.PlanId,
        execution_type=request.ExecutionType,
        wave_number=request.WaveNumber,
        options=request.Options,
        now=request.Now,
    )
    logger.info("wave started", extra={"servers": progress.Servers, "first_check_in": progress.NextCheckSeconds})
    return progress.model_dump()
