"""Server-side input validation driven by botocore's service model.

botocore validates only types, required members and minimums on the client (and clients in other languages, or
`curl`, validate nothing). The service itself also enforces maximum sizes, patterns, enums and ranges. This walks
the operation's input shape and reports every violation the way DRS does: a `ValidationException` with
`reason=fieldValidationFailed` and a `fieldList` naming each field. botocore has no server-side validator to reuse,
hence this module.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from drsctl.emulator.errors import ValidationException

Problem = dict[str, str]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def validate_input(shape: StructureShape | None, params: dict[str, Any]) -> None:
    """Raise ValidationException listing every field of `params` that `shape` does not allow."""
    if shape is None:
        return
    problems: list[Problem] = []
    _check(shape, params, "", problems)
    if problems:
        summary = "; ".join(f"{p['name']}: {p['message']}" for p in problems[:5])
        raise ValidationException(
            f"{len(problems)} validation error(s) detected: {summary}",
            reason="fieldValidationFailed",
            fields=problems,
        )


def _check(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is not None:
        checker(shape, value, path, problems)


def _problem(problems: list[Problem], path: str, message: str) -> None:
    problems.append({"name": path or "(request)", "message": message})


def _check_structure(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, dict):
        _problem(problems, path, f"expected an object, got {type(value).__name__}")
        return
    for name in shape.required_members:
        if value.get(name) is None:
            _problem(problems, _join(path, name), "Member must not be null")
    for name, member_value in value.items():
        member = shape.members.get(name)
        if member is not None and member_value is not None:
            _check(member, member_value, _join(path, name), problems)


def _check_list(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    assert isinstance(shape, ListShape)
    if not isinstance(value, list):
        _problem(problems, path, f"expected a list, got {type(value).__name__}")
        return
    _check_size(shape, len(value), path, problems, "length")
    for index, item in enumerate(value):
        _check(shape.member, item, f"{path}[{index}]", problems)


def _check_map(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    assert isinstance(shape, MapShape)
    if not isinstance(value, dict):
        _problem(problems, path, f"expected an object, got {type(value).__name__}")
        return
    _check_size(shape, len(value), path, problems, "number of entries")
    for key, item in value.items():
        _check(shape.key, key, f"{path}.{key}(key)", problems)
        _check(shape.value, item, f"{path}.{key}", problems)


def _check_string(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, str):
        _problem(problems, path, f"expected a string, got {type(value).__name__}")
        return
    _check_size(shape, len(value), path, problems, "length")
    if shape.enum and value not in shape.enum:
        _problem(problems, path, f"Value '{value}' must be one of: {', '.join(shape.enum)}")
    pattern = shape.metadata.get("pattern")
    # Smithy patterns are ECMA-262 regexes matched anywhere in the value unless anchored, like re.search.
    if pattern and not _compiled(pattern).search(value):
        _problem(problems, path, f"Value '{value}' must satisfy regular expression pattern: {pattern}")


def _check_integer(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _problem(problems, path, f"expected an integer, got {type(value).__name__}")
        return
    _check_size(shape, value, path, problems, "value")


def _check_boolean(shape: Shape, value: Any, path: str, problems: list[Problem]) -> None:
    if not isinstance(value, bool):
        _problem(problems, path, f"expected a boolean, got {type(value).__name__}")


def _check_size(shape: Shape, size: int, path: str, problems: list[Problem], what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        _problem(problems, path, f"Member must have {what} greater than or equal to {low} (got {size})")
    if high is not None and size > high:
        _problem(problems, path, f"Member must have {what} less than or equal to {high} (got {size})")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "boolean": _check_boolean,
}
