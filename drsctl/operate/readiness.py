"""A deployed plan's readiness as the stack keeps it (PlanReadiness; the whole result in the report bucket when it
did not fit the item), and asking the stack's readiness function to evaluate one now."""

from __future__ import annotations

import json
import os
from typing import Any
from unittest.mock import patch

import boto3
from botocore.exceptions import ClientError

from drsctl.operate.executions import OperateError
from drsctl.operate.stack import DeployedStack
from lambdas.core import records
from lambdas.core.readiness import store

TABLE_OUTPUT, TABLE_VARIABLE = "PlanReadinessTable", store.PLAN_READINESS_TABLE
FUNCTION_OUTPUT, FUNCTION_VARIABLE = "ReadinessFunctionName", "DRSCTL_READINESS_FUNCTION"
BUCKET_OUTPUT, BUCKET_VARIABLE = "ReportBucketName", "DRSCTL_REPORT_BUCKET"


def output(stack: DeployedStack, name: str, variable: str) -> str | None:
    """One of the stack's outputs, or the environment variable that stands for it."""
    return os.environ.get(variable) or stack.outputs.get(name)


def _table(stack: DeployedStack) -> Any:
    name = output(stack, TABLE_OUTPUT, TABLE_VARIABLE)
    if not name:
        raise OperateError(
            f"stack {stack.name} has no {TABLE_OUTPUT} output: deploy this version of the stack (readiness came with "
            f"it), or set {TABLE_VARIABLE}"
        )
    with patch.dict(os.environ, {TABLE_VARIABLE: name}):
        return records.table(TABLE_VARIABLE)


def stored(stack: DeployedStack, plan_id: str) -> dict[str, Any] | None:
    """The plan's stored readiness as its JSON (docs/readiness.schema.json), None when it was never evaluated."""
    item = _table(stack).get_item(Key={"PlanId": plan_id}, ConsistentRead=True).get("Item")
    if item is None:
        return None
    kept = store.from_stored_item(records.from_item(item))
    bucket = output(stack, BUCKET_OUTPUT, BUCKET_VARIABLE)
    if not kept.complete and kept.result_key and bucket:
        body = boto3.client("s3", region_name=stack.region).get_object(Bucket=bucket, Key=kept.result_key)["Body"]
        whole: dict[str, Any] = json.loads(body.read())
        return whole
    return store.to_json(kept)


def statuses(stack: DeployedStack) -> dict[str, dict[str, Any]]:
    """PlanId -> {status, evaluatedAt} of every evaluated plan; empty when the stack keeps no readiness."""
    if not output(stack, TABLE_OUTPUT, TABLE_VARIABLE):
        return {}
    table = _table(stack)
    found: dict[str, dict[str, Any]] = {}
    arguments: dict[str, Any] = {
        "ProjectionExpression": "PlanId, #status, EvaluatedAt, PlanVersion, FindingCount",
        "ExpressionAttributeNames": {"#status": "Status"},
    }
    while True:
        page = table.scan(**arguments)
        for item in (records.from_item(i) for i in page.get("Items", [])):
            found[str(item["PlanId"])] = {
                "status": item.get("Status"),
                "evaluatedAt": item.get("EvaluatedAt"),
                "planVersion": item.get("PlanVersion"),
                "findings": item.get("FindingCount"),
            }
        if "LastEvaluatedKey" not in page:
            return found
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _function(stack: DeployedStack) -> str:
    name = output(stack, FUNCTION_OUTPUT, FUNCTION_VARIABLE)
    if not name:
        raise OperateError(
            f"stack {stack.name} has no {FUNCTION_OUTPUT} output: deploy this version of the stack, or set "
            f"{FUNCTION_VARIABLE}"
        )
    return name


def evaluate_now(stack: DeployedStack, plan_id: str) -> dict[str, Any]:
    """Run the stack's readiness function for the plan and wait for it (it stores the result)."""
    answer = boto3.client("lambda", region_name=stack.region).invoke(
        FunctionName=_function(stack), Payload=json.dumps({"PlanId": plan_id}).encode()
    )
    payload: dict[str, Any] = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise OperateError(
            f"the readiness function failed for plan {plan_id}: {payload.get('errorType')}: "
            f"{payload.get('errorMessage')}"
        )
    return payload


def request_evaluation(stack: DeployedStack, plan_id: str) -> str | None:
    """Ask the readiness function to evaluate the plan soon (an asynchronous invocation, as `plan load` does).
    Returns why it could not be asked, or None."""
    name = output(stack, FUNCTION_OUTPUT, FUNCTION_VARIABLE)
    if not name:
        return f"stack {stack.name} has no {FUNCTION_OUTPUT} output"
    try:
        boto3.client("lambda", region_name=stack.region).invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps({"PlanId": plan_id}).encode()
        )
    except ClientError as error:
        return str(error)
    return None
