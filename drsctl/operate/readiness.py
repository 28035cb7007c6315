"""A deployed plan's readiness as the stack keeps it (PlanReadiness; the whole result in the report bucket when it
did not fit the item), and asking the stack's readiness function to evaluate one now."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from drsctl.operate.executions import OperateError, stack_time
from drsctl.operate.stack import DeployedStack
from lambdas.core import records
from lambdas.core.readiness import store
from lambdas.core.readiness.model import iso

TABLE_OUTPUT, TABLE_VARIABLE = "PlanReadinessTable", store.PLAN_READINESS_TABLE
FUNCTION_OUTPUT, FUNCTION_VARIABLE = "ReadinessFunctionName", "DRSCTL_READINESS_FUNCTION"
BUCKET_OUTPUT, BUCKET_VARIABLE = "ReportBucketName", "DRSCTL_REPORT_BUCKET"


def output(stack: DeployedStack, name: str, variable: str) -> str | None:
    """One of the stack's outputs, or the environment variable that stands for it."""
    return os.environ.get(variable) or stack.outputs.get(name)


def _item(stack: DeployedStack, plan_id: str) -> dict[str, Any] | None:
    return _read(stack, plan_id)[0]


def _read(stack: DeployedStack, plan_id: str) -> tuple[dict[str, Any] | None, float]:
    """The plan's PlanReadiness item (None: never evaluated) and when it was read, as the stack tells time."""
    name = output(stack, TABLE_OUTPUT, TABLE_VARIABLE)
    if not name:
        raise OperateError(
            f"stack {stack.name} has no {TABLE_OUTPUT} output: deploy this version of the stack (readiness came with "
            f"it), or set {TABLE_VARIABLE}"
        )
    answer = stack.client("dynamodb").get_item(TableName=name, Key={"PlanId": {"S": plan_id}}, ConsistentRead=True)
    item = answer.get("Item")
    return (_plain(item) if item is not None else None), stack_time(answer)


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    deserializer = TypeDeserializer()
    plain: dict[str, Any] = records.from_item({key: deserializer.deserialize(value) for key, value in item.items()})
    return plain


def stored(stack: DeployedStack, plan_id: str) -> dict[str, Any] | None:
    """The plan's stored readiness as its JSON (docs/readiness.schema.json), None when it was never evaluated."""
    item = _item(stack, plan_id)
    if item is None:
        return None
    kept = store.from_stored_item(item)
    bucket = output(stack, BUCKET_OUTPUT, BUCKET_VARIABLE)
    if not kept.complete and kept.result_key and bucket:
        body = stack.client("s3").get_object(Bucket=bucket, Key=kept.result_key)["Body"]
        whole: dict[str, Any] = json.loads(body.read())
        return whole
    return store.to_json(kept)


def statuses(stack: DeployedStack) -> dict[str, dict[str, Any]]:
    """PlanId -> {status, evaluatedAt} of every evaluated plan; empty when the stack keeps no readiness."""
    name = output(stack, TABLE_OUTPUT, TABLE_VARIABLE)
    if not name:
        return {}
    found: dict[str, dict[str, Any]] = {}
    arguments: dict[str, Any] = {
        "TableName": name,
        "ProjectionExpression": "PlanId, #status, EvaluatedAt, PlanVersion, FindingCount",
        "ExpressionAttributeNames": {"#status": "Status"},
    }
    while True:
        page = stack.client("dynamodb").scan(**arguments)
        for item in (_plain(i) for i in page.get("Items", [])):
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


WAIT_SECONDS = 960  # the function's timeout (900 s) and a margin
POLL_SECONDS = 1.0


def evaluate_now(stack: DeployedStack, plan_id: str, *, wait_seconds: float = WAIT_SECONDS) -> None:
    """Ask the stack's readiness function to evaluate the plan, and wait until it has stored the result. The call
    itself is asynchronous: a large plan's evaluation may take minutes, longer than a laptop's client waits for an
    answer."""
    function = _function(stack)
    # When it was asked: before the invocation, as the stack tells time (an emulated Lambda may run the evaluation
    # before its asynchronous invocation even answers, so the answer's Date may come after the evaluation's time).
    before, asked_at = _read(stack, plan_id)
    _invoke(stack, function, _evaluation_request(plan_id, asked_at))
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        now = _item(stack, plan_id)
        if now is not None and now != before and int(now.get("EvaluatedAt") or 0) >= int(asked_at) - 1:
            return
        time.sleep(POLL_SECONDS)
    raise OperateError(
        f"the readiness function ({function}) stored no new result for plan {plan_id} within {wait_seconds:g} s: "
        "look at its logs (it may have failed); the stored result is shown as it was"
    )


def request_evaluation(stack: DeployedStack, plan_id: str) -> str | None:
    """Ask the readiness function to evaluate the plan soon (an asynchronous invocation, as `plan load` does).
    Returns why it could not be asked, or None."""
    name = output(stack, FUNCTION_OUTPUT, FUNCTION_VARIABLE)
    if not name:
        return f"stack {stack.name} has no {FUNCTION_OUTPUT} output"
    try:
        _, now = _read(stack, plan_id)
        request = _evaluation_request(plan_id, now)
        _invoke(stack, name, request)
    except (ClientError, OperateError) as error:
        return str(error)
    return None


def _invoke(stack: DeployedStack, function: str, payload: bytes) -> None:
    """An asynchronous invocation. Its answer's body is read to the end (empty from AWS; an emulated Lambda may
    answer with the result): a connection dropped with an unread body is reset, which a server logs as an error."""
    answer = stack.client("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=payload)
    answer["Payload"].read()


def _evaluation_request(plan_id: str, now: float) -> bytes:
    """The readiness function's event for one plan, evaluated as of `now`: the stack's time (AWS's clock, or the
    sandbox's, which runs faster than the Lambda's own), so its result is dated as the scheduled runs' are."""
    return json.dumps({"PlanId": plan_id, "time": iso(now)}).encode()
