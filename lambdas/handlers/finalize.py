"""Finalize execution / Record failure: end the execution record with its status, end time and reason."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.events import FinalizeEvent
from lambdas.core.finish import finish
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(correlation_id_path="ExecutionId", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = FinalizeEvent.model_validate(event)
    finished = finish(
        execution_id=request.ExecutionId,
        raw_input=request.Input,
        failure=request.Error,
        now=request.Now,
        execution_arn=request.ExecutionArn,
    )
    logger.info("execution finished", extra={"status": finished.Status})
    return finished.model_dump()
