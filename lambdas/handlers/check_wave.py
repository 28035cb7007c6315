"""Check wave jobs: one DescribeJobs for the wave, each server's state into the record, and what comes next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import WaveStepEvent
from lambdas.core.observability import counts_refusals, logger
from lambdas.core.waves import check_wave


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = WaveStepEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber)
    progress = check_wave(request.step(), request.Progress, request.RetryCount)
    logger.info(
        "wave checked",
        extra={"status": progress.Status, "launched": progress.Launched, "missed": progress.MissedChecks},
    )
    return progress.model_dump()
