"""Answering approvals in workflow tests as an approver does on AWS: a request to the approval URL that AWS has
authenticated (drsctl/local/function_url.py builds the event the answer function gets)."""

from __future__ import annotations

import time
from typing import Any

from drsctl.local.function_url import Principal, answer_approval
from drsctl.local.rehearsal import LocalAws
from drsctl.operate.executions import pending_approvals


def wait_for_approval(aws: LocalAws, name: str, timeout: float = 60.0) -> None:
    """Until an approval of `name` waits for its answer (its token recorded); in real time, as an operator waits."""
    deadline = time.monotonic() + timeout
    while not pending_approvals(aws.waves(name)):
        assert time.monotonic() < deadline, f"no approval waiting in {name}"
        time.sleep(0.02)


def answer_as(
    aws: LocalAws, principal: str, name: str, wave: int, *, phase: str = "BEFORE", index: int = 0, **body: Any
) -> tuple[int, dict[str, Any]]:
    """POST an answer (APPROVE unless `body` says) as `principal`, whom AWS has authenticated: the function's reply."""
    request = {"ExecutionId": name, "Wave": wave, "Step": {"Phase": phase, "Index": index}, "Decision": "APPROVE"}
    return answer_approval(principal=Principal(arn=principal), now=aws.clock.now(), body={**request, **body})
