"""Start a wave (StartRecovery per chunk of servers) and check it (one DescribeJobs for all its jobs).

Each call does a bounded piece of work and returns; the state machine does the waiting. Every step writes the wave
back to the execution record before it returns, so a retried step resumes where the last one stopped.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, polling, records
from lambdas.core.batches import batched
from lambdas.core.errors import ExecutionStoppedError
from lambdas.core.plan import ExecutionMode, RunOptions
from lambdas.core.records import FINAL_SERVER_STATUSES, ServerRecord, StartIntent, WaveRecord

MANAGED_BY = "DRS-Orchestration"
WaveOutcome = Literal["COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT"]
CheckStatus = Literal["RUNNING", WaveOutcome]

DRS_FINAL = ("LAUNCHED", "FAILED", "TERMINATED")
# DRS launchStatus -> our server status (the seed's LAUNCHING while DRS has not begun the launch itself).
_LAUNCH_STATUS = {
    "PENDING": "LAUNCHING",
    "IN_PROGRESS": "IN_PROGRESS",
    "LAUNCHED": "LAUNCHED",
    "FAILED": "FAILED",
    "TERMINATED": "FAILED",
}


class WaveProgress(BaseModel):
    """What the state machine carries between checks of one wave: small, and only what the next step needs.

    The job IDs (at most one per 100 servers) and a fingerprint of what DRS last reported let a check skip the
    execution record entirely when nothing changed, which is most checks: the record is read and written only
    when a server's state moves.
    """

    model_config = ConfigDict(extra="forbid")

    Status: CheckStatus
    NextCheckSeconds: int
    Checks: int
    EventsUsed: int
    Launched: int
    Servers: int
    Region: str
    StartedAt: int
    JobIds: list[str]
    Fingerprint: str = ""
    Cause: str | None = None


def start_wave(
    *,
    execution_id: str,
    plan_id: str,
    execution_type: ExecutionMode,
    wave_number: int,
    options: RunOptions,
    now: int,
) -> WaveProgress:
    """Start recovery jobs for every server of the wave that has none yet, one StartRecovery per chunk.

    Never launches a server twice, however often Step Functions retries this step: before each StartRecovery the
    chunk's intent (its servers and a token that also tags the job) is written to the wave's record, and after it
    the job ID. A retry that finds an intent without a job ID looks the job up by its token (the call may have
    succeeded with its answer lost, or the record write after it may have failed) and starts the chunk only if DRS
    has no such job.
    """
    wave = records.get_wave(execution_id, wave_number)
    if wave.StartTime is None:
        wave.StartTime = now
    wave.Status = "STARTING"
    tags = {
        "ExecutionId": execution_id,
        "ExecutionType": execution_type,
        "ManagedBy": MANAGED_BY,
        "PlanId": plan_id,
        "WaveNumber": str(wave_number),
    }
    is_drill = execution_type == "DRILL"
    if wave.PendingStart is not None:
        pending = wave.PendingStart
        job = drs.find_job(wave.Region, {**tags, "ChunkToken": pending.Token}, since=pending.RequestedAt - 300)
        if job is None:
            _ensure_running(execution_id, plan_id, wave_number)
            job = drs.start_recovery(wave.Region, pending.ServerIds, is_drill, {**tags, "ChunkToken": pending.Token})
        _record_job(execution_id, wave, job, pending.ServerIds, now)
    not_started = [server.SourceServerId for server in wave.Servers if server.RecoveryJobId is None]
    for chunk in batched(not_started, options.MaxServersPerJob):
        _ensure_running(execution_id, plan_id, wave_number)
        token = f"{wave_number}.{len(wave.JobIds) + 1}"
        wave.PendingStart = StartIntent(Token=token, ServerIds=chunk, RequestedAt=now)
        records.put_wave(execution_id, wave)  # the intent, before the call
        job = drs.start_recovery(wave.Region, chunk, is_drill, {**tags, "ChunkToken": token})
        _record_job(execution_id, wave, job, chunk, now)
    wave.Status = "POLLING"
    records.publish_wave(execution_id, plan_id, wave)
    first_check = polling.next_check_delay(
        elapsed=0,
        expected=options.ExpectedJobMinutes * 60,
        timeout=options.WaveTimeoutMinutes * 60,
        events_left=10**9,
        min_interval=options.MinPollIntervalSeconds,
        max_interval=options.PollIntervalSeconds,
    )
    return WaveProgress(
        Status="RUNNING",
        NextCheckSeconds=first_check,
        Checks=0,
        EventsUsed=0,
        Launched=0,
        Servers=len(wave.Servers),
        Region=wave.Region,
        StartedAt=wave.StartTime,
        JobIds=wave.JobIds,
    )


def _ensure_running(execution_id: str, plan_id: str, wave_number: int) -> None:
    """A stop ends the record through the reconcile path; a step still running then must launch nothing more."""
    if not records.execution_active(execution_id, plan_id):
        raise ExecutionStoppedError(
            f"Execution {execution_id} has ended (stopped or failed); wave {wave_number} launches nothing more"
        )


def _record_job(execution_id: str, wave: WaveRecord, job: dict[str, Any], server_ids: list[str], now: int) -> None:
    """The job started for a chunk, into the wave's record: its servers are LAUNCHING and will not start again."""
    chunk = set(server_ids)
    for server in wave.Servers:
        if server.SourceServerId in chunk:
            server.RecoveryJobId = job["jobID"]
            server.Status = "LAUNCHING"
            server.LaunchTime = now
    wave.JobIds = [*wave.JobIds, job["jobID"]]
    wave.PendingStart = None
    records.put_wave(execution_id, wave)


def check_wave(
    *,
    execution_id: str,
    plan_id: str,
    wave_number: int,
    options: RunOptions,
    progress: WaveProgress,
    event_budget: int,
    retry_count: int,
    now: int,
) -> WaveProgress:
    """Read the wave's jobs once, record what changed, and say what the workflow does next."""
    observed = _observe(drs.describe_jobs(progress.Region, progress.JobIds), progress.JobIds)
    fingerprint = _fingerprint(observed)
    elapsed = now - progress.StartedAt
    timeout = options.WaveTimeoutMinutes * 60
    events_used = progress.EventsUsed + polling.check_cost(retry_count)
    events_left = event_budget - events_used
    finished = len(observed) == progress.Servers and all(s in DRS_FINAL for s, _ in observed.values())
    out_of_time = elapsed >= timeout or events_left < polling.WORST_CHECK_EVENTS
    launched = sum(status == "LAUNCHED" for status, _ in observed.values())
    checked = progress.model_copy(
        update={
            "Checks": progress.Checks + 1,
            "EventsUsed": events_used,
            "Launched": launched,
            "Fingerprint": fingerprint,
        }
    )
    if not finished and not out_of_time:
        if fingerprint != progress.Fingerprint:
            wave = records.get_wave(execution_id, wave_number)
            _apply(wave, observed)
            records.put_wave(execution_id, wave)
        delay = polling.next_check_delay(
            elapsed=elapsed,
            expected=options.ExpectedJobMinutes * 60,
            timeout=timeout,
            events_left=events_left,
            min_interval=options.MinPollIntervalSeconds,
            max_interval=options.PollIntervalSeconds,
        )
        return checked.model_copy(update={"Status": "RUNNING", "NextCheckSeconds": delay})
    wave = records.get_wave(execution_id, wave_number)
    _apply(wave, observed)
    for server in wave.Servers:
        if server.Status not in FINAL_SERVER_STATUSES:
            server.Status = "TIMED_OUT"
            server.Error = "WAVE_TIMEOUT"
    status, cause = _outcome(wave, elapsed)
    wave.Status = status
    wave.EndTime = now
    wave.ErrorMessage = records.truncate(cause, records.WAVE_MESSAGE_MAX) if cause else None
    records.publish_wave(execution_id, plan_id, wave)
    return checked.model_copy(update={"Status": status, "NextCheckSeconds": 0, "Cause": wave.ErrorMessage})


Observed = dict[str, tuple[str, str | None]]


def _observe(jobs: list[dict[str, Any]], job_ids: list[str]) -> Observed:
    """Each participating server's (launchStatus, recoveryInstanceID), from this wave's jobs only."""
    return {
        participant["sourceServerID"]: (
            participant.get("launchStatus", "PENDING"),
            participant.get("recoveryInstanceID"),
        )
        for job in jobs
        if job["jobID"] in job_ids
        for participant in job.get("participatingServers", [])
    }


def _fingerprint(observed: Observed) -> str:
    return hashlib.sha256(json.dumps(sorted(observed.items())).encode()).hexdigest()[:16]


def _apply(wave: WaveRecord, observed: Observed) -> None:
    """Copy what DRS reported into the wave's server entries (final entries are never reopened)."""
    for server in wave.Servers:
        if server.SourceServerId not in observed or server.Status in FINAL_SERVER_STATUSES:
            continue
        launch_status, instance = observed[server.SourceServerId]
        status = _LAUNCH_STATUS.get(launch_status, "LAUNCHING")
        server.Status = status  # type: ignore[assignment]
        server.InstanceId = instance
        server.Error = f"LAUNCH_{launch_status}" if status == "FAILED" else None


def _outcome(wave: WaveRecord, elapsed: int) -> tuple[WaveOutcome, str | None]:
    """The wave's status once every server is final, and a cause an operator can act on."""
    failed = [s for s in wave.Servers if s.Status == "FAILED"]
    timed_out = [s for s in wave.Servers if s.Status == "TIMED_OUT"]
    critical_timed_out = [s for s in timed_out if wave.impact_of(s.SourceServerId) == "CRITICAL"]
    critical_failed = [s for s in failed if wave.impact_of(s.SourceServerId) == "CRITICAL"]
    where = f"Wave {wave.WaveNumber} ({wave.WaveName}) in {wave.Region}"
    if critical_timed_out:
        return "TIMED_OUT", (
            f"{where} timed out after {elapsed // 60} min: CRITICAL server(s) {_ids(critical_timed_out)} never "
            f"finished launching (jobs {', '.join(sorted({s.RecoveryJobId or '?' for s in critical_timed_out}))}). "
            "Later waves were not started. Check the job log in the DRS console (DescribeJobLogItems); raise "
            "Options.WaveTimeoutMinutes if such launches are expected to take longer."
        )
    if critical_failed:
        return "FAILED", (
            f"{where} failed: CRITICAL server(s) {_ids(critical_failed)} failed to launch (jobs "
            f"{', '.join(sorted({s.RecoveryJobId or '?' for s in critical_failed}))}). Later waves were not "
            "started. Read the job log in the DRS console (DescribeJobLogItems) for the reason, fix it, and "
            "run the plan again; mark servers OPTIONAL in ServerImpact if the plan may go on without them."
        )
    if failed or timed_out:
        return "PARTIAL", (
            f"{where} partly launched: OPTIONAL server(s) {_ids(failed + timed_out)} did not launch; the plan went on."
        )
    return "COMPLETED", None


def _ids(servers: list[ServerRecord], limit: int = 10) -> str:
    ids = [s.SourceServerId for s in servers]
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")
