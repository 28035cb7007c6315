"""The reports the stack keeps in its report bucket (drsctl/report/publish.py): `drsctl run report NAME` reads an
execution's from there when it is present and still tells the record as it is (the JSON and the page written when
the execution ended), else builds it anew."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from drsctl.operate.stack import DeployedStack
from drsctl.report.publish import report_keys
from lambdas.core.records import ExecutionRecord

BUCKET_OUTPUT, BUCKET_VARIABLE = "ReportBucketName", "DRSCTL_REPORT_BUCKET"
# A report not kept: 404 for an operator who may list the bucket (OperatorPolicy), 403 for one who may not
MISSING = ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403")


@dataclass(frozen=True)
class KeptReport:
    report: dict[str, Any]
    html: str
    location: str  # s3://bucket/reports/<PlanId>/<name>.html


def kept(stack: DeployedStack, plan_id: str, name: str) -> KeptReport | None:
    """The execution's kept report, or None when the stack has no bucket or the bucket has no report of it."""
    bucket = os.environ.get(BUCKET_VARIABLE) or stack.outputs.get(BUCKET_OUTPUT)
    if not bucket:
        return None
    json_key, html_key = report_keys(plan_id, name)
    s3 = stack.client("s3")
    try:
        report = json.loads(s3.get_object(Bucket=bucket, Key=json_key)["Body"].read())
        html = s3.get_object(Bucket=bucket, Key=html_key)["Body"].read().decode()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in MISSING:
            return None
        raise
    return KeptReport(report, html, f"s3://{bucket}/{html_key}")


def still_current(report: dict[str, Any], record: ExecutionRecord) -> bool:
    """Whether a kept report still tells the record as it is: an execution's record can change after its end (an
    operator's `drsctl run cleanup`, the sweeper ending a cleanup), and then its report is built anew."""
    kept_cleanup = (report.get("cleanup") or {}).get("status")
    return report.get("status") == record.Status and kept_cleanup == (record.Cleanup.Status if record.Cleanup else None)
