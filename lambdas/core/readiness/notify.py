"""What a plan's readiness tells the world once evaluated: a CloudWatch metric per plan (and the number of plans that
FAIL, which the stack's one `Readiness` alarm watches), an EventBridge event when a plan's status changes, and a
notification on the stack's topic when a plan turns FAIL.

Metrics (namespace METRICS_NAMESPACE, default DrsOrchestrator): `ReadinessStatus` per `PlanId` (0 PASS, 1 WARN,
2 FAIL) and `PlansFailingReadiness` (no dimension). Event: source `drs-orchestrator`, detail-type
`Plan Readiness Status Change`, detail `{planId, planVersion, status, previousStatus, evaluatedAt, findingCount,
failCount, warnCount, codes}`, on the account's default event bus.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import boto3

from lambdas.core.readiness.model import STATUS_RANK, Readiness
from lambdas.core.readiness.reads import CONFIG

METRICS_NAMESPACE = "METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "DrsOrchestrator"
STATUS_METRIC = "ReadinessStatus"
FAILING_METRIC = "PlansFailingReadiness"
EVENT_SOURCE = "drs-orchestrator"
EVENT_DETAIL_TYPE = "Plan Readiness Status Change"
NOTIFICATION_TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"
FINDINGS_NOTIFIED = 20  # in one message: the rest are a command away
SUBJECT_MAX = 100  # SNS

_clients: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()


def aws_client(service: str) -> Any:
    """A client of the stack's own account and Region (metrics, events, the topic, the bucket)."""
    key = (service, os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}"))
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.client(service, config=CONFIG)
        return _clients[key]


def namespace() -> str:
    return os.environ.get(METRICS_NAMESPACE) or DEFAULT_NAMESPACE


def publish_readiness(result: Readiness, previous_status: str | None, failing_plans: int) -> None:
    """The metrics always; the event when the status changed; the notification when it turned FAIL."""
    aws_client("cloudwatch").put_metric_data(
        Namespace=namespace(),
        MetricData=[
            {
                "MetricName": STATUS_METRIC,
                "Dimensions": [{"Name": "PlanId", "Value": result.planId}],
                "Value": STATUS_RANK[result.status],
                "Unit": "None",
            },
            {"MetricName": FAILING_METRIC, "Value": failing_plans, "Unit": "Count"},
        ],
    )
    if previous_status != result.status:
        aws_client("events").put_events(Entries=[status_change_event(result, previous_status)])
    if result.status == "FAIL" and previous_status != "FAIL":
        topic = os.environ.get(NOTIFICATION_TOPIC_ARN)
        if topic:
            aws_client("sns").publish(
                TopicArn=topic, Subject=fail_subject(result), Message=fail_message(result, previous_status)
            )


def status_change_event(result: Readiness, previous_status: str | None) -> dict[str, Any]:
    return {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": json.dumps(
            {
                "planId": result.planId,
                "planVersion": result.planVersion,
                "status": result.status,
                "previousStatus": previous_status,
                "evaluatedAt": result.evaluatedAt,
                "findingCount": len(result.findings),
                "failCount": sum(f.severity == "FAIL" for f in result.findings),
                "warnCount": sum(f.severity == "WARN" for f in result.findings),
                "codes": sorted({f.code for f in result.findings}),
            }
        ),
    }


def fail_subject(result: Readiness) -> str:
    return f"DRS plan {result.planId} is not ready (readiness FAIL)"[:SUBJECT_MAX]


def fail_message(result: Readiness, previous_status: str | None) -> str:
    failing = [f for f in result.findings if f.severity == "FAIL"]
    lines = [
        f"Plan {result.planId} (version {result.planVersion}) is not ready: readiness FAIL at {result.evaluatedAt}"
        + (f", was {previous_status}" if previous_status else "")
        + f". {len(failing)} finding(s) would fail a drill or a recovery:",
        "",
    ]
    for finding in failing[:FINDINGS_NOTIFIED]:
        where = ", ".join(
            part
            for part in (
                finding.sourceServerId
                and f"server {finding.sourceServerId}" + (f" ({finding.hostname})" if finding.hostname else ""),
                finding.region,
                finding.account and f"account {finding.account}",
            )
            if part
        )
        lines.append(f"- {finding.code}{f' [{where}]' if where else ''}: {finding.detail}")
        lines.append(f"  Fix: {finding.fix}")
    if len(failing) > FINDINGS_NOTIFIED:
        lines.append(f"... and {len(failing) - FINDINGS_NOTIFIED} more.")
    lines += ["", f"All findings: drsctl plan readiness {result.planId} (--now to evaluate again)."]
    return "\n".join(lines)
