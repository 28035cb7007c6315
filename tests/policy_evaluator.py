"""A small, explicit evaluator of IAM identity-policy Allow statements, for tests that prove a call is allowed.

It knows only what the tests need and refuses to guess: actions and resources match with IAM's wildcards (`*`, `?`;
actions case-insensitively); a condition is evaluated against the request context the test supplies, for the
operators listed in OPERATORS, with `${aws:...}` policy variables filled from that context. A condition whose
operator it does not know, or whose key the context lacks (except under `Null`), does not match: a statement is
counted as allowing a request only when every part of it is shown to match. Deny statements, NotAction and
NotResource are refused (no policy here uses them). Resources must be plain strings (resolve the template first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One authorization request: an action on a resource ARN, with the condition keys AWS would set."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _pattern(value: str, *, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _fill(value: str, context: dict[str, Any]) -> str | None:
    """`${aws:PrincipalAccount}` and the like from the context; None when the context lacks one."""
    missing = [name for name in _VARIABLE.findall(value) if name not in context]
    if missing:
        return None
    return _VARIABLE.sub(lambda found: str(context[found.group(1)]), value)


def _string_equals(expected: str, actual: str) -> bool:
    return expected == actual


def _string_like(expected: str, actual: str) -> bool:
    return wildcard_match(expected, actual)


def _bool(expected: str, actual: str) -> bool:
    return str(expected).lower() == str(actual).lower()


# operator -> how one policy value matches one context value
OPERATORS = {
    "StringEquals": _string_equals,
    "StringLike": _string_like,
    "ArnEquals": _string_equals,
    "ArnLike": _string_like,
    "Bool": _bool,
}


def _condition_holds(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    if operator == "Null":  # "true": the key must be absent; "false": present
        return (key not in context) == (str(expected).lower() == "true")
    qualifier, _, base = operator.rpartition(":")
    compare = OPERATORS.get(base)
    if compare is None or qualifier not in ("", "ForAnyValue") or key not in context:
        return False  # not something this evaluator can show to hold
    wanted = [_fill(str(value), context) for value in _listed(expected)]
    if any(value is None for value in wanted):
        return False
    actual = context[key]
    if qualifier == "ForAnyValue":
        return any(compare(w, str(a)) for w in wanted for a in _listed(actual) if w is not None)
    if isinstance(actual, list):
        return False  # a multivalued key under a single-valued operator: never shown to match
    return any(compare(w, str(actual)) for w in wanted if w is not None)


def statement_allows(statement: dict[str, Any], request: Request) -> bool:
    for refused in ("NotAction", "NotResource", "NotPrincipal"):
        if refused in statement:
            raise ValueError(f"{refused} is not evaluated here: {statement}")
    if statement.get("Effect") != "Allow":
        raise ValueError(f"only Allow statements are evaluated here: {statement}")
    if not any(wildcard_match(a, request.action, ignore_case=True) for a in _listed(statement["Action"])):
        return False
    resources = _listed(statement["Resource"])
    if not all(isinstance(resource, str) for resource in resources):
        raise ValueError(f"resolve the template's intrinsics first: {resources}")
    if not any(wildcard_match(r, request.resource) for r in resources):
        return False
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, expected, request.context):
                return False
    return True


def allowed(statements: Iterable[dict[str, Any]], request: Request) -> bool:
    """True when some statement is shown to allow the request."""
    return any(statement_allows(statement, request) for statement in statements)
