"""A Lambda function URL as AWS serves it, for the rehearsal and the sandbox: the request event AWS builds for the
function (payload format 2.0, with the caller's identity under `requestContext.authorizer.iam` for AuthType AWS_IAM),
the function invoked in-process through the local Lambda service, and its answer as the HTTP response AWS would give.

The rehearsal's approvers and the sandbox's `drsctl run approve` both go through here, so an approval is answered by
the same handler, with the same event, as on AWS (docs/approvals.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from drsctl.local.rehearsal import ACCOUNT, REGION, function_name

ANSWER_FUNCTION = function_name("answer_approval")
URL_ID = "sandboxapprovalurl0000000000000"  # AWS's are 32 lowercase letters and digits: the domain's first label


@dataclass(frozen=True)
class Principal:
    """The identity AWS authenticated from a request's signature (what `sts get-caller-identity` would say)."""

    arn: str
    account: str = ACCOUNT
    user_id: str = "AIDASANDBOX0000000000"
    access_key: str = "ASIASANDBOX000000000"


def request_event(
    *, body: bytes, headers: dict[str, str], principal: Principal | None, now: float, method: str = "POST"
) -> dict[str, Any]:
    """The event a function URL gives its function (AWS's "request payload", version 2.0)."""
    text_body = True
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text_body = False
    lower = {name.lower(): value for name, value in headers.items()}
    when = datetime.fromtimestamp(now, tz=UTC)
    context: dict[str, Any] = {
        "accountId": principal.account if principal is not None else "anonymous",
        "apiId": URL_ID,
        "domainName": f"{URL_ID}.lambda-url.{REGION}.on.aws",
        "domainPrefix": URL_ID,
        "http": {
            "method": method,
            "path": "/",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": lower.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if principal is not None:
        context["authorizer"] = {
            "iam": {
                "accessKey": principal.access_key,
                "accountId": principal.account,
                "callerId": principal.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": principal.arn,
                "userId": principal.user_id,
            }
        }
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": lower,
        "requestContext": context,
        "body": text if text_body else base64.b64encode(body).decode(),
        "isBase64Encoded": not text_body,
    }


def invoke(event: dict[str, Any], name: str = ANSWER_FUNCTION) -> tuple[int, dict[str, str], bytes]:
    """Run the function on the event (the local Lambda service runs the real handler in-process) and answer as a
    function URL does: its statusCode, headers and body, or 502 when the function itself failed."""
    response = boto3.client("lambda", region_name=REGION).invoke(FunctionName=name, Payload=json.dumps(event))
    result = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError") or not isinstance(result, dict):
        return 502, {"Content-Type": "application/json"}, b'{"Message":"Internal Server Error"}'
    headers = {str(key): str(value) for key, value in (result.get("headers") or {}).items()}
    return int(result.get("statusCode", 200)), headers, str(result.get("body") or "").encode()


def answer_approval(
    *, principal: Principal, now: float, body: dict[str, Any], name: str = ANSWER_FUNCTION
) -> tuple[int, dict[str, Any]]:
    """POST `body` to the answer function's URL as `principal` (already authenticated): (status, JSON answer)."""
    event = request_event(
        body=json.dumps(body).encode(), headers={"content-type": "application/json"}, principal=principal, now=now
    )
    status, _, answered = invoke(event, name)
    parsed = json.loads(answered or b"{}")
    return status, parsed if isinstance(parsed, dict) else {}
