"""Asking Step Functions whether an execution still runs: the authority on whether its locks are still needed.

A record can say POLLING for an execution that has long ended (its reconcile event was lost); a lock can name an
execution whose record never got written. Step Functions itself knows, so stale-lock takeover and the sweeper ask it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from lambdas.core.aws_errors import classify
from lambdas.core.observability import logger

# As for DRS reads: two short attempts, so one call stays far inside every function's timeout.
CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=5)


@cache
def _client() -> Any:
    return boto3.client("stepfunctions", config=CONFIG)


GONE = "GONE"
STILL_RUNNING = ("RUNNING", "PENDING_REDRIVE")


def describe(execution_arn: str) -> dict[str, Any] | None:
    """DescribeExecution; `{"status": "GONE"}` when Step Functions does not know the execution (deleted with its
    state machine, or past its retention), None when it cannot be asked right now (throttled, denied)."""
    try:
        described: dict[str, Any] = _client().describe_execution(executionArn=execution_arn)
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        if failure.code in ("ExecutionDoesNotExist", "StateMachineDoesNotExist"):
            return {"status": GONE, "executionArn": execution_arn}
        if failure.kind == "permanent":  # e.g. access denied: say so, or a missing permission would pass unseen
            logger.error(
                "cannot ask Step Functions about an execution", extra={"arn": execution_arn, "error": failure.short()}
            )
        return None
    return described


def has_ended(execution_arn: str | None) -> bool:
    """True only when Step Functions says the execution is over; unknown or unreachable counts as running."""
    if not execution_arn:
        return False
    described = describe(execution_arn)
    return described is not None and described["status"] not in STILL_RUNNING
