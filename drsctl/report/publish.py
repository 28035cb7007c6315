"""Every execution's report, kept in S3: the stack's `publish_report` function, run when an execution ends.

An EventBridge rule sends every end of the state machine's executions (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) here.
The report is the one `drsctl run report NAME` builds (`deployed.py`, the same JSON and `html.py`, the same page),
written to the stack's report bucket at `reports/<PlanId>/<ExecutionName>.json` and `.html`. A scheduled drill
refused before it started (lambdas/core/scheduled.py: another execution of the plan ran, or its readiness was FAIL)
launched nothing and gets none: its FAILED record says why and the topic was told, so the plan's reports are its
drills. A drill's recovery time (the report's `rto.achievedSeconds`: its waves and the steps after them, not its
cleanup) is the metric `DrillMakespanSeconds` per `PlanId`; a drill that missed its plan's RTO also counts 1 in
`DrillMissedRto`, which the stack's alarm watches.

This module runs in Lambda, bundled with the rest of drsctl/report in the stack's one code asset (stacks/bundling.py):
the builder stays where `drsctl run report` has it, and lambdas/ still never imports drsctl. It imports only the
standard library, boto3, lambdas/ and drsctl/report's pure modules (tests/infra/test_report_function.py checks).
An execution whose record is still open (a stop, whose record the reconcile function is ending at the same moment)
raises ReportNotReady: Lambda retries the event (twice, minutes apart), by when the record has ended.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

from drsctl.report import audit
from drsctl.report.deployed import Sources, build_report
from drsctl.report.html import render
from lambdas.core import accounts, records, scheduled
from lambdas.core.observability import counts_refusals, logger

REPORT_BUCKET = "REPORT_BUCKET"
REPORT_SOURCE = "REPORT_SOURCE"  # "sandbox" in drsctl sandbox: the page then says it is not AWS
METRICS_NAMESPACE = "METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "DrsOrchestrator"
REPORT_PREFIX = "reports/"
MAKESPAN_METRIC = "DrillMakespanSeconds"
MISSED_RTO_METRIC = "DrillMissedRto"
CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=2, read_timeout=15)


class ReportNotReady(Exception):
    """The execution's record is not ended yet (or not written): the event is retried."""


def report_keys(plan_id: str, execution_id: str) -> tuple[str, str]:
    """Where an execution's report is kept: (JSON key, HTML key)."""
    base = f"{REPORT_PREFIX}{plan_id}/{execution_id}"
    return f"{base}.json", f"{base}.html"


def _client(service: str, region: str | None = None) -> Any:
    return boto3.client(service, region_name=region, config=CONFIG)


def publish(execution_id: str, ended_at: float | None = None) -> dict[str, Any]:
    """Build the execution's report, write its JSON and page to the bucket, and publish its drill metrics.
    `ended_at`: the time of the event that says the execution ended (the stack's clock)."""
    record = records.find_execution_by_id(execution_id)
    if record is None or record.Status in records.ACTIVE_EXECUTION_STATUSES:
        raise ReportNotReady(
            f"execution {execution_id}: its record is {'missing' if record is None else record.Status}, not ended yet"
        )
    if scheduled.refused_before_start(record):
        logger.info("no report: a scheduled drill refused before it started", extra={"execution": execution_id})
        return {"ExecutionId": execution_id, "Kept": False, "Reason": record.ErrorMessage}
    sources = Sources(
        dynamodb=_client("dynamodb"),
        stepfunctions=_client("stepfunctions"),
        # each server's account and Region: a member account through its role, as every function reaches it
        drs=lambda target: accounts.client("drs", target, CONFIG),
        history_table=os.environ[records.EXECUTION_HISTORY_TABLE],
        waves_table=os.environ[records.EXECUTION_WAVES_TABLE],
    )
    report = build_report(execution_id, sources, source=os.environ.get(REPORT_SOURCE) or "deployed")
    report.update(not_before(report, ended_at))
    json_key, html_key = report_keys(record.PlanId, execution_id)
    bucket = os.environ[REPORT_BUCKET]
    s3 = _client("s3")
    s3.put_object(
        Bucket=bucket,
        Key=json_key,
        Body=(json.dumps(report, indent=2) + "\n").encode(),
        ContentType="application/json",
    )
    s3.put_object(Bucket=bucket, Key=html_key, Body=render(report).encode(), ContentType="text/html; charset=utf-8")
    metrics = drill_metrics(report)
    if metrics:
        _client("cloudwatch").put_metric_data(
            Namespace=os.environ.get(METRICS_NAMESPACE) or DEFAULT_NAMESPACE, MetricData=metrics
        )
    logger.info("report kept", extra={"execution": execution_id, "json": json_key, "html": html_key})
    return {
        "ExecutionId": execution_id,
        "Kept": True,
        "Bucket": bucket,
        "Json": json_key,
        "Html": html_key,
        "Metrics": len(metrics),
    }


def not_before(report: dict[str, Any], ended_at: float | None) -> dict[str, Any]:
    """The report's `generatedAt`, never before the end the event announced: the builder dates the report by the
    Date of the stack's answers, which a function in the sandbox does not get (its clock, not the sandbox's)."""
    if ended_at is None:
        return {}
    built = datetime.fromisoformat(str(report["generatedAt"]).replace("Z", "+00:00")).timestamp()
    return audit.generated(ended_at) if ended_at > built else {}


def drill_metrics(report: dict[str, Any]) -> list[dict[str, Any]]:
    """A drill that recovered: its makespan per plan, and whether it missed its RTO (when the plan has one)."""
    rto = report.get("rto") or {}
    achieved = rto.get("achievedSeconds")
    if report.get("mode") != "DRILL" or achieved is None:
        return []
    plan = [{"Name": "PlanId", "Value": str(report["planId"])}]
    metrics: list[dict[str, Any]] = [
        {"MetricName": MAKESPAN_METRIC, "Dimensions": plan, "Value": float(achieved), "Unit": "Seconds"}
    ]
    if rto.get("targetSeconds") is not None:
        missed = 1.0 if rto.get("met") is False else 0.0
        metrics += [
            {"MetricName": MISSED_RTO_METRIC, "Dimensions": plan, "Value": missed, "Unit": "Count"},
            {"MetricName": MISSED_RTO_METRIC, "Value": missed, "Unit": "Count"},
        ]
    return metrics


def _event_time(event: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return None


@logger.inject_lambda_context(clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The Step Functions status-change event; `detail.name` is the execution's name (its ExecutionId), `time` when
    # its status changed.
    return publish(str(event["detail"]["name"]), _event_time(event))
