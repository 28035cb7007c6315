"""Where a plan's readiness is kept: one item per plan in the PlanReadiness table (keyed by PlanId, beside the
seed's tables, whose record shapes stay as they are), and the whole result as JSON in the report bucket.

The item: `PlanId`, `PlanVersion`, `Status` (PASS | WARN | FAIL), `EvaluatedAt` (epoch seconds), `FindingCount`,
`Counts` ({code: {FAIL: n, WARN: n}}), `Findings` (the findings in the JSON's own shape, as many as fit under
ITEM_FINDINGS_BYTES: a 2,000-server estate may have thousands), `FindingsStored`, `PreviousStatus` and
`StatusChangedAt` (the last change), `ResultKey` (the whole result in the bucket: `readiness/<PlanId>.json`) and
`Baseline` ({PlanVersion, SelectorCounts}: how many servers each tag selector matched when that version was first
evaluated, for SERVER_NOT_FOUND).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lambdas.core import records
from lambdas.core.readiness.model import Finding, Readiness, iso
from lambdas.core.readiness.notify import aws_client

PLAN_READINESS_TABLE = "PLAN_READINESS_TABLE"
REPORT_BUCKET = "REPORT_BUCKET"  # the stack's report bucket (its ReportBucketName output)
ITEM_FINDINGS_BYTES = 80_000  # the item stays far under DynamoDB's 400 KB whatever the plan
RESULT_PREFIX = "readiness/"


@dataclass
class Stored:
    """A plan's stored readiness."""

    plan_id: str
    plan_version: str
    status: str
    evaluated_at: int
    finding_count: int
    findings: list[Finding]
    previous_status: str | None = None
    status_changed_at: int | None = None
    result_key: str | None = None
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.findings) == self.finding_count

    def baseline_for(self, version: str) -> dict[str, int] | None:
        if self.baseline.get("PlanVersion") != version:
            return None
        return {str(key): int(value) for key, value in (self.baseline.get("SelectorCounts") or {}).items()}


def result_key(plan_id: str) -> str:
    return f"{RESULT_PREFIX}{plan_id}.json"


def stored_readiness(plan_id: str) -> Stored | None:
    item = records.table(PLAN_READINESS_TABLE).get_item(Key={"PlanId": plan_id}, ConsistentRead=True).get("Item")
    return from_stored_item(records.from_item(item)) if item is not None else None


def from_stored_item(item: dict[str, Any]) -> Stored:
    return Stored(
        plan_id=str(item["PlanId"]),
        plan_version=str(item.get("PlanVersion") or ""),
        status=str(item.get("Status") or "PASS"),
        evaluated_at=int(item.get("EvaluatedAt") or 0),
        finding_count=int(item.get("FindingCount") or 0),
        findings=[Finding.model_validate(f) for f in item.get("Findings") or []],
        previous_status=item.get("PreviousStatus"),
        status_changed_at=item.get("StatusChangedAt"),
        result_key=item.get("ResultKey"),
        baseline=dict(item.get("Baseline") or {}),
    )


def save_readiness(result: Readiness, *, now: int, previous: Stored | None, selector_counts: dict[str, int]) -> Stored:
    """Store the result (the whole of it in the bucket, when the stack has one) and return what was stored."""
    kept: list[Finding] = []
    size = 0
    for finding in result.findings:
        size += len(finding.model_dump_json())
        if size > ITEM_FINDINGS_BYTES:
            break
        kept.append(finding)
    key = _save_result(result)
    changed = previous is None or previous.status != result.status
    if previous is None:
        previous_status, changed_at = None, now
    elif changed:
        previous_status, changed_at = previous.status, now
    else:
        previous_status, changed_at = previous.previous_status, previous.status_changed_at or now
    baseline = (
        previous.baseline
        if previous is not None and previous.baseline_for(result.planVersion) is not None
        else {"PlanVersion": result.planVersion, "SelectorCounts": selector_counts}
    )
    stored = Stored(
        plan_id=result.planId,
        plan_version=result.planVersion,
        status=result.status,
        evaluated_at=now,
        finding_count=len(result.findings),
        findings=kept,
        previous_status=previous_status,
        status_changed_at=changed_at,
        result_key=key,
        baseline=baseline,
    )
    counts: dict[str, dict[str, int]] = {}
    for finding in result.findings:
        per_code = counts.setdefault(finding.code, {})
        per_code[finding.severity] = per_code.get(finding.severity, 0) + 1
    item = {
        "PlanId": stored.plan_id,
        "PlanVersion": stored.plan_version,
        "Status": stored.status,
        "EvaluatedAt": stored.evaluated_at,
        "FindingCount": stored.finding_count,
        "FindingsStored": len(kept),
        "Counts": counts,
        "Findings": [f.model_dump(mode="json", exclude_none=True) for f in kept],
        "StatusChangedAt": stored.status_changed_at,
        "Baseline": stored.baseline,
    }
    if stored.previous_status is not None:
        item["PreviousStatus"] = stored.previous_status
    if key is not None:
        item["ResultKey"] = key
    records.table(PLAN_READINESS_TABLE).put_item(Item=records.to_item(item))
    return stored


def _save_result(result: Readiness) -> str | None:
    bucket = os.environ.get(REPORT_BUCKET)
    if not bucket:
        return None
    key = result_key(result.planId)
    aws_client("s3").put_object(
        Bucket=bucket,
        Key=key,
        Body=(result.model_dump_json(indent=2) + "\n").encode(),
        ContentType="application/json",
    )
    return key


def summaries() -> dict[str, tuple[str, int]]:
    """PlanId -> (stored status, when evaluated), for every plan evaluated (a small table: one Scan)."""
    table = records.table(PLAN_READINESS_TABLE)
    found: dict[str, tuple[str, int]] = {}
    arguments: dict[str, Any] = {
        "ProjectionExpression": "PlanId, #status, EvaluatedAt",
        "ExpressionAttributeNames": {"#status": "Status"},
    }
    while True:
        page = table.scan(**arguments)
        found.update(
            {str(i["PlanId"]): (str(i.get("Status")), int(i.get("EvaluatedAt") or 0)) for i in page.get("Items", [])}
        )
        if "LastEvaluatedKey" not in page:
            return found
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def plan_ids() -> list[str]:
    """Every stored plan's PlanId (RecoveryPlans, one Scan of the key alone)."""
    table = records.table(records.RECOVERY_PLANS_TABLE)
    found: list[str] = []
    arguments: dict[str, Any] = {"ProjectionExpression": "PlanId"}
    while True:
        page = table.scan(**arguments)
        found.extend(str(item["PlanId"]) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sorted(found)
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def to_json(stored: Stored) -> dict[str, Any]:
    """The stored result in the readiness JSON's shape (docs/readiness.schema.json)."""
    return Readiness(
        planId=stored.plan_id,
        planVersion=stored.plan_version,
        status=stored.status,
        evaluatedAt=iso(stored.evaluated_at),
        findings=stored.findings,
    ).model_dump(mode="json")
