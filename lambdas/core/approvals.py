"""Ask for approval: the state machine waits on a task token (lambda:invoke.waitForTaskToken) until the approvers
have answered; this step keeps the token on the waiting step of the wave's record and tells the approvers what they
are asked and how to answer.

The token never leaves the stack: it is written to the wave's record, where only the stack's answer function reads
it (lambdas/core/approval_answer.py, behind a function URL that AWS authenticates with IAM), and the notification
carries the question, the wave and step, the deadline, what no answer does and the `drsctl run approve` command,
never the token (docs/approvals.md).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import boto3

from lambdas.core import runbook
from lambdas.core.plan_types import ExecutionMode

TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"  # the stack's notification topic; unset: the request is only recorded
ON_TIMEOUT = {
    "FAIL": "the plan stops (nothing more is launched)",
    "CONTINUE": "the plan goes on as if approved",
}


def request_approval(
    *,
    execution_id: str,
    plan_id: str,
    mode: ExecutionMode,
    wave_number: int,
    wave_name: str,
    cursor: dict[str, Any],
    task_token: str,
    now: int,
) -> bool:
    """Record the pending approval (token and deadline) and notify the topic; True when a notification was sent."""
    phase = cursor["Phase"]
    record = runbook.record_approval_request(
        execution_id=execution_id,
        wave_number=wave_number,
        phase=phase,
        index=int(cursor["Index"]),
        task_token=task_token,
        deadline=now + int(cursor.get("TimeoutSeconds") or 0),
    )
    topic = os.environ.get(TOPIC_ARN)
    if not topic:
        return False
    where = f"{'before' if phase == 'BEFORE' else 'after'} wave {wave_number} ({wave_name})"
    needed = record.ApproversNeeded or 1
    boto3.client("sns").publish(
        TopicArn=topic,
        Subject=f"Approval needed: {mode} of plan {plan_id}, {where}"[:100],
        Message="\n".join(
            [
                f"{mode} {execution_id} of plan {plan_id} waits for approval {record.Name!r} {where}.",
                "",
                f"Question: {cursor.get('Message') or record.Message or ''}",
                "",
                f"Asked at:   {iso_utc(record.StartedAt)}",
                f"Deadline:   {iso_utc(record.Deadline)}",
                f"On timeout: {record.OnTimeout or 'FAIL'}: {ON_TIMEOUT[record.OnTimeout or 'FAIL']}",
                f"Approvers:  {needed} distinct AWS principal(s) must approve; one rejection rejects",
                "",
                "Answer with your own AWS credentials (AWS establishes who you are; it is recorded with your answer):",
                f'  drsctl run approve {execution_id} --reason "<why>"',
                f'  drsctl run approve {execution_id} --reject --reason "<why>"',
                "(add --stack NAME when the stack is not DrsOrchestrator; the answer needs the stack's ApproverPolicy)",
            ]
        ),
    )
    return True


def iso_utc(epoch: int | None) -> str:
    """`2026-03-01T12:00:00Z`, or `-` when unknown."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
