"""Ask for approval: keep the task token on the waiting step (for the answer function alone) and tell the approvers
what they are asked and how to answer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.approvals import request_approval
from lambdas.core.events import ApprovalEvent
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ApprovalEvent.model_validate(event)
    logger.append_keys(wave=request.WaveNumber)
    notified = request_approval(
        execution_id=request.ExecutionId,
        plan_id=request.PlanId,
        mode=request.ExecutionType,
        wave_number=request.WaveNumber,
        wave_name=request.WaveName,
        cursor=request.Steps,
        task_token=request.TaskToken,
        now=request.Now,
    )
    logger.info("approval requested", extra={"notified": notified})
    return {"Notified": notified}
