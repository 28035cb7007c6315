"""Start wave recovery: one StartRecovery per chunk of the wave's servers, recorded as it goes."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import WaveStepEvent
from lambdas.core.observability import counts_refusals, logger
from lambdas.core.waves import start_wave


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WaveStepEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber)
    progress = start_wave(
        request.step(),
        request.Progress,
        request.RetryCount,
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    logger.info(
        "wave start step",
        extra={"status": progress.Status, "servers": progress.Servers, "next_in": progress.NextCheckSeconds},
    )
    return progress.model_dump()
