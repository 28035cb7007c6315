"""Prepare execution: validate the plan, resolve its servers, open the execution record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import PrepareEvent
from lambdas.core.observability import counts_refusals, logger
from lambdas.core.prepare import prepare


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = PrepareEvent.model_validate(event)
    prepared = prepare(
        raw_input=request.Input, execution_id=request.ExecutionId, execution_arn=request.ExecutionArn, now=request.Now
    )
    logger.info("execution prepared", extra={"waves": len(prepared.Waves), "servers": prepared.ServerCount})
    return prepared.model_dump()
