"""End an execution's record: COMPLETED, PARTIAL or FAILED, with an end time and a message an operator can act on.

Both ways out of the workflow come here: Finalize after the waves, and Record failure after an unexpected error
(then the record may not exist yet, for instance when the input itself was invalid). Either way the record ends
terminal: no execution leaves its record PENDING or POLLING.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import locks, records
from lambdas.core.records import ACTIVE_EXECUTION_STATUSES, ExecutionRecord, ExecutionStatus

UNKNOWN_PLAN = "UNKNOWN"
OPEN_WAVE_STATUSES = ("PENDING", "STARTING", "POLLING")


class Failure(BaseModel):
    """A caught error as Step Functions hands it over (`Catch` with `ResultPath: $.Error`)."""

    model_config = ConfigDict(extra="ignore")

    Error: str
    Cause: str | None = None

    def explained(self) -> str:
        """The human part of the Cause: a Lambda's errorMessage, or the Cause itself."""
        cause = self.Cause or ""
        try:
            details = json.loads(cause)
        except ValueError:
            details = None
        if isinstance(details, dict) and "errorMessage" in details:
            cause = str(details["errorMessage"])
        return f"{self.Error}: {cause}" if cause else self.Error


class Finished(BaseModel):
    model_config = ConfigDict(extra="forbid")

    Status: ExecutionStatus
    ErrorMessage: str | None
    Summary: str


def plan_id_of(raw_input: Any) -> str:
    """The PlanId an execution input names, whether stored or inline, even if the input is otherwise invalid."""
    if isinstance(raw_input, dict):
        plan = raw_input.get("Plan")
        for candidate in (raw_input.get("PlanId"), plan.get("PlanId") if isinstance(plan, dict) else None):
            if isinstance(candidate, str) and candidate:
                return candidate
    return UNKNOWN_PLAN


def finish(
    *,
    execution_id: str,
    raw_input: Any,
    failure: Failure | None,
    now: int,
    execution_arn: str | None = None,
    stopped_as: ExecutionStatus | None = None,
) -> Finished:
    """End the record. `stopped_as` (CANCELLED, TIMED_OUT, FAILED) is set by the reconcile path: Step Functions
    ended the execution itself (a stop, the execution timeout, a failure nothing caught)."""
    plan_id = plan_id_of(raw_input)
    record = records.find_execution(execution_id, plan_id)
    exists = record is not None
    if record is None:
        execution_type = raw_input.get("ExecutionType") if isinstance(raw_input, dict) else None
        record = ExecutionRecord(
            ExecutionId=execution_id,
            PlanId=plan_id,
            ExecutionType=execution_type if execution_type in ("DRILL", "RECOVERY") else None,
            ExecutionArn=execution_arn,
            StartTime=now,
        )
    if record.Status not in ACTIVE_EXECUTION_STATUSES:
        _release_locks(record)  # idempotent: a retried Finalize, or the reconcile path came first
        return _finished(record)
    # A wave that had not ended when the workflow stopped has its latest state in its own item (it may even have
    # started servers that the ExecutionHistory item does not show yet).
    changed = [
        records.find_wave(execution_id, wave.WaveNumber) or wave
        for wave in record.Waves
        if wave.Status in OPEN_WAVE_STATUSES
    ]
    record.Waves = [next((c for c in changed if c.WaveNumber == w.WaveNumber), w) for w in record.Waves]
    status, message = _outcome(record, failure)
    if stopped_as is not None:
        status, message = stopped_as, failure.explained() if failure else stopped_as
    for wave in changed:
        if wave.Status == "PENDING":
            wave.Status = "SKIPPED"
            for server in wave.Servers:
                server.Status = "SKIPPED"
        elif wave.Status in ("STARTING", "POLLING"):
            wave.Status = "CANCELLED" if status == "CANCELLED" else "FAILED"
            wave.EndTime = now
            wave.ErrorMessage = records.truncate(f"Stopped tracking this wave: {message}", records.WAVE_MESSAGE_MAX)
    record.Status = status
    record.EndTime = now
    record.ErrorMessage = records.truncate(message) if message else None
    if not records.close_execution(record, changed, exists=exists):
        record = records.get_execution(execution_id, plan_id)
    _release_locks(record)
    return _finished(record)


def _release_locks(record: ExecutionRecord) -> None:
    servers = ((wave.Region, server.SourceServerId) for wave in record.Waves for server in wave.Servers)
    locks.release(locks.locks_for(record.PlanId, servers), execution_id=record.ExecutionId)


def _outcome(record: ExecutionRecord, failure: Failure | None) -> tuple[ExecutionStatus, str | None]:
    failed_wave = next((w for w in record.Waves if w.Status in ("FAILED", "TIMED_OUT")), None)
    if failed_wave is not None:
        return "FAILED", failed_wave.ErrorMessage or (failure.explained() if failure else "a wave failed")
    if failure is not None:
        return "FAILED", failure.explained()
    partial = [w for w in record.Waves if w.Status == "PARTIAL"]
    if partial:
        return "PARTIAL", " ".join(w.ErrorMessage or "" for w in partial).strip()
    return "COMPLETED", None


def _finished(record: ExecutionRecord) -> Finished:
    servers = [s for w in record.Waves for s in w.Servers]
    launched = sum(s.Status == "LAUNCHED" for s in servers)
    summary = f"{record.Status}: {launched} of {len(servers)} server(s) launched in {len(record.Waves)} wave(s)"
    return Finished(Status=record.Status, ErrorMessage=record.ErrorMessage, Summary=summary)
