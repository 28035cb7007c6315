"""Ask for approval: the state machine waits on a task token (lambda:invoke.waitForTaskToken) until an approver
answers it; this step keeps the token on the waiting step of the wave's record and tells the approvers how to answer.

An answer is SendTaskSuccess with `{"Decision": "APPROVE", "By": "<who>", "Reason": "..."}` (a `"REJECT"` decision
rejects too), or SendTaskFailure with the error `Rejected`. Next runbook step records the decision, who gave it and
when; a rejection ends the plan before anything more is launched.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

from lambdas.core import runbook
from lambdas.core.plan_types import ExecutionMode

TOPIC_ARN = "NOTIFICATION_TOPIC_ARN"  # the stack's notification topic; unset: the request is only recorded


def request_approval(
    *,
    execution_id: str,
    plan_id: str,
    mode: ExecutionMode,
    wave_number: int,
    wave_name: str,
    cursor: dict[str, Any],
    task_token: str,
) -> bool:
    """Record the pending approval and notify the topic; True when a notification was sent."""
    phase = cursor["Phase"]
    record = runbook.record_approval_request(
        execution_id=execution_id,
        wave_number=wave_number,
        phase=phase,
        index=int(cursor["Index"]),
        task_token=task_token,
    )
    topic = os.environ.get(TOPIC_ARN)
    if not topic:
        return False
    where = f"{'before' if phase == 'BEFORE' else 'after'} wave {wave_number} ({wave_name})"
    answer = json.dumps({"Decision": "APPROVE", "By": "<your name>", "Reason": "<why>"})
    boto3.client("sns").publish(
        TopicArn=topic,
        Subject=f"Approval needed: {mode} of plan {plan_id}"[:100],
        Message="\n".join(
            [
                f"{mode} {execution_id} of plan {plan_id} waits for approval {record.Name!r} {where}:",
                "",
                str(cursor.get("Message", "")),
                "",
                f"Approve: aws stepfunctions send-task-success --task-token '{task_token}' --task-output '{answer}'",
                f"Reject: aws stepfunctions send-task-failure --task-token '{task_token}' --error Rejected "
                "--cause '<why>'",
                "Only Decision APPROVE approves: any other answer rejects.",
            ]
        ),
    )
    return True
