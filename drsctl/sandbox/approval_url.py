"""The stack's approval URL in the sandbox: the answer function's Lambda function URL (AuthType AWS_IAM) served on
the sandbox's endpoint, at APPROVAL_PATH (the stack's `ApprovalUrl` output points there).

As AWS does, it checks the request's SigV4 signature (service `lambda`) against the sandbox's IAM access keys
(drsctl/sandbox/signatures.py), answers an unsigned or forged request 403 without running the function, and gives
the real handler the event AWS would build, the caller's identity included (drsctl/local/function_url.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from drsctl.clock import VirtualClock
from drsctl.emulator.protocol import HttpResponse
from drsctl.local.function_url import invoke, request_event
from drsctl.sandbox.signatures import NotSigned, signer

APPROVAL_PATH = "/lambda-url/answer-approval/"


class ApprovalUrl:
    def __init__(self, clock: VirtualClock, say: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.say = say or (lambda line: None)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        host = next((value for name, value in headers.items() if name.lower() == "host"), "127.0.0.1")
        try:
            principal = signer(method, f"http://{host}{path}", headers, body, "lambda")
        except NotSigned as refused:
            return _json(403, {"Message": f"Forbidden. {refused}"})
        status, answer_headers, answered = invoke(
            request_event(body=body, headers=headers, principal=principal, now=self.clock.now(), method=method)
        )
        if status == 200:
            self.say(_answered_line(principal.arn, json.loads(answered)))
        return HttpResponse(status, answer_headers or {"Content-Type": "application/json"}, answered)


def _answered_line(by: str, answer: dict[str, Any]) -> str:
    step = answer.get("Step") or {}
    return (
        f"execution {answer.get('ExecutionId')}: approval {step.get('Name')!r} of wave {answer.get('Wave')} answered "
        f"by {by}: {answer.get('Status')} ({len(answer.get('Approvals') or [])} answer(s), "
        f"{answer.get('ApproversNeeded')} approval(s) needed)"
    )


def _json(status: int, body: dict[str, object]) -> HttpResponse:
    return HttpResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())
