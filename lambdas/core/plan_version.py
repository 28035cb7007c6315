"""A plan's version: which plan an execution ran, in 12 hex digits an auditor can compare.

The version is the first 12 hex digits of the SHA-256 of the plan's canonical JSON. Prepare computes it for the
plan it runs (stored or inline) and writes it on the execution's record (`PlanVersion`); `drsctl plan load`,
`plan show` and `plan list` compute it from the same function, so the three always agree on one plan.

Canonical means: the plan as the plan model reads it (the waves' defaults filled in, unset options left out), with
only the protection groups its waves use (what RecoveryPlans and ProtectionGroups store for it), sorted by GroupId;
written as JSON with sorted keys, no whitespace, UTF-8 (non-ASCII characters as themselves, not escaped), a whole
number always without a fraction (DynamoDB keeps `1.0` as the number 1). Two files that differ only in key order,
comments, YAML style or defaults of the waves spelled out are the same version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from lambdas.core.plan import RecoveryPlan

VERSION_DIGITS = 12


def canonical_json(value: Any) -> bytes:
    """`value` as canonical JSON: keys sorted, no whitespace, UTF-8, whole numbers without a fraction."""
    return json.dumps(
        _whole_numbers(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def canonical_plan(plan: RecoveryPlan) -> dict[str, Any]:
    """The plan as plain values: model defaults filled in, None left out, only the groups its waves use (sorted)."""
    dumped: dict[str, Any] = plan.model_dump(mode="json", exclude_none=True)
    used = {group_id for wave in plan.Waves for group_id in wave.group_ids}
    dumped["ProtectionGroups"] = sorted(
        (group for group in dumped["ProtectionGroups"] if group["GroupId"] in used), key=lambda g: str(g["GroupId"])
    )
    return dumped


def plan_version(plan: RecoveryPlan) -> str:
    """The first 12 hex digits of the SHA-256 of the plan's canonical JSON."""
    return hashlib.sha256(canonical_json(canonical_plan(plan))).hexdigest()[:VERSION_DIGITS]
