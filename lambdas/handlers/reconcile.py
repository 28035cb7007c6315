"""Reconcile: EventBridge tells us an execution was stopped, timed out or failed; end its record and locks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.observability import counts_refusals, logger
from lambdas.core.reconcile import StatusChange, reconcile


@logger.inject_lambda_context(correlation_id_path="detail.name", clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    change = StatusChange.model_validate(event["detail"])
    event_time = int(datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp())
    finished = reconcile(change, event_time)
    if finished is None:
        logger.info("nothing to reconcile", extra={"status": change.status})
        return {"Reconciled": False}
    logger.info("execution reconciled", extra={"status": finished.Status})
    return {"Reconciled": True, **finished.model_dump()}
