"""Expected refusals are logged with the field the stack counts (so the error alarms leave them out); anything else
is not, and every handler goes through the same wrapper. The error still reaches the state machine either way."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from lambdas.core.errors import EXPECTED_REFUSALS, DrsRefusedError, ExecutionConflictError, PlanValidationError
from lambdas.core.observability import FUNCTION_NAME_KEY, REFUSAL_KEY, counts_refusals, logger
from stacks.functions import FUNCTIONS


@dataclass
class Context:
    """What Powertools reads of a Lambda context."""

    function_name: str = "drs-orchestrator-prepare"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:drs-orchestrator-prepare"
    aws_request_id: str = "request-1"


def _handler(error: Exception) -> Any:
    @logger.inject_lambda_context(clear_state=True)
    @counts_refusals
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise error

    return handler


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The JSON lines the handler logged, as its Powertools formatter writes them to CloudWatch Logs."""
    return [json.loads(logger.registered_formatter.format(record)) for record in caplog.records]


@pytest.mark.parametrize(
    "error",
    [PlanValidationError(["Waves[0].WaveName is missing"]), ExecutionConflictError("plan storefront is running")],
)
def test_an_expected_refusal_is_logged_with_the_counted_field_and_still_raised(error, caplog):
    with pytest.raises(type(error)):
        _handler(error)({}, Context())
    refusals = [line for line in _lines(caplog) if REFUSAL_KEY in line]
    assert len(refusals) == 1
    assert refusals[0][REFUSAL_KEY] == type(error).__name__
    assert refusals[0][FUNCTION_NAME_KEY] == "drs-orchestrator-prepare"  # the metric's FunctionName dimension


@pytest.mark.parametrize("error", [RuntimeError("a bug"), DrsRefusedError("AccessDenied on StartRecovery")])
def test_an_unexpected_error_is_not_counted_as_a_refusal(error, caplog):
    with pytest.raises(type(error)):
        _handler(error)({}, Context())
    assert not [line for line in _lines(caplog) if REFUSAL_KEY in line]


def test_a_refusal_is_counted_only_for_the_errors_the_workflow_expects():
    assert PlanValidationError in EXPECTED_REFUSALS and ExecutionConflictError in EXPECTED_REFUSALS
    assert DrsRefusedError not in EXPECTED_REFUSALS  # access denied is for an operator to fix: it alarms


@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_every_handler_counts_its_refusals(key):
    module, name = FUNCTIONS[key].handler.rsplit(".", 1)
    handler = getattr(importlib.import_module(module), name)
    wrappers = []
    while handler is not None:
        wrappers.append(getattr(handler, "counts_refusals", False))
        handler = getattr(handler, "__wrapped__", None)
    assert any(wrappers), f"{key}: its handler is not wrapped by counts_refusals"
