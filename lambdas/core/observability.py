"""The one Logger every handler uses: structured JSON, the Step Functions execution name as correlation id; and the
refusals the workflow expects, logged so the stack counts them apart from failures."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger

from lambdas.core.errors import EXPECTED_REFUSALS

logger = Logger(service="drs-orchestrator")

# The log field that marks an expected refusal: the stack's metric filter counts the lines that carry it
# (ExpectedRefusals, per FunctionName), and each function's error alarm subtracts them from Lambda's Errors.
REFUSAL_KEY = "refusal"
FUNCTION_NAME_KEY = "function_name"  # Powertools' inject_lambda_context puts the function's name on every line

Handler = TypeVar("Handler", bound=Callable[..., Any])


def counts_refusals(handler: Handler) -> Handler:
    """Log an expected refusal (errors.EXPECTED_REFUSALS) with REFUSAL_KEY before it goes on to the state machine,
    which catches it by name. Place it under `logger.inject_lambda_context`, so the line names the function."""

    @functools.wraps(handler)
    def handled(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except EXPECTED_REFUSALS as refusal:
            logger.warning(f"refused: {type(refusal).__name__}", extra={REFUSAL_KEY: type(refusal).__name__})
            raise

    handled.counts_refusals = True  # type: ignore[attr-defined]  # a test checks every handler is wrapped
    return handled  # type: ignore[return-value]
