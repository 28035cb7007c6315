"""Start a wave (StartRecovery per chunk of servers) and check it (one DescribeJobs for all its jobs).

Each call does a bounded piece of work and returns; the state machine does the waiting. Every step writes the wave
back to the execution record before it returns, so a retried step resumes where the last one stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, polling, records
from lambdas.core.plan import ExecutionMode, RunOptions
from lambdas.core.records import FINAL_SERVER_STATUSES, ServerRecord, WaveRecord

MANAGED_BY = "DRS-Orchestration"
WaveOutcome = Literal["COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT"]
CheckStatus = Literal["RUNNING", WaveOutcome]

# DRS launchStatus -> our server status (the seed's LAUNCHING while DRS has not begun the launch itself).
_LAUNCH_STATUS = {
    "PENDING": "LAUNCHING",
    "IN_PROGRESS": "IN_PROGRESS",
    "LAUNCHED": "LAUNCHED",
    "FAILED": "FAILED",
    "TERMINATED": "FAILED",
}


class WaveProgress(BaseModel):
    """What the state machine carries between checks of one wave: small, and only what the Choice needs."""

    model_config = ConfigDict(extra="forbid")

    Status: CheckStatus
    NextCheckSeconds: int
    Checks: int
    EventsUsed: int
    Launched: int
    Servers: int
    Cause: str | None = None


def _chunks(servers: list[ServerRecord], size: int) -> Iterator[list[ServerRecord]]:
    for start in range(0, len(servers), size):
        yield servers[start : start + size]


def start_wave(
    *,
    execution_id: str,
    plan_id: str,
    execution_type: ExecutionMode,
    wave_number: int,
    options: RunOptions,
    now: int,
) -> WaveProgress:
    """Start recovery jobs for every server of the wave that has none yet, one StartRecovery per chunk."""
    wave = records.get_wave(execution_id, plan_id, wave_number - 1)
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
    not_started = [server for server in wave.Servers if server.RecoveryJobId is None]
    for chunk in _chunks(not_started, options.MaxServersPerJob):
        job = drs.start_recovery(
            wave.Region, [s.SourceServerId for s in chunk], is_drill=execution_type == "DRILL", tags=tags
        )
        for server in chunk:
            server.RecoveryJobId = job["jobID"]
            server.Status = "LAUNCHING"
            server.LaunchTime = now
        wave.JobIds = [*wave.JobIds, job["jobID"]]
        # Recorded after every chunk: if a later chunk fails, the retry starts only what is left.
        records.put_wave(execution_id, plan_id, wave)
    wave.Status = "POLLING"
    records.put_wave(execution_id, plan_id, wave)
    first_check = polling.next_check_delay(
        elapsed=0,
        expected=options.ExpectedJobMinutes * 60,
        timeout=options.WaveTimeoutMinutes * 60,
        events_left=10**9,
        min_interval=options.MinPollIntervalSeconds,
        max_interval=options.PollIntervalSeconds,
    )
    return WaveProgress(
        Status="RUNNING", NextCheckSeconds=first_check, Checks=0, EventsUsed=0, Launched=0, Servers=len(wave.Servers)
    )


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
    """Read the wave's jobs once, record each server's state, and say what the workflow does next."""
    wave = records.get_wave(execution_id, plan_id, wave_number - 1)
    started = wave.StartTime if wave.StartTime is not None else now
    elapsed = now - started
    timeout = options.WaveTimeoutMinutes * 60
    changed = _apply_jobs(wave, drs.describe_jobs(wave.Region, wave.JobIds))
    events_used = progress.EventsUsed + polling.check_cost(retry_count)
    events_left = event_budget - events_used
    unfinished = [s for s in wave.Servers if s.Status not in FINAL_SERVER_STATUSES]
    out_of_time = elapsed >= timeout or events_left < polling.WORST_CHECK_EVENTS
    launched = sum(s.Status == "LAUNCHED" for s in wave.Servers)
    if unfinished and not out_of_time:
        if changed:
            records.put_wave(execution_id, plan_id, wave)
        delay = polling.next_check_delay(
            elapsed=elapsed,
            expected=options.ExpectedJobMinutes * 60,
            timeout=timeout,
            events_left=events_left,
            min_interval=options.MinPollIntervalSeconds,
            max_interval=options.PollIntervalSeconds,
        )
        return WaveProgress(
            Status="RUNNING",
            NextCheckSeconds=delay,
            Checks=progress.Checks + 1,
            EventsUsed=events_used,
            Launched=launched,
            Servers=len(wave.Servers),
        )
    for server in unfinished:
        server.Status = "TIMED_OUT"
        server.Error = "WAVE_TIMEOUT"
    status, cause = _outcome(wave, elapsed)
    wave.Status = status
    wave.EndTime = now
    wave.ErrorMessage = records.truncate(cause, records.WAVE_MESSAGE_MAX) if cause else None
    records.put_wave(execution_id, plan_id, wave)
    return WaveProgress(
        Status=status,
        NextCheckSeconds=0,
        Checks=progress.Checks + 1,
        EventsUsed=events_used,
        Launched=launched,
        Servers=len(wave.Servers),
        Cause=wave.ErrorMessage,
    )


def _apply_jobs(wave: WaveRecord, jobs: list[dict[str, Any]]) -> bool:
    """Copy each participating server's launch status and recovery instance into the wave. True if anything changed."""
    seen = {
        participant["sourceServerID"]: participant
        for job in jobs
        for participant in job.get("participatingServers", [])
        if job["jobID"] in wave.JobIds
    }
    changed = False
    for server in wave.Servers:
        participant = seen.get(server.SourceServerId)
        if participant is None or server.Status in FINAL_SERVER_STATUSES:
            continue
        status = _LAUNCH_STATUS.get(participant.get("launchStatus", "PENDING"), "LAUNCHING")
        instance = participant.get("recoveryInstanceID")
        error = f"LAUNCH_{participant['launchStatus']}" if status == "FAILED" else None
        if (status, instance, error) != (server.Status, server.InstanceId, server.Error):
            server.Status = status  # type: ignore[assignment]
            server.InstanceId = instance
            server.Error = error
            changed = True
    return changed


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
