"""Sweep: on a schedule, end the records and release the locks of executions that have ended without saying so."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.core.observability import counts_refusals, logger
from lambdas.core.sweep import sweep


@logger.inject_lambda_context(clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # EventBridge Scheduler sends no timestamp of its own unless told to; the time of the run is now.
    stamp = event.get("time") if isinstance(event, dict) else None
    now = (
        int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
        if stamp
        else int(datetime.now(tz=UTC).timestamp())
    )
    report = sweep(now)
    logger.info("swept", extra=asdict(report))
    return asdict(report)
