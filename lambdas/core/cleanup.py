"""Drill cleanup (plan `Options.DrillCleanup`): after a DRILL ends, wait, then terminate the drill instances this
execution launched, follow the TERMINATE jobs to their end, and record it all on the execution's record.

The cleanup's life on the record (`Cleanup.Status`):

- PLANNED when Prepare opens a DRILL whose plan asks for it (a RECOVERY never gets one: it terminates nothing);
- at the execution's end (lambdas/core/finish.py): WAITING (the state machine waits AfterMinutes), KEPT (the drill
  did not complete and OnFailure is KEEP) or NOT_RUN (the execution was stopped or timed out: no state runs any more);
- TERMINATING once the cleanup begins (after the wait, or when an operator runs `drsctl run cleanup`: start_now),
  then COMPLETED or FAILED.

Only this execution's drill instances are terminated: those its own jobs launched, those of the servers it took over
from the execution it resumed, and those of a StartRecovery whose answer it never recorded (known by the job's
ExecutionId tag). A newer drill of the same servers (another execution's jobs) and any recovery instance are never
touched. Every look is idempotent (it reads DRS afresh: instances shutting down are not terminated again, the
TERMINATE jobs are found by their servers and time), and it ends COMPLETED only when none of its instances is up and
none of its launch jobs can still launch one. A stop while the cleanup waits or runs ends it NOT_RUN (finish.py);
the sweeper ends one nobody follows (sweep.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, polling, records
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify
from lambdas.core.batches import batched
from lambdas.core.explain import listed, permanent_failure, with_action
from lambdas.core.plan import RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.records import OPEN_CLEANUP_STATUSES, DrillCleanupRecord, ExecutionRecord, ExecutionStatus
from lambdas.core.resume import LAUNCHED_BEFORE
from lambdas.core.wave_end import CLOCK_SKEW_SECONDS

# between two looks at the TERMINATE jobs, and how long they may take before the cleanup ends FAILED naming them
# (they take minutes); both count in the history budget (lambdas/core/polling.py)
CHECK_SECONDS = polling.CLEANUP_CHECK_SECONDS
DEADLINE_SECONDS = polling.CLEANUP_DEADLINE_SECONDS
GONE_STATES = ("TERMINATED", "SHUTTING-DOWN")  # ec2InstanceState of an instance being (or already) terminated
RUN_CLEANUP = (
    "terminate them with `drsctl run cleanup {execution}` when done (it calls TerminateRecoveryInstances on this "
    "execution's drill instances only)"
)

# One TerminateRecoveryInstances and its record write at their worst (drs.py: 2 + 15 s, DynamoDB 3 x 4 s), with
# room: a look stops calling when less is left of its Lambda's time, and the next look goes on.
CALL_WORST_SECONDS = 40
SecondsLeft = Callable[[], float]


def _unbounded() -> float:  # the time left for callers outside a Lambda (tests, the CLI)
    return float("inf")


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
    elif not record.Waves:
        # Ended before its first wave was written (refused by Prepare: an invalid plan, a scheduled drill that could
        # not start): it launched nothing, so there is nothing to wait AfterMinutes for, nor to terminate.
        cleanup.Status = "NOT_RUN"
        cleanup.Detail = "Nothing was launched (the execution ended before its first wave): no drill instance to end"
    elif record.Status != "COMPLETED" and cleanup.OnFailure == "KEEP":
        cleanup.Status = "KEPT"
        cleanup.Detail = with_action(
            f"The drill ended {record.Status}: its instances are kept to investigate (OnFailure: KEEP)", action
        )
    else:
        cleanup.Status = "WAITING"


def start_now(record: ExecutionRecord, now: int) -> DrillCleanupRecord | None:
    """An operator terminates an ended drill's instances now (`drsctl run cleanup`): its cleanup becomes (or stays)
    TERMINATING, and `check` then follows it as the state machine does; None when its cleanup already COMPLETED
    (nothing of it is up, nor can be). Raises ValueError, saying why, for a RECOVERY, a running execution, or a
    cleanup the state machine is following."""
    if record.ExecutionType != "DRILL":
        raise ValueError(
            f"execution {record.ExecutionId} is a {record.ExecutionType}: only a DRILL's instances are terminated "
            "(a recovery's instances are production)"
        )
    if record.Status in records.ACTIVE_EXECUTION_STATUSES:
        raise ValueError(f"execution {record.ExecutionId} is still running: wait for it to end, or cancel it")
    current = record.Cleanup
    if current is not None and current.Status == "TERMINATING":
        return current  # a cleanup under way (this command run before, interrupted): follow it
    if current is not None and current.Status == "COMPLETED":
        return None
    if current is not None and current.Status in ("PLANNED", "WAITING"):
        raise ValueError(
            f"execution {record.ExecutionId}'s own drill cleanup is {current.Status}: it terminates the instances "
            "itself; stop the execution first to clean up now"
        )
    cleanup = DrillCleanupRecord(
        Status="TERMINATING",
        AfterMinutes=current.AfterMinutes if current is not None else 0,
        OnFailure=current.OnFailure if current is not None else "TERMINATE",
        StartedAt=now,
    )
    if not records.start_cleanup_now(record, cleanup):
        raise ValueError(f"execution {record.ExecutionId}'s record changed meanwhile: run the command again")
    return cleanup


def summary(record: ExecutionRecord) -> CleanupProgress:
    """The cleanup as the execution's end leaves it: what the state machine does next."""
    return _progress(record.Cleanup)


def terminate(execution_id: str, plan_id: str, now: int, seconds_left: SecondsLeft = _unbounded) -> CleanupProgress:
    """The cleanup begins (WAITING -> TERMINATING) and takes its first look."""
    record = records.get_execution(execution_id, plan_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in ("WAITING", "TERMINATING"):
        return _progress(cleanup)
    if cleanup.Status == "WAITING":
        cleanup.Status, cleanup.StartedAt = "TERMINATING", now
        if not records.set_cleanup(execution_id, plan_id, cleanup, expected=("WAITING",)):
            return _progress(records.get_execution(execution_id, plan_id).Cleanup)
    return _look(execution_id, plan_id, cleanup, now, seconds_left)


def check(execution_id: str, plan_id: str, now: int, seconds_left: SecondsLeft = _unbounded) -> CleanupProgress:
    """A later look, while the cleanup is TERMINATING."""
    record = records.get_execution(execution_id, plan_id)
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status != "TERMINATING":
        return _progress(cleanup)
    return _look(execution_id, plan_id, cleanup, now, seconds_left)


@dataclass
class _Seen:
    """One look at DRS for the execution's drill, per (account, Region)."""

    up: dict[Target, list[str]] = field(default_factory=dict)  # its drill instances not (being) terminated
    terminate_jobs: list[dict[str, Any]] = field(default_factory=list)  # on its servers, since the cleanup began
    launching: list[str] = field(default_factory=list)  # its launch jobs not ended: instances may still appear


def _look(
    execution_id: str, plan_id: str, cleanup: DrillCleanupRecord, now: int, seconds_left: SecondsLeft
) -> CleanupProgress:
    """Terminate the execution's drill instances still up and in no running TERMINATE job (the first look, or a
    job that failed to end one), then say whether all are gone. A look DRS does not answer (throttled, 5xx, a
    conflict) is missed, not failed, until the cleanup's deadline; a refusal (access denied) ends it FAILED."""
    assert cleanup.StartedAt is not None
    late = now - cleanup.StartedAt >= DEADLINE_SECONDS
    try:
        seen = _observe(execution_id, records.execution_waves(execution_id), cleanup)
        busy = {
            p.get("recoveryInstanceID")
            for j in seen.terminate_jobs
            if j.get("status") != "COMPLETED"
            for p in _parts(j)
        }
        for target, instances in seen.up.items():
            for chunk in batched([i for i in instances if i not in busy and not late], drs.TERMINATE_MAX):
                if seconds_left() < CALL_WORST_SECONDS:  # the next look goes on from here (2,000+ instances)
                    return CleanupProgress(Status="TERMINATING", NextCheckSeconds=1)
                job = drs.terminate_recovery_instances(target, chunk)
                seen.terminate_jobs.append(job)
                _note_jobs(cleanup, seen.terminate_jobs)
                if not records.set_cleanup(execution_id, plan_id, cleanup, expected=("TERMINATING",)):
                    return _progress(records.get_execution(execution_id, plan_id).Cleanup)  # a stop ended it
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        if failure.kind == "permanent" and failure.code != "ResourceNotFoundException":  # gone meanwhile: look again
            reason = permanent_failure(failure, operation="TerminateRecoveryInstances", region="", function="cleanup")
            return end(execution_id, plan_id, cleanup, "FAILED", reason, now)
        if late:
            return end(execution_id, plan_id, cleanup, "FAILED", f"DRS did not answer: {failure.short()}.", now)
        return CleanupProgress(Status="TERMINATING", NextCheckSeconds=CHECK_SECONDS)  # a missed look
    _note_jobs(cleanup, seen.terminate_jobs)
    return _judge(execution_id, plan_id, cleanup, seen, now)


def _observe(execution_id: str, waves: list[records.WaveRecord], cleanup: DrillCleanupRecord) -> _Seen:
    """Its drill instances up, the TERMINATE jobs on its servers, and its launch jobs still running, per (account,
    Region).

    Its instances: those its own jobs launched, those of the servers it took over from the execution it resumed
    (their drill is this one now), and those of a job whose StartRecovery answer it never recorded (found by the
    job's ExecutionId tag). Never an instance of another execution, or a recovery instance (isDrill false).
    """
    seen = _Seen()
    by_target: dict[Target, list[records.ServerRecord]] = {}
    wave_jobs: dict[Target, set[str]] = {}
    for wave in waves:
        targets = wave.targets()
        for target, in_target in targets.items():
            by_target.setdefault(target, []).extend(in_target)
        where = wave.job_targets()
        for job in wave.JobIds:  # a job no server carries any more is where the wave's only target is
            target_of_job = where.get(job) or (next(iter(targets)) if len(targets) == 1 else None)
            if target_of_job is not None:
                wave_jobs.setdefault(target_of_job, set()).add(job)
    for target, mine in sorted(by_target.items()):
        servers = [s.SourceServerId for s in mine]
        own_jobs = set(wave_jobs.get(target, set()))
        launch_jobs = sorted(own_jobs)
        own_jobs |= {s.RecoveryJobId for s in mine if s.Error == LAUNCHED_BEFORE and s.RecoveryJobId}
        if not servers:
            continue
        recorded = {s.InstanceId for s in mine if s.InstanceId}
        terminate_jobs = [
            job
            for job in drs.jobs_since(target, (cleanup.StartedAt or 0) - CLOCK_SKEW_SECONDS)
            if job.get("type") == "TERMINATE"
        ]
        described = drs.describe_jobs(target, launch_jobs) if launch_jobs else []
        seen.launching += [j["jobID"] for j in described if j.get("status") != "COMPLETED"]
        unconfirmed = [s.SourceServerId for s in mine if s.Error == "START_UNCONFIRMED"]
        if unconfirmed:  # a StartRecovery whose job was never recorded may still be launching them
            seen.launching += [
                f"the unconfirmed start of {server['sourceServerID']}"
                for server in drs.describe_source_servers(target, unconfirmed)
                if ((server.get("lifeCycle") or {}).get("lastLaunch") or {}).get("status") in ("PENDING", "IN_PROGRESS")
            ]
        instances = drs.describe_recovery_instances(target, servers)
        unknown = sorted({str(i.get("jobID")) for i in instances if i.get("jobID") not in own_jobs})
        if unknown:
            own_jobs |= {
                j["jobID"]
                for j in drs.describe_jobs(target, unknown)
                if (j.get("tags") or {}).get("ExecutionId") == execution_id
            }
        own = [i for i in instances if i.get("jobID") in own_jobs and i.get("isDrill")]
        seen.up[target] = [i["recoveryInstanceID"] for i in own if i.get("ec2InstanceState") not in GONE_STATES]
        # Its TERMINATE jobs: those it recorded, and those ending only its own instances (recorded, or listed as its
        # own now: a job whose answer was lost); another drill's cleanup of the same servers is not counted as its own
        mine_ids = recorded | {i["recoveryInstanceID"] for i in own}
        seen.terminate_jobs += [
            job
            for job in terminate_jobs
            if job["jobID"] in cleanup.JobIds
            or ((ids := {p.get("recoveryInstanceID") for p in _parts(job)}) and ids <= mine_ids)
        ]
    return seen


def _note_jobs(cleanup: DrillCleanupRecord, jobs: list[dict[str, Any]]) -> None:
    """The TERMINATE jobs in the record: how many, and the first CLEANUP_JOBS_MAX IDs (the record stays bounded)."""
    ids = list(dict.fromkeys([*cleanup.JobIds, *(job["jobID"] for job in jobs)]))
    cleanup.JobCount = max(cleanup.JobCount, len(ids))
    cleanup.JobIds = ids[: records.CLEANUP_JOBS_MAX]


def _judge(execution_id: str, plan_id: str, cleanup: DrillCleanupRecord, seen: _Seen, now: int) -> CleanupProgress:
    """COMPLETED once none of its instances is up, no TERMINATE job runs and none of its launch jobs can still
    launch one; FAILED at the deadline, naming what is left; else look again."""
    assert cleanup.StartedAt is not None
    jobs = seen.terminate_jobs
    cleanup.Terminated = len(
        {p.get("recoveryInstanceID") for j in jobs for p in _parts(j) if p.get("launchStatus") == "TERMINATED"}
    )
    still_up = [instance for instances in seen.up.values() for instance in instances]
    running = [j["jobID"] for j in jobs if j.get("status") != "COMPLETED"]
    if not (still_up or running or seen.launching):
        done = (
            f"{cleanup.Terminated} drill instance(s) terminated."
            if cleanup.JobCount
            else "No drill instance of this execution was running."
        )
        return end(execution_id, plan_id, cleanup, "COMPLETED", done, now)
    if now - cleanup.StartedAt < DEADLINE_SECONDS:
        return CleanupProgress(Status="TERMINATING", NextCheckSeconds=CHECK_SECONDS)
    left = [
        f"recovery instance(s) {listed(still_up)} still up" if still_up else "",
        f"TERMINATE job(s) {listed(running)} still running" if running else "",
        f"launch job(s) {listed(seen.launching)} still running (their instances were not terminated)"
        if seen.launching
        else "",
    ]
    detail = (
        f"After {DEADLINE_SECONDS // 60} min, {cleanup.Terminated} instance(s) terminated; "
        + "; ".join(part for part in left if part)
        + "."
    )
    return end(execution_id, plan_id, cleanup, "FAILED", detail, now)


def _parts(job: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = job.get("participatingServers", [])
    return parts


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
            detail + jobs,
            ("check the jobs with DescribeJobs, then " if cleanup.JobIds else "")
            + RUN_CLEANUP.format(execution=execution_id),
        ),
        records.WAVE_MESSAGE_MAX,
    )
    if not records.set_cleanup(execution_id, plan_id, cleanup, expected=OPEN_CLEANUP_STATUSES):
        return _progress(records.get_execution(execution_id, plan_id).Cleanup)
    return _progress(cleanup)


def end_cleanup(record: ExecutionRecord, status: Literal["FAILED", "NOT_RUN"], detail: str, now: int) -> bool:
    """End the record's open cleanup (the sweeper's); False if it ended meanwhile."""
    cleanup = record.Cleanup
    if cleanup is None or cleanup.Status not in OPEN_CLEANUP_STATUSES:
        return False
    return end(record.ExecutionId, record.PlanId, cleanup, status, detail, now).Status == status


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
    doing = {
        "PLANNED": "was still to run",
        "WAITING": "waited to terminate its drill instances",
        "TERMINATING": "was terminating its drill instances",
    }[cleanup.Status]
    started = "; the TERMINATE jobs it started finish by themselves" if cleanup.JobIds else ""
    end(
        record.ExecutionId,
        record.PlanId,
        cleanup,
        "NOT_RUN",
        f"The execution ended ({reason}) while its drill cleanup {doing}{started}.",
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
