"""The sweeper: every 15 minutes (EventBridge Scheduler), close what a lost event or a dead Lambda left open.

The reconcile Lambda normally ends the record of an execution Step Functions stopped, timed out or failed. Its
event can be lost (EventBridge delivery, a Lambda error after its retries); a Prepare can die holding locks. The
sweeper asks Step Functions itself (DescribeExecution) about every record still open (the sparse OpenExecutions
index) and every execution holding a lock, and:
- an execution that has ended with its record still open is reconciled exactly as its event would have done;
- a lock whose execution has ended is released;
- a record closed with a StartRecovery whose answer DRS could not yet confirm is asked about again, and the jobs
  found are recorded;
- a record whose drill cleanup was still to run when its execution ended (stopped, the event lost) gets its cleanup
  ended NOT_RUN, as the event would have done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from lambdas.core import executions, locks, polling, records, wave_end
from lambdas.core.cleanup import end_cleanup
from lambdas.core.explain import before_action
from lambdas.core.observability import logger
from lambdas.core.reconcile import StatusChange, reconcile


@dataclass
class SweepReport:
    reconciled: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    still_unresolved: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # records the sweeper could not handle (logged; next time again)


def sweep(now: int) -> SweepReport:
    report = SweepReport()
    for execution_id, plan_id, state in records.open_executions():
        try:
            _sweep_record(report, execution_id, plan_id, state, now)
        except Exception:  # noqa: BLE001 - one record that cannot be handled must not stop the sweep of the others
            logger.exception("could not sweep a record", extra={"execution": execution_id, "plan": plan_id})
            report.failed.append(execution_id)
    for execution_id, holder in locks.holders().items():
        if locks.holder_ended(holder):
            locks.release_execution(execution_id, [])
            report.released.append(execution_id)
    return report


def _sweep_record(report: SweepReport, execution_id: str, plan_id: str, state: str, now: int) -> None:
    record = records.find_execution(execution_id, plan_id)
    if record is None:
        return
    if record.Status in records.ACTIVE_EXECUTION_STATUSES:
        if _reconcile_if_ended(record, now):
            report.reconciled.append(execution_id)
        return
    if state == "UNRESOLVED":
        (report.resolved if resolve_pending_starts(record, now) else report.still_unresolved).append(execution_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in records.OPEN_CLEANUP_STATUSES:
        return
    if cleanup.Status == "TERMINATING" and cleanup.StartedAt is not None:
        # followed by the state machine or by `drsctl run cleanup`; one nobody followed to its end is ended here
        if now - cleanup.StartedAt > polling.CLEANUP_DEADLINE_SECONDS + UNFOLLOWED_MARGIN_SECONDS:
            ended = end_cleanup(record, "FAILED", UNFOLLOWED, now)
            (report.reconciled if ended else report.failed).append(execution_id)
        return
    if _reconcile_if_ended(record, now):
        # its drill cleanup was waiting when the execution ended, and the event was lost
        report.reconciled.append(execution_id)


UNFOLLOWED_MARGIN_SECONDS = 900
UNFOLLOWED = (
    "The drill cleanup was not followed to its end (the execution or `drsctl run cleanup` stopped following it); "
    "its TERMINATE jobs finish by themselves."
)


def _reconcile_if_ended(record: records.ExecutionRecord, now: int) -> bool:
    if not record.ExecutionArn:
        return False
    described = executions.describe(record.ExecutionArn)
    if described is None or described["status"] in executions.STILL_RUNNING:
        return False
    status = described["status"]
    stop = described.get("stopDate")
    change = StatusChange(
        executionArn=record.ExecutionArn,
        name=record.ExecutionId,
        status="FAILED" if status in (executions.GONE, "SUCCEEDED") else status,
        input=described.get("input") or json.dumps({"PlanId": record.PlanId}),
        stopDate=int(stop.timestamp() * 1000) if isinstance(stop, datetime) else None,
        error=described.get("error") or ("ExecutionGone" if status == executions.GONE else "RecordNotClosed"),
        cause=described.get("cause")
        or (
            "Step Functions no longer knows this execution."
            if status == executions.GONE
            else f"The execution ended {status} without closing its record."
        ),
    )
    return reconcile(change, now) is not None


def resolve_pending_starts(record: records.ExecutionRecord, now: int) -> bool:
    """Ask DRS again about StartRecovery calls whose answer was never recorded; True when none is left."""
    changed = []
    unresolved = False
    for wave in records.execution_waves(record.ExecutionId):
        if wave.PendingStart is None:
            continue
        token = wave.PendingStart.Token
        tags = wave_end.job_tags(record.ExecutionId, record.ExecutionType or "DRILL", record.PlanId, wave.WaveNumber)
        known = set(wave.JobIds)
        found = wave_end.discover(wave, tags, now)
        if not found.complete or not wave_end.intent_settled(wave, "execution_failed", now):
            unresolved = True
            continue
        wave.PendingStart = None  # DRS answered: every job of the wave is now in the record
        wave_end.apply(wave, found.observed)
        wave_end.settle(wave, "execution_failed")
        adopted = [job for job in wave.JobIds if job not in known]
        wave.ErrorMessage = records.truncate(
            wave_end.confirmed(wave.ErrorMessage, token, adopted, now), records.WAVE_MESSAGE_MAX
        )
        changed.append(wave)
    if changed and record.ErrorMessage:
        waves = ", ".join(str(wave.WaveNumber) for wave in changed)
        note = f"Update: the sweeper settled the unconfirmed StartRecovery of wave(s) {waves}; see their messages."
        record.ErrorMessage = records.truncate(before_action(record.ErrorMessage, note))
    records.update_resolved_waves(record, changed, unresolved=unresolved)
    return not unresolved
