"""Start a wave (StartRecovery per chunk of servers) and check it (one DescribeJobs for all its jobs).

Each call does a bounded piece of work and returns; the state machine does the waiting. Every step writes the wave
back to its record before it returns, so a retried or repeated step resumes where the last one stopped.

What DRS answers decides what comes next, until the wave's deadline (its start + WaveTimeoutMinutes, cut short when the
execution's own deadline comes first: lambdas/core/deadline.py; a wave cut short ends TIMED_OUT and stops the plan):
- throttling, 5xx, a lost connection, DynamoDB throttling: no answer, so try again later (start: backoff with
  jitter; check: a missed check, counted in the record). Only the deadline ends a wave for these, as a timeout
  that names the error.
- the DRS job quotas are full (concurrent jobs, servers in all active jobs, whoever's jobs fill them; any quota
  error lambdas/core/quota_errors.py reads as capacity, or does not know): the wave waits for capacity ("Waiting for
  DRS capacity" in the graph view), each quota named in the wave's QuotaWaits, and tries again.
- the servers of one job (MaxServersPerJob by code or by message): the chunk is halved until DRS accepts it.
  ConflictException: that server waits, the rest starts.
- anything else (access denied, DRS not initialized, a server gone, a refused request): the wave fails at once,
  naming the servers, the jobs already started and the fix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lambdas.core import deadline, drs, explain, locks, polling, records, wave_end
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import AwsFailure, classify
from lambdas.core.errors import ExecutionStoppedError
from lambdas.core.explain import before_action, listed, permanent_failure
from lambdas.core.plan import RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.records import FINAL_SERVER_STATUSES, StartIntent, WaveRecord
from lambdas.core.resume import LAUNCHED_BEFORE
from lambdas.core.wave_end import CLOCK_SKEW_SECONDS, EndReason, Observed

ProgressStatus = Literal["STARTING", "WAITING_FOR_CAPACITY", "RUNNING", "COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT"]
# The worst a chunk can take (intent write, StartRecovery, record write: see the SDK configs); a Start wave with
# less time left than this returns and continues in its next invocation.
CHUNK_WORST_SECONDS = 50
FUNCTION = {"start": "start_wave", "check": "check_wave"}


class WaveProgress(BaseModel):
    """What the state machine carries between steps of one wave: small, and only what the next step needs.

    The job IDs (at most one per 100 servers, by account and Region) and a fingerprint of what DRS last reported
    let a check skip the wave's record entirely when nothing changed, which is most checks.
    """

    model_config = ConfigDict(extra="forbid")

    Status: ProgressStatus = "STARTING"
    NextCheckSeconds: int = 0
    Checks: int = 0
    MissedChecks: int = 0
    StartAttempts: int = 0
    EventsUsed: int = 0
    Launched: int = 0
    Servers: int = 0
    StartedAt: int = 0
    JobsStartedAt: int = 0  # when the wave's last chunk started: checks are spaced from there, not from StartedAt
    ExpectedSeconds: int = 0  # how long its jobs should take (learned from the previous wave, else the Options)
    # The wave's job IDs by where they run (Target.key: `<account>/<Region>`), so a check asks each (account,
    # Region) for its own jobs without reading the record
    Jobs: dict[str, list[str]] = {}
    Fingerprint: str = ""
    Cause: str | None = None
    LastError: str | None = None


@dataclass
class WaveStep:
    """Who and when: the same for every step of one wave."""

    execution_id: str
    plan_id: str
    execution_type: ExecutionMode
    wave_number: int
    options: RunOptions
    event_budget: int
    now: int
    waves_end_by: int | None = None  # the execution's own deadline for its waves (None: none, as in unit tests)

    @property
    def tags(self) -> dict[str, str]:
        return wave_end.job_tags(self.execution_id, self.execution_type, self.plan_id, self.wave_number)

    @property
    def timeout(self) -> int:
        return self.options.WaveTimeoutMinutes * 60

    def allowed(self, started_at: int) -> int:
        """Seconds the wave may run from `started_at`: its WaveTimeoutMinutes, cut short so that the execution ends
        by its own deadline (lambdas/core/deadline.py)."""
        return deadline.wave_seconds(self.timeout, started_at, self.waves_end_by)

    def ended_by(self, started_at: int) -> EndReason:
        """Why a wave whose servers did not all finish ends now: its own deadline (or its share of the history), or
        the execution's time running out (then it ends TIMED_OUT and the plan stops, whatever its Impact)."""
        allowed = self.allowed(started_at)
        return "out_of_time" if allowed < self.timeout and self.now - started_at >= allowed else "deadline"

    def out_of_time(self) -> str:
        """Why a wave cut short by the execution's own deadline ended, for its record."""
        hours = deadline.EXECUTION_TIMEOUT_SECONDS // 3600
        return (
            f"the execution must end within {hours} h of its start (the state machine's TimeoutSeconds), leaving its "
            f"record, locks and drill cleanup time to close, so its waves end by {_utc(self.waves_end_by or 0)}, "
            f"before this wave's WaveTimeoutMinutes ({self.options.WaveTimeoutMinutes} min) came. Execution "
            f"{self.execution_id}"
        )


class _NoAnswer(Exception):
    """An AWS call got no usable answer (throttled, 5xx, connection lost): the step tries again later."""

    def __init__(self, failure: AwsFailure) -> None:
        super().__init__(failure.short())
        self.failure = failure


class _Refused(Exception):
    """DRS refused the wave for good: end it FAILED with this cause."""

    def __init__(self, cause: str, servers: list[str]) -> None:
        super().__init__(cause)
        self.cause = cause
        self.servers = servers


# -- Start wave recovery -----------------------------------------------------------------------------------------


def start_wave(  # noqa: PLR0911, PLR0912 - one return per way the step can end, each a different next state
    step: WaveStep, progress: WaveProgress, retry_count: int, seconds_left: Callable[[], float]
) -> WaveProgress:
    """Start recovery jobs for every server of the wave that has none yet, one StartRecovery per chunk.

    Never launches a server twice, however often this step runs: before each StartRecovery the chunk's intent (its
    servers and a token that also tags the job) is written to the wave's record, and after it the job ID. A step
    that finds an intent without a job ID looks the job up by its token (the call may have succeeded with its
    answer lost, or the record write after it failed) and starts the chunk only if DRS has no such job.
    """
    events_used = progress.EventsUsed + polling.check_cost(retry_count)
    attempt = progress.StartAttempts + 1
    try:
        wave = records.get_wave(step.execution_id, step.wave_number)
    except Exception as error:
        if classify(error) is None:
            raise
        started_at = progress.StartedAt or step.now
        if (
            polling.next_start_delay(
                wanted=1,
                elapsed=step.now - started_at,
                timeout=step.allowed(started_at),
                events_left=step.event_budget - events_used,
            )
            is None
        ):
            raise  # DynamoDB has not answered until the deadline: the state machine's Retry and Catch take over
        return _try_again(step, progress, None, _failure(error), attempt, events_used)
    if wave.StartTime is None:
        wave.StartTime = step.now
    _raise_if_stopped(step, wave)
    if wave.Status not in records.OPEN_WAVE_STATUSES:  # a repeated step after the wave ended: say how it ended
        return _ended_progress(wave, progress, events_used, attempt)
    wave.Status = "STARTING"
    elapsed = step.now - wave.StartTime
    if elapsed >= step.allowed(wave.StartTime):
        # An attempt that begins past the deadline (the one before it ran long, or the execution's time is up)
        # starts nothing: the wave ends now, so what follows it still fits (lambdas/core/deadline.py)
        last = f" (last: {progress.LastError})" if progress.LastError else ""
        reason = step.ended_by(wave.StartTime)
        cause = f"Its servers could not all be started before the deadline{last}"
        cause = step.out_of_time() if reason == "out_of_time" else cause
        wave_end.close(wave, reason=reason, now=step.now, tags=step.tags, cause=cause)
        return _end(step, wave, progress, events_used, attempt)
    try:
        waiting = _start_chunks(step, wave, seconds_left)
    except _Refused as refused:
        for server in wave.Servers:
            if server.SourceServerId in refused.servers and server.RecoveryJobId is None:
                server.Status, server.Error = "FAILED", "START_REFUSED"
        wave_end.close(wave, reason="refused", now=step.now, tags=step.tags, cause=refused.cause)
        return _end(step, wave, progress, events_used, attempt)
    except _NoAnswer as no_answer:
        return _try_again(step, progress, wave, no_answer.failure, attempt, events_used)
    if waiting is None and _launched_before(wave):
        # a resume: every server was launched by the execution it resumes, which did not finish the wave's steps
        # after the launch. Nothing to start or to wait for: the wave ends now, and its steps after it run again.
        wave_end.close(wave, reason="finished", now=step.now, tags=step.tags)
        return _end(step, wave, progress, events_used, attempt)
    if waiting is None:
        wave.Status = "POLLING"
        wave.LastCheckError = None
        wave.JobsStartedAt = step.now
        try:
            expected = _expected_job_seconds(step)
            records.publish_wave(step.execution_id, step.plan_id, wave)
        except Exception as error:
            if classify(error) is None:
                raise
            return _try_again(step, progress, wave, _failure(error), attempt, events_used)
        first_check = polling.next_check_delay(
            elapsed=elapsed,
            expected=elapsed + expected,  # the last jobs started just now
            timeout=step.allowed(wave.StartTime),
            events_left=step.event_budget - events_used,
            min_interval=step.options.MinPollIntervalSeconds,
            max_interval=step.options.PollIntervalSeconds,
        )
        running = _progress(wave, progress, events_used, attempt, status="RUNNING", delay=first_check)
        return running.model_copy(update={"JobsStartedAt": step.now, "ExpectedSeconds": expected})
    return _try_again(step, progress, wave, waiting, attempt, events_used)


def _start_chunks(step: WaveStep, wave: WaveRecord, seconds_left: Callable[[], float]) -> AwsFailure | None:
    """Start what is left of the wave. Returns None when every server has a job, else why some must wait.

    The chunks of every (account, Region) of the wave start together, taking turns: each has its own DRS quotas,
    so one whose quotas are full waits for capacity while the others go on. Raises _NoAnswer (try again later, the
    intent kept) or _Refused (end the wave).
    """
    is_drill = step.execution_type == "DRILL"
    if wave.PendingStart is not None:
        _settle_intent(step, wave, is_drill)
    deferred: dict[str, AwsFailure] = {}
    full: dict[Target, AwsFailure] = {}  # (account, Region)s whose job quotas are full: they wait for capacity
    waiting: AwsFailure | None = None
    while True:
        chosen = _next_chunk(step, wave, deferred, full)
        if chosen is None:
            break
        if seconds_left() < CHUNK_WORST_SECONDS:
            waiting = AwsFailure("transient", "ContinueInNextStep", "this step's time is up; it continues next step")
            break
        target, chunk = chosen
        _ensure_running(step)
        wave.IntentCount += 1
        wave.PendingStart = StartIntent(
            Token=f"{step.wave_number}.{wave.IntentCount}",
            ServerIds=chunk,
            RequestedAt=step.now,
            Account=target.account,
            Region=target.region,
        )
        _save(step, wave)  # the intent, before the call
        try:
            job = drs.start_recovery(
                target, chunk, is_drill, {**step.tags, "ChunkToken": wave.PendingStart.Token}, _snapshots(wave, chunk)
            )
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind == "transient":
                raise _NoAnswer(failure or _failure(error)) from error  # outcome unknown: the intent stays
            wave.PendingStart = None  # DRS refused the call: nothing was started
            if failure.kind == "chunk_too_large" and len(chunk) > 1:
                wave.ChunkSize = max(1, len(chunk) // 2)
                continue
            if failure.kind == "conflict":
                busy = [failure.resource_id] if failure.resource_id in chunk else chunk
                deferred.update({server: failure for server in busy})
                continue
            if failure.kind == "capacity":
                full[target] = failure
                continue
            raise _Refused(_refusal(step, wave, failure, "StartRecovery", chunk, target), chunk) from error
        wave_end.record_job(wave, job["jobID"], chunk, step.now)
        _save(step, wave)
    if waiting is None and full:
        first = next(iter(full.values()))
        waiting = AwsFailure(
            "capacity",
            first.code,
            f"DRS job quotas full in {', '.join(str(t) for t in full)}: {first.message}",
            quota_code=first.quota_code,
            quota=first.quota,
        )
    elif waiting is None and deferred:
        first = next(iter(deferred.values()))
        waiting = AwsFailure(
            "conflict", first.code, f"{listed(sorted(deferred))} busy in another DRS job: {first.message}"
        )
    _save(step, wave)
    return waiting


def _next_chunk(
    step: WaveStep, wave: WaveRecord, deferred: dict[str, AwsFailure], full: dict[Target, AwsFailure]
) -> tuple[Target, list[str]] | None:
    """The next servers to start: from the (account, Region) with the fewest of this wave's jobs so far (the
    targets take turns), at most its servers per job. None when nothing more can start in this step."""
    started: dict[Target, int] = {}
    for target in wave.job_targets().values():
        started[target] = started.get(target, 0) + 1
    candidates = []
    for target, servers in wave.targets().items():
        if target in full:
            continue
        not_started = [
            s.SourceServerId
            for s in servers
            if s.RecoveryJobId is None and s.SourceServerId not in deferred and s.Status not in FINAL_SERVER_STATUSES
        ]
        if not_started:
            candidates.append((started.get(target, 0), target, not_started))
    if not candidates:
        return None
    _, target, not_started = min(candidates, key=lambda candidate: (candidate[0], candidate[1]))
    per_job = step.options.quotas_for(target.account).servers_per_job
    size = min(wave.ChunkSize or per_job, per_job)
    return target, not_started[:size]


def _snapshots(wave: WaveRecord, server_ids: list[str]) -> dict[str, str]:
    """The recovery snapshot chosen for each of these servers (a point-in-time recovery), by server ID."""
    wanted = set(server_ids)
    return {
        s.SourceServerId: s.RecoverySnapshotId
        for s in wave.Servers
        if s.SourceServerId in wanted and s.RecoverySnapshotId
    }


def _settle_intent(step: WaveStep, wave: WaveRecord, is_drill: bool) -> None:
    """A StartRecovery was about to be made, or made with its answer lost: find its job, or make it now."""
    pending = wave.PendingStart
    assert pending is not None
    target = wave.intent_target(pending)
    try:
        job = drs.find_job(
            target, {**step.tags, "ChunkToken": pending.Token}, since=pending.RequestedAt - CLOCK_SKEW_SECONDS
        )
    except Exception as error:
        failure = classify(error)
        if failure is None or failure.kind != "permanent":
            raise _NoAnswer(failure or _failure(error)) from error
        # DRS refused the lookup, not the start: whether that start made a job is still unknown (no server refused)
        raise _Refused(_refusal(step, wave, failure, "DescribeJobs", pending.ServerIds, target), []) from error
    if job is None:
        _ensure_running(step)
        try:
            job = drs.start_recovery(
                target,
                pending.ServerIds,
                is_drill,
                {**step.tags, "ChunkToken": pending.Token},
                _snapshots(wave, pending.ServerIds),
            )
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind == "transient":
                raise _NoAnswer(failure or _failure(error)) from error
            wave.PendingStart = None  # refused: nothing started; the chunk is planned afresh below
            if failure.kind == "permanent":
                raise _Refused(
                    _refusal(step, wave, failure, "StartRecovery", pending.ServerIds, target), pending.ServerIds
                ) from error
            _save(step, wave)
            return
    wave_end.record_job(wave, job["jobID"], pending.ServerIds, step.now)
    _save(step, wave)


def _raise_if_stopped(step: WaveStep, wave: WaveRecord) -> None:
    """The reconcile path closed this wave (the execution was stopped, or failed): a late step does nothing."""
    if wave.Status in ("SKIPPED", "CANCELLED"):
        raise ExecutionStoppedError(
            f"Execution {step.execution_id} has ended; wave {step.wave_number} was {wave.Status} and launches nothing"
        )


def _save(step: WaveStep, wave: WaveRecord) -> None:
    try:
        records.put_wave(step.execution_id, wave)
    except Exception as error:
        if classify(error) is None:
            raise
        raise _NoAnswer(_failure(error)) from error


def _ensure_running(step: WaveStep) -> None:
    """A stop ends the record through the reconcile path; a step still running then must launch nothing more."""
    try:
        active = records.execution_active(step.execution_id, step.plan_id)
    except Exception as error:
        if classify(error) is None:
            raise
        raise _NoAnswer(_failure(error)) from error
    if not active:
        raise ExecutionStoppedError(
            f"Execution {step.execution_id} has ended (stopped or failed); wave {step.wave_number} launches nothing "
            "more"
        )


def _refusal(  # noqa: PLR0917 - each refusal names all of these
    step: WaveStep, wave: WaveRecord, failure: AwsFailure, operation: str, servers: list[str], target: Target
) -> str:
    text = permanent_failure(
        failure,
        operation=operation,
        function=FUNCTION["start"],
        servers=servers,
        jobs_started=wave.JobIds,
        **explain.where(target),
    )
    return f"Wave {step.wave_number} ({wave.WaveName}): {text}"


def _try_again(  # noqa: PLR0917 - one call site per situation; names at each would only repeat these
    step: WaveStep,
    progress: WaveProgress,
    wave: WaveRecord | None,
    failure: AwsFailure,
    attempt: int,
    events_used: int,
) -> WaveProgress:
    """Some servers could not start yet: wait (backoff, or for capacity) and try again, until the deadline."""
    started_at = wave.StartTime if wave is not None and wave.StartTime is not None else (progress.StartedAt or step.now)
    elapsed = step.now - started_at
    if failure.kind == "capacity":
        wanted = float(step.options.PollIntervalSeconds * 2)
    elif failure.code == "ContinueInNextStep":
        wanted = 1.0
    else:
        wanted = float(polling.retry_delay(attempt, f"{step.execution_id}:{step.wave_number}"))
    allowed = step.allowed(started_at)
    delay = polling.next_start_delay(
        wanted=wanted, elapsed=elapsed, timeout=allowed, events_left=step.event_budget - events_used
    )
    if wave is not None:
        wave.LastCheckError = records.truncate(failure.short(), records.WAVE_MESSAGE_MAX)
        _note_quota_wait(wave, failure)
    if delay is None and wave is not None:
        reason: EndReason = "deadline"
        if allowed - elapsed > 1:  # the clock had time left: the wave's share of the history was spent
            cause = (
                f"Its servers could not all be started: {failure.short()}; the wave spent its share of the "
                f"execution's history ({step.event_budget} events) on tries. Fewer waves per plan leave each more"
            )
        elif allowed < step.timeout:
            reason, cause = "out_of_time", f"{step.out_of_time()}; its servers were not all started: {failure.short()}"
        else:
            cause = f"Its servers could not all be started before the deadline: {failure.short()}"
        wave_end.close(wave, reason=reason, now=step.now, tags=step.tags, cause=cause)
        return _end(step, wave, progress, events_used, attempt)
    if wave is not None:
        try:
            records.put_wave(step.execution_id, wave)
        except Exception as error:
            if classify(error) is None:
                raise
    status: ProgressStatus = "WAITING_FOR_CAPACITY" if failure.kind == "capacity" else "STARTING"
    base = wave if wave is not None else None
    updated = progress.model_copy(
        update={
            "Status": status,
            "NextCheckSeconds": delay if delay is not None else max(1, int(wanted)),
            "StartAttempts": attempt,
            "EventsUsed": events_used,
            "StartedAt": started_at,
            "Servers": _launching(base) if base is not None else progress.Servers,
            "Jobs": jobs_by_target(base) if base is not None else progress.Jobs,
            "LastError": failure.short(),
        }
    )
    return updated


def _note_quota_wait(wave: WaveRecord, failure: AwsFailure) -> None:
    """A wait for capacity on a DRS quota: the quota goes on the wave's record (QuotaWaits), each once."""
    label = failure.quota_label
    room = len(wave.QuotaWaits) < records.QUOTA_WAITS_MAX
    if failure.kind == "capacity" and label and label not in wave.QuotaWaits and room:
        wave.QuotaWaits = [*wave.QuotaWaits, label]


def _progress(
    wave: WaveRecord, progress: WaveProgress, events_used: int, attempt: int, *, status: ProgressStatus, delay: int
) -> WaveProgress:
    return progress.model_copy(
        update={
            "Status": status,
            "NextCheckSeconds": delay,
            "StartAttempts": attempt,
            "EventsUsed": events_used,
            "Servers": _launching(wave),
            "StartedAt": wave.StartTime,
            "Jobs": jobs_by_target(wave),
            "Launched": sum(s.Status == "LAUNCHED" for s in wave.Servers),
            "LastError": None,
        }
    )


def jobs_by_target(wave: WaveRecord) -> dict[str, list[str]]:
    """The wave's job IDs (in the order they started) by where they run."""
    where = wave.job_targets()
    found: dict[str, list[str]] = {}
    for job_id in wave.JobIds:
        target = where.get(job_id)
        if target is not None:
            found.setdefault(target.key, []).append(job_id)
    return found


def _launched_before(wave: WaveRecord) -> bool:
    """Every server of the wave was launched by the execution this one resumes: it has nothing to start."""
    return not wave.JobIds and wave.PendingStart is None and all(s.taken_over for s in wave.Servers)


def _launching(wave: WaveRecord) -> int:
    """The servers the wave's jobs launch: not those the execution it resumes had launched (lambdas/core/resume.py),
    which are in no job of this wave, so a check that waited for them would never see the wave end."""
    return sum(s.Error != LAUNCHED_BEFORE for s in wave.Servers)


def _ended_status(wave: WaveRecord) -> ProgressStatus:
    """What the state machine's Choice sees for an ended wave (CANCELLED and SKIPPED do not reach it)."""
    if wave.Status == "COMPLETED":
        return "COMPLETED"
    if wave.Status == "PARTIAL":
        return "PARTIAL"
    return "TIMED_OUT" if wave.Status == "TIMED_OUT" else "FAILED"


def _ended_progress(wave: WaveRecord, progress: WaveProgress, events_used: int, attempt: int) -> WaveProgress:
    ended = _progress(wave, progress, events_used, attempt, status=_ended_status(wave), delay=0)
    return ended.model_copy(update={"Cause": wave.ErrorMessage})


def _end(step: WaveStep, wave: WaveRecord, progress: WaveProgress, events_used: int, attempt: int) -> WaveProgress:
    """Write the ended wave (its item and the execution record) and tell the state machine how it ended."""
    records.publish_wave(step.execution_id, step.plan_id, wave)
    _release_servers(step, wave)
    return _ended_progress(wave, progress, events_used, attempt)


def _release_servers(step: WaveStep, wave: WaveRecord) -> None:
    """An ended wave launches nothing more: its servers' locks go now (best effort; the execution's end releases
    whatever is left), so the end of a large plan has only its plan's lock to release."""
    try:
        locks.release(locks.wave_locks(wave), execution_id=step.execution_id)
    except Exception as error:
        if classify(error) is None:
            raise


def _failure(error: Exception) -> AwsFailure:
    return classify(error) or AwsFailure("transient", type(error).__name__, str(error))


# -- Check wave jobs ---------------------------------------------------------------------------------------------


def check_wave(step: WaveStep, progress: WaveProgress, retry_count: int) -> WaveProgress:
    """Read the wave's jobs once, record what changed, and say what the workflow does next."""
    elapsed = step.now - progress.StartedAt
    events_used = progress.EventsUsed + polling.check_cost(retry_count)
    events_left = step.event_budget - events_used
    out_of_time = elapsed >= step.allowed(progress.StartedAt) or events_left < polling.WORST_CHECK_EVENTS
    checked = progress.model_copy(update={"Checks": progress.Checks + 1, "EventsUsed": events_used})
    try:
        jobs, refused = _read_jobs(progress)
        observed = wave_end.observe(jobs, [job for ids in progress.Jobs.values() for job in ids])
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        return _missed(step, checked, failure, out_of_time, events_left)
    if refused:
        return _end_refused(step, checked, observed, refused)
    fingerprint = _fingerprint(observed)
    launched = sum(seen.launch_status == "LAUNCHED" for seen in observed.values())
    checked = checked.model_copy(update={"Launched": launched, "LastError": None})
    finished = len(observed) == progress.Servers and all(seen.final for seen in observed.values())
    if not finished and not out_of_time:
        if fingerprint != progress.Fingerprint:
            try:
                wave = records.get_wave(step.execution_id, step.wave_number)
                wave_end.apply(wave, observed)
                wave.MissedChecks = progress.MissedChecks
                records.put_wave(step.execution_id, wave)
            except Exception as error:
                failure = classify(error)
                if failure is None:
                    raise
                return _missed(step, checked, failure, out_of_time, events_left)
        delay = polling.next_check_delay(
            elapsed=elapsed,
            expected=_expected_end(step, progress),
            timeout=step.allowed(progress.StartedAt),
            events_left=events_left,
            min_interval=step.options.MinPollIntervalSeconds,
            max_interval=step.options.PollIntervalSeconds,
        )
        return checked.model_copy(update={"Status": "RUNNING", "NextCheckSeconds": delay, "Fingerprint": fingerprint})
    wave = records.get_wave(step.execution_id, step.wave_number)
    _raise_if_stopped(step, wave)
    if wave.Status not in records.OPEN_WAVE_STATUSES:  # a retried check whose first run ended the wave
        return _ended_progress(wave, checked, events_used, checked.StartAttempts)
    wave.MissedChecks = progress.MissedChecks
    wave.JobSeconds = wave_end.job_seconds(jobs) if finished else None
    reason: EndReason = "finished" if finished else step.ended_by(progress.StartedAt)
    why = step.out_of_time() if reason == "out_of_time" else None
    wave_end.close(wave, reason=reason, now=step.now, tags=step.tags, observed=observed, cause=why)
    return _check_end(step, wave, checked)


def _read_jobs(progress: WaveProgress) -> tuple[list[dict[str, Any]], list[tuple[Target, AwsFailure]]]:
    """The wave's jobs, asked of each (account, Region) in turn, and the (account, Region)s that refused for good
    (the member role refused, access denied): the others are still read, so what they launched is recorded. A
    transient error (no answer) is raised: the check is missed."""
    jobs: list[dict[str, Any]] = []
    refused: list[tuple[Target, AwsFailure]] = []
    for key, job_ids in sorted(progress.Jobs.items()):
        try:
            jobs.extend(drs.describe_jobs(Target.parse(key), job_ids))
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind != "permanent":
                raise
            refused.append((Target.parse(key), failure))
    return jobs, refused


def _end_refused(
    step: WaveStep, checked: WaveProgress, observed: Observed, refused: list[tuple[Target, AwsFailure]]
) -> WaveProgress:
    """DRS refused to say how the wave's jobs went in some (account, Region): the wave ends FAILED, its servers
    elsewhere as DRS reported them, naming the first refusal (and the others)."""
    wave = records.get_wave(step.execution_id, step.wave_number)
    (asked, failure), *others = refused
    cause = f"Wave {step.wave_number} ({wave.WaveName}): " + permanent_failure(
        failure, operation="DescribeJobs", function=FUNCTION["check"], **explain.where(asked)
    )
    if others:
        cause = before_action(cause, f"DRS in {listed([str(t) for t, _ in others])} refused as well.")
    wave_end.close(wave, reason="refused", now=step.now, tags=step.tags, observed=observed, cause=cause)
    return _check_end(step, wave, checked)


def _missed(
    step: WaveStep, checked: WaveProgress, failure: AwsFailure, out_of_time: bool, events_left: int
) -> WaveProgress:
    """A check that got no answer: counted, recorded if DynamoDB lets us, and the next one scheduled as usual."""
    missed = checked.model_copy(update={"MissedChecks": checked.MissedChecks + 1, "LastError": failure.short()})
    if out_of_time:
        wave = records.get_wave(step.execution_id, step.wave_number)
        wave.MissedChecks = missed.MissedChecks
        wave.LastCheckError = failure.short()
        cause = f"{wave_end.UNANSWERED} ({missed.MissedChecks} missed in all; last: {failure.short()})."
        reason = step.ended_by(checked.StartedAt)
        if reason == "out_of_time":
            cause = f"{step.out_of_time()}. {cause}"
        wave_end.close(wave, reason=reason, now=step.now, tags=step.tags, cause=cause)
        return _check_end(step, wave, missed)
    try:
        records.record_missed_check(step.execution_id, step.wave_number, missed.MissedChecks, failure.short())
    except Exception as error:
        if classify(error) is None:
            raise
    delay = polling.next_check_delay(
        elapsed=step.now - checked.StartedAt,
        expected=_expected_end(step, checked),
        timeout=step.allowed(checked.StartedAt),
        events_left=events_left,
        min_interval=step.options.MinPollIntervalSeconds,
        max_interval=step.options.PollIntervalSeconds,
    )
    return missed.model_copy(update={"Status": "RUNNING", "NextCheckSeconds": delay})


def _check_end(step: WaveStep, wave: WaveRecord, checked: WaveProgress) -> WaveProgress:
    records.publish_wave(step.execution_id, step.plan_id, wave)
    _release_servers(step, wave)
    return checked.model_copy(
        update={
            "Status": _ended_status(wave),
            "NextCheckSeconds": 0,
            "Cause": wave.ErrorMessage,
            "Jobs": jobs_by_target(wave),
            "Launched": sum(s.Status == "LAUNCHED" for s in wave.Servers),
        }
    )


def _expected_end(step: WaveStep, progress: WaveProgress) -> float:
    """Seconds into the wave when its jobs should end: the expected job time after its last chunk started (a wave
    that waited for capacity does not expect its launches any sooner for it)."""
    started = progress.JobsStartedAt or progress.StartedAt
    expected = progress.ExpectedSeconds or step.options.ExpectedJobMinutes * 60
    return (started - progress.StartedAt) + expected


def _expected_job_seconds(step: WaveStep) -> int:
    """How long this wave's jobs should take: what the previous wave's took, when it ended, else the Options."""
    previous = records.wave_head(step.execution_id, step.wave_number - 1) if step.wave_number > 1 else None
    took = previous.JobSeconds if previous is not None and previous.Status in ("COMPLETED", "PARTIAL") else None
    return round(polling.expected_from(took, step.options.ExpectedJobMinutes * 60, step.timeout))


def _fingerprint(observed: Observed) -> str:
    state = sorted(
        (server, seen.job_id, seen.launch_status, seen.instance_id, seen.job_completed)
        for server, seen in observed.items()
    )
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
