"""Field types shared by the plan and its runbook steps: strict numbers and booleans, impact and mode."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import BeforeValidator

ImpactLevel = Literal["CRITICAL", "OPTIONAL"]
ExecutionMode = Literal["DRILL", "RECOVERY"]


def _a_number(value: object) -> object:
    """Numbers are numbers: YAML `true` is not 1 and `"30"` is not 30 (pydantic's lax mode takes both). A Decimal, as
    DynamoDB returns every stored number, is a number. None stays "not set"."""
    if value is None:
        return value
    if isinstance(value, str):
        raise ValueError(f"should be a number, not the text {value!r}; write the number without quotes")
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"should be a number, not {str(value).lower() if isinstance(value, bool) else repr(value)}")
    return value


def _a_boolean(value: object) -> object:
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"should be true or false, not {value!r}")
    return value


def _an_account_id(value: object) -> object:
    """An AWS account ID is 12 digits, written as text: YAML reads unquoted digits as a number (and drops a leading
    zero, or reads it as octal), so a number is refused with the fix rather than taken as another account."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        shown = str(value).lower() if isinstance(value, bool) else repr(value)
        raise ValueError(
            f"should be a 12-digit AWS account ID written as text, not {shown}: put it in quotes "
            '(e.g. "444455556666"); unquoted, YAML reads it as a number'
        )
    if not re.fullmatch(r"\d{12}", value):
        raise ValueError(f'should be a 12-digit AWS account ID (e.g. "444455556666"), not {value!r}')
    return value


Number = BeforeValidator(_a_number)
AccountNumber = BeforeValidator(_an_account_id)
Boolean = BeforeValidator(_a_boolean)
