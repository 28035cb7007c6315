"""Reconcile: when Step Functions itself ends an execution (stopped, timed out, or failed with nothing caught),
the workflow's own Finalize never runs. EventBridge's "Step Functions Execution Status Change" event brings us here,
and the sweeper does the same for any execution whose event never arrived: the record, every wave and server end
(CANCELLED, TIMED_OUT or FAILED) with the reason, every DRS job the execution started is found and named, and the
locks are released, so no record is ever left PENDING or POLLING.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import records
from lambdas.core.finish import Failure, Finished, finish
from lambdas.core.records import ExecutionStatus

RECORD_STATUS: dict[str, ExecutionStatus] = {"ABORTED": "CANCELLED", "TIMED_OUT": "TIMED_OUT", "FAILED": "FAILED"}


class StatusChange(BaseModel):
    """The `detail` of an EventBridge "Step Functions Execution Status Change" event."""

    model_config = ConfigDict(extra="ignore")

    executionArn: str
    name: str
    status: str
    input: str | None = None
    stopDate: int | None = None  # epoch milliseconds
    error: str | None = None
    cause: str | None = None


def reconcile(change: StatusChange, event_time: int) -> Finished | None:
    stopped_as = RECORD_STATUS.get(change.status)
    if stopped_as is None:
        return None  # RUNNING or SUCCEEDED: the workflow records those itself
    try:
        raw_input: Any = json.loads(change.input) if change.input else {}
    except ValueError:
        raw_input = {}
    record = records.find_execution_by_id(change.name)
    if record is not None and not (isinstance(raw_input, dict) and ("PlanId" in raw_input or "Plan" in raw_input)):
        raw_input = {"PlanId": record.PlanId}  # the event omits inputs over 256 KB
    now = change.stopDate // 1000 if change.stopDate else event_time
    failure = Failure(Error=f"Execution{change.status.title().replace('_', '')}", Cause=_what_happened(change, now))
    return finish(
        execution_id=change.name,
        raw_input=raw_input,
        failure=failure,
        now=now,
        execution_arn=change.executionArn,
        stopped_as=stopped_as,
    )


def _what_happened(change: StatusChange, now: int) -> str:
    when = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if change.status == "ABORTED":
        return f"The execution was stopped at {when}."
    if change.status == "TIMED_OUT":
        return f"The execution reached the state machine's timeout at {when}."
    # The cause of a Lambda error is its JSON error payload: say its message, not the JSON.
    cause = Failure(Error=change.error or "an error", Cause=change.cause).explained() if change.cause else None
    return f"The execution failed at {when} with {cause or (change.error or 'an error') + ': no cause given'}."
