"""The size of a DynamoDB item by DynamoDB's own byte rules, so a plan whose records would not fit is refused before it
runs, and the rehearsal refuses what DynamoDB would (moto uses its own approximation and skips nested updates).

The rules (Amazon DynamoDB Developer Guide, "DynamoDB item sizes and formats"): an attribute costs the UTF-8 bytes of
its name plus its value; a string, its UTF-8 bytes; a number, 1 byte per two significant digits plus 1; binary, its
raw bytes; a Boolean or null, 1 byte; a list or map, 3 bytes plus its elements, each element 1 byte more (a map's
element also counts its key's bytes, as an attribute name); a set, the sum of its members.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

ITEM_MAX_BYTES = 400 * 1024  # DynamoDB's hard limit per item
DESIGN_MAX_BYTES = 100 * 1024  # what our records stay under, for any plan Prepare accepts


def item_bytes(item: dict[str, Any]) -> int:
    """The size of an item given as plain Python values (boto3's resource shape: str, int, float, Decimal, ...)."""
    return sum(_name(key) + value_bytes(value) for key, value in item.items())


def value_bytes(value: Any) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, dict):
        return 3 + sum(_name(key) + value_bytes(element) + 1 for key, element in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_bytes(element) + 1 for element in value)
    if isinstance(value, set | frozenset):
        return sum(value_bytes(element) for element in value)
    raise TypeError(f"not a DynamoDB value: {type(value).__name__}")


def typed_item_bytes(item: dict[str, dict[str, Any]]) -> int:
    """The size of an item in DynamoDB's wire shape ({"S": "..."}, {"N": "12"}, {"M": {...}}, ...)."""
    return sum(_name(key) + typed_value_bytes(value) for key, value in item.items())


def typed_value_bytes(value: dict[str, Any]) -> int:  # noqa: PLR0911 - one return per DynamoDB type
    (kind, content), *_ = value.items()
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return _number(Decimal(str(content)))
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else math.ceil(len(str(content)) * 3 / 4)
    if kind == "M":
        return 3 + sum(_name(key) + typed_value_bytes(element) + 1 for key, element in content.items())
    if kind == "L":
        return 3 + sum(typed_value_bytes(element) + 1 for element in content)
    if kind == "SS":
        return sum(len(str(member).encode()) for member in content)
    if kind == "NS":
        return sum(_number(Decimal(str(member))) for member in content)
    if kind == "BS":
        return sum(typed_value_bytes({"B": member}) for member in content)
    raise TypeError(f"not a DynamoDB type: {kind}")


def _name(name: str) -> int:
    return len(name.encode())


def _number(number: int | float | Decimal) -> int:
    digits = Decimal(str(number)).normalize().as_tuple().digits
    significant = len(str(int("".join(map(str, digits)) or "0")).rstrip("0")) or 1
    return math.ceil(significant / 2) + 1
