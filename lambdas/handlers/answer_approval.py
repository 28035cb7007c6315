"""Answer an approval: the function URL's request (AuthType AWS_IAM: AWS has verified the caller's signature and
gives its identity) in, one core call, an HTTP answer out (docs/approvals.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from lambdas.core.approval_answer import AnswerRefused, AnswerRequest, answer
from lambdas.core.observability import counts_refusals, logger


@logger.inject_lambda_context(clear_state=True)
@counts_refusals
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = LambdaFunctionUrlModel.model_validate(event)
    except ValidationError:
        return _respond(400, {"Error": "BadRequest", "Message": "not a Lambda function URL request"})
    if request.requestContext.http.method != "POST":
        return _respond(405, {"Error": "MethodNotAllowed", "Message": "POST the answer as JSON"})
    iam = request.requestContext.authorizer.iam if request.requestContext.authorizer else None
    principal = iam.userArn if iam is not None else None
    try:
        body = _body(request)
        asked = AnswerRequest.model_validate(body)
    except (ValueError, ValidationError) as error:
        return _respond(400, {"Error": "BadRequest", "Message": _problem(error)})
    logger.append_keys(execution=asked.ExecutionId, wave=asked.Wave, principal=principal, decision=asked.Decision)
    try:
        result = answer(asked, principal=principal, now=int(request.requestContext.timeEpoch.timestamp()))
    except AnswerRefused as refused:
        logger.info("approval answer refused", extra={"status": refused.status, "reason": str(refused)})
        return _respond(refused.status, {"Error": refused.code, "Message": str(refused)})
    logger.info("approval answered", extra={"status": result.status})
    return _respond(200, result.to_json())


def _body(request: LambdaFunctionUrlModel) -> Any:
    raw = request.body if isinstance(request.body, str) else ""
    text = base64.b64decode(raw).decode("utf-8") if request.isBase64Encoded else raw
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError("the body is not JSON: send {ExecutionId, Wave, Step, Decision, Reason}") from None


def _problem(error: Exception) -> str:
    """One line naming each field that is wrong (pydantic's own words), without echoing the input back."""
    if isinstance(error, ValidationError):
        problems = error.errors()
        return "; ".join(f"{'.'.join(str(part) for part in p['loc']) or 'body'}: {p['msg']}" for p in problems)
    return str(error)


def _respond(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
