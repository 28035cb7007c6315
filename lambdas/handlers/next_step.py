"""Next runbook step: record how a wave's last runbook step ended and say which state runs next."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import RunbookEvent
from lambdas.core.observability import counts_refusals, logger
from lambdas.core.runbook import next_step


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = RunbookEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber, phase=request.Steps.Phase)
    answer = next_step(
        execution_id=request.ExecutionId,
        plan_id=request.PlanId,
        mode=request.ExecutionType,
        wave_number=request.WaveNumber,
        phase_steps=request.Runbook.Before if request.Steps.Phase == "BEFORE" else request.Runbook.After,
        cursor=request.Steps,
        now=request.Now,
        execution_arn=request.ExecutionArn,
        waves_end_by=request.WavesEndBy,
    )
    logger.info("runbook step", extra={"kind": answer["Kind"], "index": answer["Index"]})
    return answer
