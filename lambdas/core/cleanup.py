"""Drill cleanup (plan `Options.DrillCleanup`): after a DRILL ends, wait, then terminate the drill instances this
execution launched, follow the TERMINATE jobs to their end, and record it all on the execution's record.

The cleanup's life on the record (`Cleanup.Status`):

- PLANNED when Prepare opens a DRILL whose plan asks for it (a RECOVERY never gets one: it terminates nothing);
- at the execution's end (lambdas/core/finish.py): WAITING (the state machine waits AfterMinutes), KEPT (the drill
  did not complete and OnFailure is KEEP) or NOT_RUN (the execution was stopped or timed out: no state runs any more);
- TERMINATING once the first TerminateRecoveryInstances is called, then COMPLETED or FAILED.

Only instances this execution launched are terminated: those whose DRS job is one of its waves' jobs, and which are
drill instances. A newer drill of the same servers (another execution's jobs) is never touched. Every step is
idempotent: a retry after a lost answer finds the instances already shutting down, and the TERMINATE jobs it started
by their participants, rather than terminating twice. A stop while the cleanup runs ends it NOT_RUN (finish.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, polling, records
from lambdas.core.aws_errors import classify
from lambdas.core.batches import batched
from lambdas.core.explain import listed, permanent_failure, with_action
from lambdas.core.plan import RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.records import OPEN_CLEANUP_STATUSES, DrillCleanupRecord, ExecutionRecord, ExecutionStatus

# between two looks at the TERMINATE jobs, and how long they may take before the cleanup ends FAILED naming them
# (they take minutes); both count in the history budget (lambdas/core/polling.py)
CHECK_SECONDS = polling.CLEANUP_CHECK_SECONDS
DEADLINE_SECONDS = polling.CLEANUP_DEADLINE_SECONDS
GONE_STATES = ("TERMINATED", "SHUTTING-DOWN")  # ec2InstanceState of an instance being (or already) terminated
RUN_CLEANUP = "terminate them with `drsctl run cleanup {execution}` (TerminateRecoveryInstances) when done"

Status = Literal["WAITING", "TERMINATING", "COMPLETED", "FAILED", "KEPT", "NOT_RUN", "NONE"]


class CleanupProgress(BaseModel):
    """What the state machine reads (`$.Result.Cleanup`): WAITING (wait NextCheckSeconds, then terminate),
    TERMINATING (look again in NextCheckSeconds), or how it ended (NONE: the execution has no cleanup)."""

    model_config = ConfigDict(extra="forbid")

    Status: Status
    NextCheckSeconds: int = 0
    Detail: str | None = None


def planned(mode: ExecutionMode, options: RunOptions) -> DrillCleanupRecord | None:
    """A DRILL whose plan asks for a cleanup gets one on its record; a RECOVERY never does."""
    wanted = options.DrillCleanup
    if mode != "DRILL" or wanted is None:
        return None
    return DrillCleanupRecord(AfterMinutes=wanted.AfterMinutes, OnFailure=wanted.OnFailure)


def at_end(record: ExecutionRecord, stopped_as: ExecutionStatus | None) -> None:
    """Decide, as the execution's record ends, whether the planned cleanup runs (in place, written with the end)."""
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status != "PLANNED":
        return
    action = RUN_CLEANUP.format(execution=record.ExecutionId)
    if stopped_as is not None:
        cleanup.Status = "NOT_RUN"
        cleanup.Detail = with_action(
            f"The execution ended {stopped_as} before its drill cleanup could run; its drill instances are still "
            "running",
            action,
        )
    elif record.Status != "COMPLETED" and cleanup.OnFailure == "KEEP":
        cleanup.Status = "KEPT"
        cleanup.Detail = with_action(
            f"The drill ended {record.Status}: its instances are kept to investigate (OnFailure: KEEP)", action
        )
    else:
        cleanup.Status = "WAITING"


def summary(record: ExecutionRecord) -> CleanupProgress:
    """The cleanup as the execution's end leaves it: what the state machine does next."""
    return _progress(record.Cleanup)


def terminate(execution_id: str, plan_id: str, now: int) -> CleanupProgress:
    """Terminate the execution's drill instances that are still running; record the TERMINATE jobs started."""
    record = records.get_execution(execution_id, plan_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in ("WAITING", "TERMINATING"):
        return _progress(cleanup)
    if cleanup.Status == "WAITING":
        cleanup.Status, cleanup.StartedAt = "TERMINATING", now
        if not records.set_cleanup(execution_id, plan_id, cleanup, expected=("WAITING",)):
            return _progress(records.get_execution(execution_id, plan_id).Cleanup)
    assert cleanup.StartedAt is not None
    waves = records.execution_waves(execution_id)
    own_jobs = {job for wave in waves for job in wave.JobIds}
    for region in sorted({wave.Region for wave in waves}):
        servers = [s.SourceServerId for w in waves if w.Region == region for s in w.Servers if s.RecoveryJobId]
        if not servers:
            continue
        try:
            _adopt_started_jobs(cleanup, region, servers)
            running = [
                instance["recoveryInstanceID"]
                for instance in drs.describe_recovery_instances(region, servers)
                if instance.get("jobID") in own_jobs
                and instance.get("isDrill")
                and instance.get("ec2InstanceState") not in GONE_STATES
            ]
            for chunk in batched(running, drs.TERMINATE_MAX):
                job = drs.terminate_recovery_instances(region, chunk)
                cleanup.JobIds.append(job["jobID"])
                if not records.set_cleanup(execution_id, plan_id, cleanup, expected=("TERMINATING",)):
                    return _progress(records.get_execution(execution_id, plan_id).Cleanup)
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind != "permanent":
                raise  # transient: the state machine retries this step, which resumes from the record
            reason = permanent_failure(
                failure, operation="TerminateRecoveryInstances", region=region, function="cleanup"
            )
            return end(execution_id, plan_id, cleanup, "FAILED", reason, now)
    if not cleanup.JobIds:
        return end(execution_id, plan_id, cleanup, "COMPLETED", "No drill instance of this execution was running.", now)
    return CleanupProgress(Status="TERMINATING", NextCheckSeconds=CHECK_SECONDS)


def _adopt_started_jobs(cleanup: DrillCleanupRecord, region: str, servers: list[str]) -> None:
    """TERMINATE jobs this cleanup started whose answer was lost: found by time and servers, recorded as its own."""
    assert cleanup.StartedAt is not None
    wanted = set(servers)
    for job in drs.jobs_since(region, cleanup.StartedAt - 5):
        participants = {p.get("sourceServerID") for p in job.get("participatingServers", [])}
        own = job.get("type") == "TERMINATE" and participants and participants <= wanted
        if own and job["jobID"] not in cleanup.JobIds:
            cleanup.JobIds.append(job["jobID"])


def check(execution_id: str, plan_id: str, now: int) -> CleanupProgress:
    """One look at the TERMINATE jobs: still running, or ended (COMPLETED, or FAILED naming what was not ended)."""
    record = records.get_execution(execution_id, plan_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status != "TERMINATING":
        return _progress(cleanup)
    assert cleanup.StartedAt is not None
    regions = sorted({wave.Region for wave in records.execution_waves(execution_id)})
    late = now - cleanup.StartedAt >= DEADLINE_SECONDS
    try:
        jobs = [job for region in regions for job in drs.describe_jobs(region, cleanup.JobIds)]
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        if failure.kind == "permanent" or late:
            return end(
                execution_id,
                plan_id,
                cleanup,
                "FAILED",
                f"The TERMINATE jobs could not be read: {failure.short()}.",
                now,
            )
        return CleanupProgress(Status="TERMINATING", NextCheckSeconds=CHECK_SECONDS)  # a missed look
    running = [job["jobID"] for job in jobs if job.get("status") != "COMPLETED"]
    participants = [p for job in jobs for p in job.get("participatingServers", [])]
    cleanup.Terminated = sum(p.get("launchStatus") == "TERMINATED" for p in participants)
    if running and not late:
        return CleanupProgress(Status="TERMINATING", NextCheckSeconds=CHECK_SECONDS)
    left = [
        str(p.get("recoveryInstanceID") or p.get("sourceServerID"))
        for p in participants
        if p.get("launchStatus") != "TERMINATED"
    ]
    if running or left:
        what = (
            f"TERMINATE job(s) {listed(running)} still running after {DEADLINE_SECONDS // 60} min"
            if running
            else f"recovery instance(s) {listed(left)} not terminated"
        )
        return end(
            execution_id, plan_id, cleanup, "FAILED", f"{cleanup.Terminated} instance(s) terminated; {what}.", now
        )
    return end(execution_id, plan_id, cleanup, "COMPLETED", f"{cleanup.Terminated} drill instance(s) terminated.", now)


def end(  # noqa: PLR0917 - the record's keys, the cleanup, and how it ended
    execution_id: str,
    plan_id: str,
    cleanup: DrillCleanupRecord,
    status: Literal["COMPLETED", "FAILED", "NOT_RUN"],
    detail: str,
    now: int,
) -> CleanupProgress:
    """Record the cleanup's end (once: a stop that ended it first wins)."""
    cleanup.Status, cleanup.EndedAt = status, now
    jobs = f" TERMINATE job(s): {listed(cleanup.JobIds)}." if cleanup.JobIds else ""
    cleanup.Detail = records.truncate(
        detail + jobs
        if status == "COMPLETED"
        else with_action(
            detail + jobs, "check the jobs with DescribeJobs and " + RUN_CLEANUP.format(execution=execution_id)
        ),
        records.WAVE_MESSAGE_MAX,
    )
    if not records.set_cleanup(execution_id, plan_id, cleanup, expected=OPEN_CLEANUP_STATUSES):
        return _progress(records.get_execution(execution_id, plan_id).Cleanup)
    return _progress(cleanup)


def fail(execution_id: str, plan_id: str, error: dict[str, Any], now: int) -> CleanupProgress:
    """The cleanup's own step failed for good (its Catch): the record says so instead of staying TERMINATING."""
    record = records.get_execution(execution_id, plan_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in OPEN_CLEANUP_STATUSES:
        return _progress(cleanup)
    cause = str(error.get("Cause") or "")[:300]
    return end(execution_id, plan_id, cleanup, "FAILED", f"The cleanup failed: {error.get('Error')}: {cause}", now)


def close_open(record: ExecutionRecord, reason: str, now: int) -> None:
    """The execution ended (stopped, timed out, failed) while its cleanup waited or ran: end it NOT_RUN, naming the
    TERMINATE jobs already started (DRS finishes those by itself)."""
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in OPEN_CLEANUP_STATUSES:
        return
    started = " after the TERMINATE jobs were started (DRS finishes them)" if cleanup.JobIds else ""
    end(
        record.ExecutionId,
        record.PlanId,
        cleanup,
        "NOT_RUN",
        f"The execution ended ({reason}) while its drill cleanup {cleanup.Status.lower()}{started}.",
        now,
    )


def _progress(cleanup: DrillCleanupRecord | None) -> CleanupProgress:
    if cleanup is None:
        return CleanupProgress(Status="NONE")
    if cleanup.Status == "WAITING":
        return CleanupProgress(Status="WAITING", NextCheckSeconds=cleanup.AfterMinutes * 60)
    if cleanup.Status == "PLANNED":  # the execution has not ended: nothing to do yet
        return CleanupProgress(Status="NONE")
    return CleanupProgress(
        Status=cleanup.Status,
        NextCheckSeconds=CHECK_SECONDS if cleanup.Status == "TERMINATING" else 0,
        Detail=cleanup.Detail,
    )
