"""Who started an execution, from CloudTrail, when the record does not say (best effort).

`drsctl run start` records the caller's AWS identity on the execution (`StartedBy`); an execution started another
way (the console, the AWS CLI, a scheduler) has none. CloudTrail's event history keeps every StartExecution call
for 90 days as a management event: LookupEvents by `EventName` StartExecution, in a window around the execution's
start, and the event whose `responseElements.executionArn` is the execution's names the caller
(`userIdentity.arn`). It needs `cloudtrail:LookupEvents` (no resource-level permission: `"Resource": "*"`); without
it, or when CloudTrail has no such event (not delivered yet: about 5 minutes on average; older than 90 days), the
answer is None and the report says who started it was not recorded. Never an error: the report is built anyway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

WINDOW = timedelta(minutes=5)  # StartExecution's eventTime is the call's; the execution's startDate follows it
PAGES_MAX = 20  # LookupEvents: 50 events a page, 2 calls a second per account and Region; a busy account stops here
PAGE_SIZE = 50


def started_by(cloudtrail: Any, execution_arn: str, started_at: datetime) -> str | None:
    """The ARN of the principal whose StartExecution started `execution_arn`, or None when CloudTrail cannot say."""
    try:
        pages = cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "StartExecution"}],
            StartTime=(started_at - WINDOW).astimezone(UTC),
            EndTime=(started_at + WINDOW).astimezone(UTC),
            PaginationConfig={"MaxItems": PAGES_MAX * PAGE_SIZE, "PageSize": PAGE_SIZE},
        )
        for page in pages:
            for event in page.get("Events", []):
                caller = _caller_if_started(event, execution_arn)
                if caller:
                    return caller
    except (ClientError, BotoCoreError):
        return None  # no permission, throttled, no endpoint: the report says "not recorded"
    return None


def _caller_if_started(event: dict[str, Any], execution_arn: str) -> str | None:
    try:
        detail = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return None
    if not isinstance(detail, dict) or detail.get("errorCode"):
        return None  # a refused StartExecution started nothing
    response = detail.get("responseElements") or {}
    if not isinstance(response, dict) or response.get("executionArn") != execution_arn:
        return None
    identity = detail.get("userIdentity") or {}
    arn = identity.get("arn") if isinstance(identity, dict) else None
    if isinstance(arn, str) and arn:
        return arn
    # A call made by an AWS service (EventBridge Scheduler, another state machine) has no ARN but names it.
    invoked_by = identity.get("invokedBy") if isinstance(identity, dict) else None
    return f"AWS service {invoked_by}" if isinstance(invoked_by, str) and invoked_by else None
