"""Ending a wave, whatever ends it: every server launched or failed, the deadline, a refusal, or the execution
itself ending (stopped, timed out, failed).

Before a wave's record is closed, every DRS job the execution started for it is looked up by its tags
(ExecutionId and WaveNumber, in the wave's time window), not only the job IDs the record holds: a StartRecovery whose
answer was lost still tagged its job, so a server DRS took into a job always ends carrying that job's ID. Then every
server gets a final status, and the cause names the servers, their jobs, and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lambdas.core import drs
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify
from lambdas.core.explain import before_action, listed, with_action
from lambdas.core.records import FINAL_SERVER_STATUSES, WAVE_MESSAGE_MAX, ServerRecord, WaveRecord, truncate

MANAGED_BY = "DRS-Orchestration"
CLOCK_SKEW_SECONDS = 300  # DescribeJobs windows start this much earlier than our own timestamps
# Start wave's timeout (120 s), its task's margin (30 s), one StartRecovery call (17 s), with room to spare.
INTENT_GRACE_SECONDS = 300
UNCONFIRMED = "Unconfirmed:"
END_OF_UNCONFIRMED = "once DRS answers)."
DRS_FINAL = ("LAUNCHED", "FAILED", "TERMINATED")
UNANSWERED = "The last check(s) got no answer"  # how a wave's cause says its deadline passed without an answer
# DRS launchStatus -> our server status (the seed's LAUNCHING while DRS has not begun the launch itself).
LAUNCH_STATUS = {
    "PENDING": "LAUNCHING",
    "IN_PROGRESS": "IN_PROGRESS",
    "LAUNCHED": "LAUNCHED",
    "FAILED": "FAILED",
    "TERMINATED": "FAILED",
}
# Why a wave ends early; each decides what its unfinished servers become. "out_of_time": the execution's own
# deadline cut the wave short (lambdas/core/deadline.py): it ends TIMED_OUT and the plan stops, whatever its Impact.
EndReason = Literal[
    "finished", "deadline", "out_of_time", "refused", "stopped", "execution_timed_out", "execution_failed"
]
WaveOutcome = Literal["COMPLETED", "PARTIAL", "FAILED", "TIMED_OUT", "CANCELLED"]


@dataclass(frozen=True)
class Seen:
    """One server as DRS last reported it."""

    job_id: str
    launch_status: str
    instance_id: str | None
    job_completed: bool

    @property
    def final(self) -> bool:
        # A job that COMPLETED with this server not in a final launch status will not launch it any more.
        return self.launch_status in DRS_FINAL or self.job_completed


Observed = dict[str, Seen]


def job_tags(execution_id: str, execution_type: str, plan_id: str, wave_number: int) -> dict[str, str]:
    return {
        "ExecutionId": execution_id,
        "ExecutionType": execution_type,
        "ManagedBy": MANAGED_BY,
        "PlanId": plan_id,
        "WaveNumber": str(wave_number),
    }


def observe(jobs: Iterable[dict[str, Any]], job_ids: Iterable[str]) -> Observed:
    """Each participating server's latest state, from this wave's jobs only."""
    wanted = set(job_ids)
    return {
        participant["sourceServerID"]: Seen(
            job_id=job["jobID"],
            launch_status=participant.get("launchStatus", "PENDING"),
            instance_id=participant.get("recoveryInstanceID"),
            job_completed=job.get("status") == "COMPLETED",
        )
        for job in sorted(jobs, key=lambda j: str(j.get("creationDateTime", "")))
        if job["jobID"] in wanted
        for participant in job.get("participatingServers", [])
    }


def job_seconds(jobs: Iterable[dict[str, Any]]) -> int | None:
    """How long the wave's jobs took by DRS's own clock (creationDateTime to endDateTime), the slowest; None when
    some job has not ended. The next wave expects as much."""
    took = []
    for job in jobs:
        if not job.get("endDateTime") or not job.get("creationDateTime"):
            return None
        took.append(_epoch(job["endDateTime"]) - _epoch(job["creationDateTime"]))
    return round(max(took)) if took else None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def record_job(wave: WaveRecord, job_id: str, server_ids: Iterable[str], now: int) -> None:
    """A job started for some of the wave's servers: they carry its ID from now on and will not start again."""
    chosen = set(server_ids)
    for server in wave.Servers:
        if server.SourceServerId in chosen and server.RecoveryJobId != job_id:
            server.RecoveryJobId = job_id
            server.Status = "LAUNCHING"
            server.LaunchTime = server.LaunchTime or now
            server.Error = None
    if job_id not in wave.JobIds:
        wave.JobIds = [*wave.JobIds, job_id]
    if wave.PendingStart is not None and chosen & set(wave.PendingStart.ServerIds):
        wave.PendingStart = None


def adopt(wave: WaveRecord, jobs: Iterable[dict[str, Any]], now: int) -> None:
    """Record jobs found by their tags that the wave did not know (a lost StartRecovery answer, a lost write)."""
    pending_token = wave.PendingStart.Token if wave.PendingStart is not None else None
    for job in jobs:
        servers = [p["sourceServerID"] for p in job.get("participatingServers", [])]
        if job["jobID"] not in wave.JobIds:
            record_job(wave, job["jobID"], servers, now)
        if pending_token is not None and job.get("tags", {}).get("ChunkToken") == pending_token:
            wave.PendingStart = None


def apply(wave: WaveRecord, observed: Observed) -> None:
    """Copy what DRS reported into the wave's server entries (final entries are never reopened)."""
    for server in wave.Servers:
        seen = observed.get(server.SourceServerId)
        if seen is None or server.Status in FINAL_SERVER_STATUSES or seen.job_id != server.RecoveryJobId:
            continue
        status = LAUNCH_STATUS.get(seen.launch_status, "LAUNCHING")
        if seen.job_completed and seen.launch_status not in DRS_FINAL:
            status = "FAILED"
        server.Status = status  # type: ignore[assignment]
        server.InstanceId = seen.instance_id
        if status == "FAILED":
            server.Error = (
                "JOB_ENDED_NO_LAUNCH" if seen.launch_status not in DRS_FINAL else f"LAUNCH_{seen.launch_status}"
            )
        else:
            server.Error = None


@dataclass
class Discovery:
    """What the wave end learned from DRS: the jobs' states, and whether every job could be accounted for."""

    observed: Observed
    complete: bool
    error: str | None = None


def discover(wave: WaveRecord, tags: dict[str, str], now: int) -> Discovery:
    """Every job of this wave (found by its tags), adopted into the record, and what DRS says of each server."""
    if wave.StartTime is None:
        return Discovery({}, complete=True)
    wanted = {"ExecutionId": tags["ExecutionId"], "WaveNumber": tags["WaveNumber"]}
    jobs: list[dict[str, Any]] = []
    errors: list[str] = []
    for target in _where_jobs_may_be(wave):
        # each (account, Region) on its own: one that cannot be read (its member role refused, DRS not answering)
        # leaves what the others say of their servers known
        try:
            jobs.extend(drs.jobs_tagged(target, wanted, since=wave.StartTime - CLOCK_SKEW_SECONDS))
        except Exception as error:
            failure = classify(error)
            if failure is None:
                raise
            errors.append(failure.short())
    adopt(wave, jobs, now)
    return Discovery(observe(jobs, wave.JobIds), complete=not errors, error=errors[0] if errors else None)


def _where_jobs_may_be(wave: WaveRecord) -> list[Target]:
    """Every (account, Region) of the wave's servers, and that of a StartRecovery whose answer was not recorded."""
    targets = set(wave.targets())
    if wave.PendingStart is not None:
        targets.add(wave.intent_target(wave.PendingStart))
    return sorted(targets)


def close(
    wave: WaveRecord,
    *,
    reason: EndReason,
    now: int,
    tags: dict[str, str],
    observed: Observed | None = None,
    cause: str | None = None,
) -> bool:
    """End the wave: find its jobs, give every server a final status, set the wave's status and cause.

    `observed`: what DRS reported at the check that ends the wave (used if the tag lookup gets no answer).
    `cause`: the reason for a refused or ended wave, already written for an operator. Returns False when DRS
    could not be asked for every job and a StartRecovery without a recorded answer remains (the sweeper retries).
    """
    found = discover(wave, tags, now)
    apply(wave, {**(observed or {}), **found.observed})  # what DRS says now, over what the last check saw
    if found.complete and intent_settled(wave, reason, now):
        wave.PendingStart = None  # DRS has no job with the pending token: that StartRecovery created nothing
    unresolved = wave.PendingStart is not None
    still_running = settle(wave, reason)
    status, message = outcome(
        wave, reason, now=now, cause=cause, still_running=still_running, execution_id=tags["ExecutionId"]
    )
    if unresolved and wave.PendingStart is not None:
        pending = wave.PendingStart
        message = (  # first: the one thing the record cannot yet say, and where to look
            f"{UNCONFIRMED} StartRecovery for server(s) {listed(pending.ServerIds, 3)} got no answer; look for DRS "
            f"jobs tagged ExecutionId={tags['ExecutionId']}, ChunkToken={pending.Token} (the sweeper records them "
            f"{END_OF_UNCONFIRMED} {message or ''}"
        )
    wave.Status = status
    wave.EndTime = now
    wave.ErrorMessage = truncate(message, WAVE_MESSAGE_MAX) if message else None
    return not unresolved


def confirmed(message: str | None, token: str, adopted: list[str], now: int) -> str:
    """A wave's message once the sweeper has settled its unconfirmed StartRecovery: the warning becomes the answer."""
    rest = (message or "").split(END_OF_UNCONFIRMED, 1)[-1].strip() if UNCONFIRMED in (message or "") else message
    when = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = (
        f"Confirmed by the sweeper at {when}: the StartRecovery with ChunkToken={token} created DRS job(s) "
        f"{listed(adopted)}, now recorded with their servers."
        if adopted
        else f"Confirmed by the sweeper at {when}: the StartRecovery with ChunkToken={token} created no DRS job."
    )
    return f"{answer} {rest or ''}".strip()


def intent_settled(wave: WaveRecord, reason: EndReason, now: int) -> bool:
    """Whether a StartRecovery intent that DRS shows no job for can be taken as never made.

    Within the wave's own steps, yes: they run one at a time, so no other step is about to make it. But when the
    execution ended around a running Start wave (a stop, or a failure while it ran), that Lambda may still make the
    call after we looked: the intent counts as unresolved until it is older than a Start wave can live, and the
    sweeper asks DRS again after that.
    """
    if wave.PendingStart is None or reason in ("finished", "deadline", "out_of_time", "refused"):
        return True
    return now - wave.PendingStart.RequestedAt > INTENT_GRACE_SECONDS


def settle(wave: WaveRecord, reason: EndReason) -> list[ServerRecord]:
    """Final statuses for servers DRS has not finished with. Returns those whose job may still launch them."""
    pending = set(wave.PendingStart.ServerIds) if wave.PendingStart is not None else set()
    still_running = []
    for server in wave.Servers:
        if server.Status in FINAL_SERVER_STATUSES:
            continue
        if server.RecoveryJobId is None and server.SourceServerId in pending:
            server.Status = "UNKNOWN"
            server.Error = "START_UNCONFIRMED"
        elif server.RecoveryJobId is None:
            timed_out = reason in ("deadline", "out_of_time")
            server.Status = "TIMED_OUT" if timed_out else "SKIPPED"
            server.Error = "NOT_STARTED"
        elif reason in ("deadline", "out_of_time"):
            server.Status = "TIMED_OUT"
            server.Error = "WAVE_TIMEOUT"
            still_running.append(server)
        else:
            server.Status = "UNKNOWN"
            server.Error = "JOB_STILL_RUNNING"
            still_running.append(server)
    return still_running


def outcome(  # noqa: PLR0911 - one return per way a wave can end
    wave: WaveRecord,
    reason: EndReason,
    *,
    now: int,
    cause: str | None,
    still_running: list[ServerRecord],
    execution_id: str = "",
) -> tuple[WaveOutcome, str | None]:
    """The wave's status once every server is final, and a cause an operator can act on (its action last)."""
    where = f"Wave {wave.WaveNumber} ({wave.WaveName}) in {_regions(wave)}"
    running = (
        f"Server(s) {_with_jobs(still_running)} were still in DRS jobs that may yet launch them: check the jobs "
        "with DescribeJobs and remove unwanted drill instances with TerminateRecoveryInstances."
        if still_running
        else ""
    )
    unfinished = still_running or any(s.Error == "NOT_STARTED" for s in wave.Servers)
    if reason in ("stopped", "execution_timed_out", "execution_failed") and unfinished:
        status: WaveOutcome = {"stopped": "CANCELLED", "execution_timed_out": "TIMED_OUT"}.get(  # type: ignore[assignment]
            reason, "FAILED"
        )
        return status, with_action(
            f"Stopped following this wave: {(cause or reason).rstrip('.')}. {running}",
            "DRS finishes the jobs already started (it cannot cancel a launch); run the plan again for the servers "
            "and waves that did not launch",
        )
    failed = [s for s in wave.Servers if s.Status in ("FAILED", "UNKNOWN")]
    timed_out = [s for s in wave.Servers if s.Status == "TIMED_OUT"]
    critical = [s for s in failed + timed_out if wave.impact_of(s) == "CRITICAL"]
    if reason == "refused":
        refused: WaveOutcome = "FAILED" if critical or not failed else "PARTIAL"
        if refused == "PARTIAL":  # only OPTIONAL servers were refused: the plan goes on without them
            return refused, before_action(cause or "", f"The wave is OPTIONAL: the plan went on. {running}")
        return refused, before_action(cause or "", f"The plan stops here. {running}")
    elapsed = (now - wave.StartTime) // 60 if wave.StartTime is not None else 0
    if reason == "out_of_time":
        return "TIMED_OUT", _out_of_time(wave, where, elapsed, cause, execution_id)
    # why the deadline passed unnoticed (checks unanswered)
    missed = f" {cause.rstrip('.')}." if cause and reason == "deadline" else ""
    critical_timed_out = [s for s in timed_out if wave.impact_of(s) == "CRITICAL"]
    if critical_timed_out:
        return "TIMED_OUT", with_action(
            f"{where} timed out after {elapsed} min: "
            f"{_not_launched(critical_timed_out, unanswered=UNANSWERED in missed)}"
            f"{missed} The plan stops here",
            "read the job log in the DRS console (DescribeJobLogItems) and run the plan again; raise "
            "Options.WaveTimeoutMinutes if such launches are expected to take longer",
        )
    if critical:
        return "FAILED", with_action(
            f"{where} failed: CRITICAL server(s) {_with_jobs(critical)} failed to launch. The plan stops here",
            "read the job log in the DRS console (DescribeJobLogItems) for the reason, fix it and run the plan "
            "again; mark servers OPTIONAL in ServerImpact if the plan may go on without them",
        )
    if failed or timed_out:
        return "PARTIAL", with_action(
            f"{where} partly launched: OPTIONAL server(s) {_with_jobs(failed + timed_out)} did not launch, or not "
            f"in time; the plan went on.{missed}",
            "read the job log in the DRS console (DescribeJobLogItems) for those servers and launch them again "
            "when fixed",
        )
    return "COMPLETED", None


def _out_of_time(wave: WaveRecord, where: str, elapsed: int, cause: str | None, execution_id: str) -> str:
    """A wave the execution's own deadline cut short: why, its servers not launched (whatever their impact)."""
    left = [s for s in wave.Servers if s.Status in ("TIMED_OUT", "UNKNOWN")]
    said = _not_launched(left, unanswered=UNANSWERED in (cause or ""), label="")
    servers = f" {said[:1].upper()}{said[1:]}" if said else ""
    resume = f"`drsctl run resume {execution_id}`" if execution_id else "`drsctl run resume <execution>`"
    return with_action(
        f"{where} was stopped after {elapsed} min: {(cause or 'the execution ran out of time').rstrip('.')}."
        f"{servers} The plan stops here",
        f"resume the execution with {resume} (servers already launched are not launched again); if it ran out "
        "of time without faults to wait out, lower Options.WaveTimeoutMinutes or the steps' TimeoutMinutes, or "
        "split the plan",
    )


def _regions(wave: WaveRecord) -> str:
    """Where a wave ran, as its messages say it: its Region(s), with the accounts when it spans several."""
    targets = list(wave.targets())
    if len({t.account for t in targets}) <= 1:
        return ", ".join(sorted({t.region for t in targets})) or wave.Region
    return "; ".join(str(t) for t in targets)


def _not_launched(servers: list[ServerRecord], *, unanswered: bool, label: str = "CRITICAL ") -> str:
    """What became of (CRITICAL) servers at the deadline: never started, or still in a job (or unknown: no answer)."""
    never = [s for s in servers if s.Error == "NOT_STARTED"]
    started = [s for s in servers if s.Error != "NOT_STARTED"]
    parts = []
    if started and unanswered:
        parts.append(
            f"whether {label}server(s) {_with_jobs(started)} launched is unknown (DRS did not answer; DRS may "
            "have launched them, or may still)."
        )
    elif started:
        parts.append(f"{label}server(s) {_with_jobs(started)} had not launched yet (DRS may still launch them).")
    if never:
        parts.append(
            f"{label}server(s) {listed([s.SourceServerId for s in never])} could not be started before the "
            "deadline (DRS capacity, or busy in another job)."
        )
    return " ".join(parts)


def _with_jobs(servers: list[ServerRecord]) -> str:
    ids = listed([s.SourceServerId for s in servers])
    jobs = sorted({s.RecoveryJobId for s in servers if s.RecoveryJobId})
    return f"{ids} (job(s) {listed(jobs)})" if jobs else ids
