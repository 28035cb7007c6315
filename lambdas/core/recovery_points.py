"""Point-in-time recovery: each server launched from its newest recovery snapshot taken at or before a moment.

Ransomware recovery needs the estate as it was before the attack, not its latest replicated state. The execution
input's `PointInTime` (ISO 8601, UTC) asks for that: for each server, DescribeRecoverySnapshots (newest first, ending
at the moment) gives the snapshot StartRecovery then names (`recoverySnapshotID`). DRS has no consistency group
across servers, so the snapshots chosen may be some minutes apart; further apart than Options.MaxSnapshotSkewMinutes,
or a server with no snapshot that old, and the execution is refused before anything launches, naming the servers.

One DescribeRecoverySnapshots call per server: 5,000 servers would not fit in one Lambda invocation, so the choice is
made by the "Lock the plan's servers" loop, wave by wave, as far as each step's time allows, each choice written to
the server's record (`RecoverySnapshotId`, `RecoveryPointTime`): a step that stops, fails or is retried goes on from
there. A resume keeps the choices of the execution it resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from lambdas.core import drs, records
from lambdas.core.errors import PlanValidationError
from lambdas.core.explain import listed
from lambdas.core.records import FINAL_SERVER_STATUSES, ExecutionRecord, ServerRecord, WaveRecord

NO_SNAPSHOT = "NO_SNAPSHOT_AT_OR_BEFORE"  # a server's Error when DRS has no recovery snapshot that old
# One DescribeRecoverySnapshots call at its worst (drs.READ_CONFIG: 2 x (2 + 8) s and backoff), and the wave's
# write after it: a step with less time left than this stops choosing and goes on in its next invocation.
LOOKUP_WORST_SECONDS = 30
SAVE_EVERY = 100  # lookups between writes of the wave: a failure loses at most this many
FUTURE_GRACE_SECONDS = 60  # a PointInTime this far past the execution's start is still "now"

SecondsLeft = Callable[[], float]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def input_problems(point_in_time: int | None, now: int) -> list[str]:
    """A PointInTime after the execution's start names no recovery point DRS could have."""
    if point_in_time is None or point_in_time <= now + FUTURE_GRACE_SECONDS:
        return []
    return [
        f"PointInTime {iso(point_in_time)} is after the execution's start ({iso(now)}); give a moment in the past, "
        "or leave PointInTime out to launch every server from its latest recovery point"
    ]


def resumed_point_in_time(earlier: ExecutionRecord, given: int | None) -> int | str | None:
    """The PointInTime of a resume: the execution it resumes chose its servers' recovery points, and a resume keeps
    them. Returns the moment (None: latest recovery points), or why the resume's own PointInTime is refused."""
    if given is None or given == earlier.PointInTime:
        return earlier.PointInTime
    if earlier.PointInTime is None:
        then, keep = "launched its servers from their latest recovery points", "leave it out"
    else:
        then = f"recovered to {iso(earlier.PointInTime)}"
        keep = f"give PointInTime {iso(earlier.PointInTime)} or leave it out"
    return (
        f"ResumeFrom {earlier.ExecutionId!r}: that execution {then}; a resume keeps its recovery points, so the "
        f"servers it did not launch match those it did ({keep}). To recover to {iso(given)}, start the plan afresh"
    )


def keep_choices(earlier_id: str, waves: list[WaveRecord]) -> None:
    """Copy the recovery snapshots the execution being resumed chose into the resume's servers."""
    chosen = {
        server.SourceServerId: server
        for wave in records.execution_waves(earlier_id)
        for server in wave.Servers
        if server.RecoverySnapshotId
    }
    for wave in waves:
        for server in wave.Servers:
            earlier = chosen.get(server.SourceServerId)
            if earlier is not None and server.RecoverySnapshotId is None:
                server.RecoverySnapshotId = earlier.RecoverySnapshotId
                server.RecoveryPointTime = earlier.RecoveryPointTime


def _to_choose(wave: WaveRecord) -> list[ServerRecord]:
    """Servers still without a recovery point: not launched before (a resume), none chosen, none found missing."""
    return [
        s
        for s in wave.Servers
        if s.Status not in FINAL_SERVER_STATUSES and s.RecoverySnapshotId is None and s.Error != NO_SNAPSHOT
    ]


def choose(execution_id: str, wave: WaveRecord, point_in_time: int, seconds_left: SecondsLeft) -> bool:
    """Choose the recovery snapshot of each of the wave's servers still without one, as far as the step's time
    allows, writing the choices to the wave's record. Returns True when every server of the wave has its answer.

    A transient error (throttling) is raised after the choices made so far are written: the state machine's Retry
    backs off and the next step goes on from them.
    """
    pending = _to_choose(wave)
    looked_up = 0
    try:
        for server in pending:
            if seconds_left() < LOOKUP_WORST_SECONDS:
                break
            found = drs.snapshot_at_or_before(wave.target_of(server), server.SourceServerId, point_in_time)
            if found is None:
                server.Error = NO_SNAPSHOT
            else:
                server.RecoverySnapshotId, server.RecoveryPointTime = found[0], int(found[1])
            looked_up += 1
            if looked_up % SAVE_EVERY == 0:
                records.put_wave(execution_id, wave)
    finally:
        if looked_up:
            records.put_wave(execution_id, wave)
    return not _to_choose(wave)


def verdict(execution_id: str, plan_id: str, point_in_time: int, max_skew_seconds: int, waves: list[WaveRecord]) -> int:
    """Once every server has its recovery point: refuse the execution (PlanValidationError, before anything is
    launched) if a server has none or the points are too far apart; else record the skew on the execution's record
    and return it."""
    servers = [s for w in waves for s in w.Servers if s.Error == NO_SNAPSHOT or s.RecoveryPointTime is not None]
    missing = sorted(s.SourceServerId for s in servers if s.Error == NO_SNAPSHOT)
    times = sorted((s.RecoveryPointTime, s.SourceServerId) for s in servers if s.RecoveryPointTime is not None)
    skew = times[-1][0] - times[0][0] if times else 0
    problems = []
    if missing:
        problems.append(
            f"PointInTime {iso(point_in_time)}: DRS has no recovery snapshot taken at or before it for server(s) "
            f"{listed(missing)} (their recovery snapshots go back about 24 hours, and start when their replication "
            "did); choose a later PointInTime, or remove those servers from the plan"
        )
    if skew > max_skew_seconds:
        oldest, newest = times[0], times[-1]
        # every server whose snapshot is further behind the newest than the skew allows: those to look at
        lagging = sorted({server for at, server in times if newest[0] - at > max_skew_seconds})
        problems.append(
            f"PointInTime {iso(point_in_time)}: the recovery snapshots chosen are {skew // 60} min apart, more than "
            f"Options.MaxSnapshotSkewMinutes ({max_skew_seconds / 60:g}): server {oldest[1]} would launch from "
            f"{iso(oldest[0])} and server {newest[1]} from {iso(newest[0])}; server(s) {listed(lagging)} lag more "
            f"than {max_skew_seconds / 60:g} min behind {iso(newest[0])}. Restore the lagging servers' "
            "replication, choose another PointInTime, or raise Options.MaxSnapshotSkewMinutes"
        )
    if problems:
        raise PlanValidationError(problems)
    records.set_snapshot_skew(execution_id, plan_id, skew)
    return skew
