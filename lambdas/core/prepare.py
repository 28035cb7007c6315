"""Prepare an execution: load and validate the plan, resolve its servers in DRS, and open the execution record.

Everything that can be checked before a launch is checked here, and every problem is reported at once, each naming
the plan, wave and server and what to do; problems are raised before any server lock is taken, so a broken plan
can never leave locks behind. Nothing is launched by this step. It is idempotent: a retried Prepare (its answer
lost, the Lambda timed out) finds its own record and locks and goes on from there.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import (
    accounts,
    cleanup,
    deadline,
    drs,
    explain,
    last_launch,
    limits,
    locks,
    polling,
    records,
    recovery_points,
    resume,
    scheduled,
)
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify
from lambdas.core.errors import (
    ExecutionConflictError,
    ExecutionStoppedWhilePreparingError,
    PlanValidationError,
    RecordEndedError,
)
from lambdas.core.explain import listed, permanent_failure
from lambdas.core.plan import (
    REPLICATING_SERVERS_PER_ACCOUNT,
    ProtectionGroup,
    RecoveryPlan,
    RunOptions,
    Wave,
    parse_execution_input,
    parse_plan,
)
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.plan_version import plan_version
from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord

# dataReplicationState (botocore's DRS model) as disaster recovery needs it. In a real disaster the source region
# is down and servers show STALLED or DISCONNECTED: a RECOVERY must still launch them, from their last snapshot.
HEALTHY = frozenset(["CONTINUOUS"])
TRANSIENT_STATES = frozenset(["INITIATING", "RESCAN", "BACKLOG", "CREATING_SNAPSHOT"])
DEGRADED_STATES = frozenset(["STALLED", "DISCONNECTED", "PAUSED"])
# STOPPED and INITIAL_SYNC (and anything unknown) have no complete recovery point: no mode can launch them.
CAPACITY_WINDOW_SECONDS = 7 * 86_400  # active jobs older than this are not looked for in the pre-flight
SNAPSHOT_LOOKUPS_MAX = 20  # DescribeRecoverySnapshots calls per Prepare, for the warnings of degraded servers


class WaveRef(BaseModel):
    """A wave as the Map state iterates it: IDs only, the servers stay in the record."""

    model_config = ConfigDict(extra="forbid")

    WaveNumber: int
    WaveName: str
    Before: list[dict[str, Any]] = []  # the wave's runbook steps, as the plan lists them
    After: list[dict[str, Any]] = []


class LockProgress(BaseModel):
    """Where the "Lock the plan's servers" loop stands: the next wave whose servers it locks."""

    model_config = ConfigDict(extra="forbid")

    NextWave: int = 1
    WaveCount: int
    Done: bool
    Locked: int = 0
    # Execution input PointInTime (epoch seconds): the loop also chooses each server's recovery snapshot
    # (lambdas/core/recovery_points.py) before it locks the server, at most this far apart
    PointInTime: int | None = None
    MaxSnapshotSkewSeconds: int | None = None


class Prepared(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ExecutionId: str
    PlanId: str
    ExecutionType: ExecutionMode
    Options: RunOptions
    EventBudgetPerWave: int
    # When the waves must have ended (epoch seconds): the execution's own deadline, held by every step of the wave
    # loop (lambdas/core/deadline.py)
    WavesEndBy: int
    Waves: list[WaveRef]
    ServerCount: int
    Locking: LockProgress
    Warnings: list[str] = []


@dataclass
class Resolution:
    waves: list[WaveRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # DRS's source servers per (account, Region), as listed for the checks (a resume reads their last launch)
    inventory: dict[Target, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # jobs that have ended though a listed server's last launch still says PENDING or IN_PROGRESS (last_launch.py)
    ended_jobs: set[str] = field(default_factory=set)


def prepare(*, raw_input: Any, execution_id: str, execution_arn: str | None, now: int) -> Prepared:
    request = parse_execution_input(raw_input)
    request.check_confirmation()  # before anything else, and before any call to DRS
    plan = parse_plan(records.load_plan(request.PlanId), "stored plan") if request.PlanId else request.Plan
    assert plan is not None
    options = RunOptions.resolve(request.ExecutionType, plan.Options, request.Options)
    existing = records.find_execution(execution_id, plan.PlanId)
    if existing is not None and existing.Status == "POLLING":  # a retry of a Prepare that had finished
        return _prepared(existing, plan, request.ExecutionType, options)
    if existing is not None and existing.Status != "PENDING":
        raise ExecutionStoppedWhilePreparingError(
            f"Execution {execution_id} has already ended ({existing.Status}); it launches nothing"
        )
    record = ExecutionRecord(
        ExecutionId=execution_id,
        PlanId=plan.PlanId,
        PlanName=plan.Name,
        ExecutionType=request.ExecutionType,
        ExecutionArn=execution_arn,
        Status="PENDING",
        StartTime=now,
        Cleanup=cleanup.planned(request.ExecutionType, options),
        ResumedFrom=request.ResumeFrom,
        PlanVersion=plan_version(plan),
        StartedBy=request.StartedBy,
        Scheduled=request.Scheduled,
        PointInTime=request.point_in_time,
    )
    records.put_execution(record)
    # The plan's lock first: a second start of a running plan fails fast, naming the execution that runs it.
    taken = [locks.plan_lock(plan.PlanId)]
    try:
        try:
            locks.acquire(taken, execution_id=execution_id, execution_arn=execution_arn, plan_id=plan.PlanId, now=now)
        except ExecutionConflictError as conflict:
            if request.Scheduled:  # recorded as the schedule's refusal, not as a second start by someone
                raise scheduled.refused_while_running(plan.PlanId, conflict) from conflict
            raise
        if request.Scheduled:
            scheduled.refuse_if_running(plan.PlanId, execution_id, now)
            scheduled.refuse_if_not_ready(plan.PlanId, record.PlanVersion or "")
        resolution = resolve_waves(plan, options, request.ExecutionType, now)
        resolution.problems.extend(limits.problems(plan, resolution.waves, options, raw_input))
        resolution.problems.extend(recovery_points.input_problems(record.PointInTime, now))
        if request.ResumeFrom is not None:
            resolution.problems.extend(
                _resume(request.ResumeFrom, plan, request.ExecutionType, resolution, execution_id, record)
            )
        if resolution.problems:
            server_locks = list(dict.fromkeys(lock for w in resolution.waves for lock in locks.wave_locks(w)))
            _raise_conflict_if_locked(server_locks, execution_id, plan.PlanId, resolution.problems)
            raise PlanValidationError(resolution.problems)
        # The servers' locks are taken next, by the state machine's "Lock the plan's servers" loop, about 1,000 per
        # step: this step's work must not grow with the plan.
        record.Warnings = _bounded(resolution.warnings)
        record.Status = "POLLING"
        if record.PointInTime != request.point_in_time:  # a resume takes the PointInTime of the one it resumes
            records.set_point_in_time(record)
        try:
            records.put_execution_waves(record, resolution.waves)
        except RecordEndedError:
            raise ExecutionStoppedWhilePreparingError(
                f"Execution {execution_id} was stopped while it was being prepared; nothing was launched and its "
                "locks are released"
            ) from None
    except Exception:
        locks.release_execution(execution_id, taken)
        raise
    return _prepared(record, plan, request.ExecutionType, options)


def _resume(  # noqa: PLR0917 - the execution's parts Prepare holds, each used
    previous_id: str,
    plan: RecoveryPlan,
    mode: ExecutionMode,
    resolution: Resolution,
    execution_id: str,
    record: ExecutionRecord,
) -> list[str]:
    """Mark what the execution it resumes did (skipped waves, servers launched before), or say why it cannot."""
    if resolution.problems:
        return []  # the plan itself must be fixed first; the resume is checked on the next start
    earlier, problems = resume.earlier_execution(previous_id, plan, mode, execution_id)
    if earlier is None or problems:
        return problems
    kept = recovery_points.resumed_point_in_time(earlier, record.PointInTime)
    if isinstance(kept, str):
        return [kept]
    record.PointInTime = kept
    resumed = resume.resume_from(earlier, resolution.waves, resolution.inventory, plan, resolution.ended_jobs)
    if resumed.problems:
        return resumed.problems
    claimed = resume.claim(earlier, execution_id)  # last: only a resume that will run holds the earlier execution
    if not claimed:
        resume.apply(resumed, resolution.waves)
        if record.PointInTime is not None:
            recovery_points.keep_choices(earlier.ExecutionId, resolution.waves)
    return claimed


def _prepared(record: ExecutionRecord, plan: RecoveryPlan, mode: ExecutionMode, options: RunOptions) -> Prepared:
    runbooks = {
        number: (
            [s.model_dump(exclude_none=True) for s in wave.Before],
            [s.model_dump(exclude_none=True) for s in wave.After],
        )
        for number, wave in enumerate(plan.Waves, start=1)
    }
    return Prepared(
        ExecutionId=record.ExecutionId,
        PlanId=record.PlanId,
        ExecutionType=mode,
        Options=options,
        EventBudgetPerWave=polling.wave_event_budget(
            len(record.Waves),
            plan.runbook_step_count(),
            plan.health_check_count(),
            cleanup=record.Cleanup is not None,
        ),
        WavesEndBy=deadline.waves_end_by(record.StartTime, None if record.Cleanup is None else options.DrillCleanup),
        Waves=[
            WaveRef(
                WaveNumber=w.WaveNumber,
                WaveName=w.WaveName,
                Before=runbooks[w.WaveNumber][0],
                After=runbooks[w.WaveNumber][1],
            )
            for w in record.Waves
            if w.Status != "SKIPPED"  # a wave the execution it resumes completed
        ],
        ServerCount=sum(w.ServerCount for w in record.Waves),
        Locking=LockProgress(
            WaveCount=len(record.Waves),
            Done=not record.Waves,
            PointInTime=record.PointInTime,
            MaxSnapshotSkewSeconds=round(options.MaxSnapshotSkewMinutes * 60) if record.PointInTime else None,
        ),
        Warnings=record.Warnings,
    )


def _bounded(warnings: list[str]) -> list[str]:
    """At most WARNINGS_MAX lines of at most WARNING_MAX_BYTES each: the record's size must not grow with the plan."""
    kept = warnings if len(warnings) <= records.WARNINGS_MAX else warnings[: records.WARNINGS_MAX - 1]
    lines = [records.truncate(w, records.WARNING_MAX_BYTES) for w in kept]
    if len(kept) < len(warnings):
        lines.append(f"... and {len(warnings) - len(kept)} more warnings of the same kinds")
    return lines


def _raise_conflict_if_locked(server_locks: list[str], execution_id: str, plan_id: str, problems: list[str]) -> None:
    """Servers another of our executions is launching: say which execution (that beats "busy in a DRS job")."""
    held = [holder for holder in locks.holders_of(server_locks, execution_id) if not locks.holder_ended(holder)]
    busy = [p for p in problems if "already in an active DRS launch job" in p]
    if held and busy and len(busy) == len(problems):
        first = held[0]
        servers = [str(h["LockId"]).rsplit("#", 1)[-1] for h in held]
        raise ExecutionConflictError(
            f"Server(s) {listed(servers, 5)} of plan {plan_id!r} are being launched by execution "
            f"{first['ExecutionId']} (plan {first['PlanId']!r}). One execution at a time may launch a server. "
            "What to do: wait for that execution to end, or stop it (its record then ends CANCELLED and its locks "
            "are released), then start again."
        )


def resolve_waves(plan: RecoveryPlan, options: RunOptions, mode: ExecutionMode, now: int) -> Resolution:
    """Each wave's servers, checked against DRS in their accounts and Regions, with every problem and warning found.

    First the pre-flight of each account: its member role can be assumed, DRS answers in each of its Regions. Then
    one paginated DescribeSourceServers listing per (account, Region) serves every wave and check, so the cost does
    not grow with the number of waves; one DescribeJobs listing per (account, Region) counts the capacity other jobs
    hold.
    """
    resolution = Resolution()
    targets = sorted({_target(group) for wave in plan.Waves for group in plan.groups_of(wave)})
    refused = _preflight(plan, targets, resolution.problems)
    listed = {
        target: _list_servers(plan, target, resolution.problems) for target in targets if target.account not in refused
    }
    # a (account, Region) DRS refused to list is unreachable: its servers are not each reported missing as well
    inventory = {
        target: {s["sourceServerID"]: s for s in servers} for target, servers in listed.items() if servers is not None
    }
    resolution.inventory = inventory
    resolution.ended_jobs = last_launch.ended_jobs(inventory)
    unreachable = {t for t in targets if t.account in refused} | {t for t in targets if t not in inventory}
    placed: dict[str, str] = {}
    degraded: list[tuple[str, Target, dict[str, Any]]] = []
    for number, wave in enumerate(plan.Waves, start=1):
        where = f"plan {plan.PlanId!r}, wave {number} ({wave.WaveName!r})"
        servers: list[ServerRecord] = []
        for group, server_ids in _wave_servers(plan, wave, where, inventory, unreachable, resolution.problems):
            target = _target(group)
            known = inventory.get(target, {})
            for server_id in server_ids:
                server = known.get(server_id)
                if target not in unreachable:
                    resolution.problems.extend(
                        _server_problems(where, group, target, server_id, server, inventory, resolution.ended_jobs)
                    )
                if server is not None:
                    state_problem, state_warning = _replication(where, server_id, server, mode, options)
                    resolution.problems.extend(state_problem)
                    if state_warning:
                        degraded.append((where, target, server))
                if server_id in placed:
                    resolution.problems.append(
                        f"{where}: server {server_id} is also in {placed[server_id]}; keep it in one wave"
                    )
                placed.setdefault(server_id, f"wave {number} ({wave.WaveName!r})")
                servers.append(
                    ServerRecord(
                        SourceServerId=server_id,
                        Impact=wave.ServerImpact.get(server_id),
                        Hostname=_hostname(server),
                        Account=target.account,
                        Region=target.region,
                    )
                )
        launched = {s.SourceServerId for s in servers}
        for server_id in wave.ServerImpact:
            if server_id not in launched:
                resolution.problems.append(
                    f"{where}: ServerImpact names {server_id}, which the wave does not launch; remove it"
                )
        groups = plan.groups_of(wave)
        record = WaveRecord(
            WaveNumber=number,
            WaveName=wave.WaveName,
            ProtectionGroupId=",".join(g.GroupId for g in groups),
            Region=",".join(sorted({g.Region for g in groups})),
            Impact=wave.Impact,
            Servers=servers,
        )
        for target, in_target in record.targets().items():
            resolution.problems.extend(_quota_problems(where, target, len(in_target), options))
        resolution.waves.append(record)
    resolution.warnings.extend(_replication_warnings(degraded))
    resolution.warnings.extend(replication_quota_warnings(plan.PlanId, resolution.waves))
    if not resolution.problems:
        resolution.warnings.extend(_capacity_warnings(resolution.waves, options, now))
    return resolution


def _target(group: ProtectionGroup) -> Target:
    return Target(accounts.account_of(group.Account), group.Region)


def _preflight(plan: RecoveryPlan, targets: list[Target], problems: list[str]) -> set[str]:
    """Assume each member account's role once (the stack's own account needs none). Returns the accounts whose role
    could not be assumed, each named in `problems` with the role and the fix; a transient error propagates (the
    state machine retries Prepare)."""
    refused: set[str] = set()
    for account in sorted({target.account for target in targets}):
        try:
            accounts.check_role(account)
        except Exception as error:
            failure = classify(error)
            if failure is None or failure.kind == "transient":
                raise
            refused.add(account)
            problems.append(f"plan {plan.PlanId!r}: " + explain.role_refused(account, failure))
    return refused


def _list_servers(plan: RecoveryPlan, target: Target, problems: list[str]) -> list[dict[str, Any]] | None:
    """Every source server of the (account, Region). A refusal that waiting cannot fix (access denied, DRS not
    initialized) is a problem naming the account, Region and fix, and None; transient errors propagate, and the
    state machine retries Prepare."""
    try:
        return drs.describe_source_servers(target)
    except Exception as error:
        failure = classify(error)
        if failure is None or failure.kind == "transient":
            raise
        problems.append(
            f"plan {plan.PlanId!r} could not be checked in DRS in {target}, so nothing was launched. "
            + permanent_failure(failure, operation="DescribeSourceServers", function="prepare", **explain.where(target))
        )
        return None


def _named(target: Target) -> str:
    """A target as messages name it: its Region, with the account when it is not the stack's own."""
    return explain.where(target)["region"]


def _wave_servers(  # noqa: PLR0917 - what Prepare resolved so far, each used
    plan: RecoveryPlan,
    wave: Wave,
    where: str,
    inventory: dict[Target, dict[str, dict[str, Any]]],
    unreachable: set[Target],
    problems: list[str],
) -> list[tuple[ProtectionGroup, list[str]]]:
    """Each of the wave's groups with its server IDs in this wave: the wave's ServerIds that belong to the group (or
    all of the group's), resolved by tags for a selector group."""
    picked: list[tuple[ProtectionGroup, list[str]]] = []
    wanted = wave.ServerIds
    claimed: set[str] = set()
    for group in plan.groups_of(wave):
        target = _target(group)
        if group.Selector is None:
            members = list(group.SourceServerIds or [])
        elif target in unreachable:
            members = []
        else:
            members = _selected(group, target, inventory.get(target, {}), where, problems)
        chosen = [s for s in wanted if s in members] if wanted is not None else members
        claimed.update(chosen)
        picked.append((group, chosen))
    for missing in [s for s in wanted or [] if s not in claimed]:
        if any(_target(g) in unreachable for g in plan.groups_of(wave)):
            continue
        names = ", ".join(repr(g.GroupId) for g in plan.groups_of(wave))
        problems.append(
            f"{where}: server {missing} does not carry the tags of protection group(s) {names}; tag it in DRS or "
            "remove it from the wave"
        )
    return picked


def _selected(
    group: ProtectionGroup,
    target: Target,
    known: dict[str, dict[str, Any]],
    where: str,
    problems: list[str],
) -> list[str]:
    wanted = group.Selector.Tags if group.Selector is not None else {}
    selected = [
        server_id
        for server_id, server in known.items()
        if all(server.get("tags", {}).get(key) == value for key, value in wanted.items())
    ]
    if not selected:
        problems.append(
            f"{where}: protection group {group.GroupId!r} selects no source server in {_named(target)} "
            f"(tags {wanted}); fix the tags, the Region or the Account"
        )
    return selected


def _hostname(server: dict[str, Any] | None) -> str | None:
    """The source server's hostname as DRS identifies it (for the runbook hooks' event and the report)."""
    hints = ((server or {}).get("sourceProperties") or {}).get("identificationHints") or {}
    hostname = hints.get("hostname") or hints.get("fqdn")
    return str(hostname)[: records.HOSTNAME_MAX] if hostname else None


def _server_problems(  # noqa: PLR0917 - the server, where it is, and what DRS listed
    where: str,
    group: ProtectionGroup,
    target: Target,
    server_id: str,
    server: dict[str, Any] | None,
    inventory: dict[Target, dict[str, dict[str, Any]]],
    ended_jobs: set[str],
) -> list[str]:
    """What stops one server from being launched: unknown in its account's DRS, or busy in another job (its last
    launch unfinished in a job that has not ended)."""
    if server is None:
        elsewhere = [str(t) for t, known in inventory.items() if t != target and server_id in known]
        seen = f" (DRS lists it in {', '.join(elsewhere)})" if elsewhere else ""
        return [
            f"{where}: server {server_id} is not a DRS source server in {_named(target)}{seen}; check the ID, the "
            f"Region and the Account of protection group {group.GroupId!r}"
        ]
    last = last_launch.of(server)
    if last_launch.still_launching(last, ended_jobs):
        job = last_launch.job_of(last) or "?"
        return [
            f"{where}: server {server_id} is already in an active DRS launch job ({job}); wait for that job to "
            "finish (DescribeJobs) before starting this plan"
        ]
    return []


def _replication(
    where: str, server_id: str, server: dict[str, Any], mode: ExecutionMode, options: RunOptions
) -> tuple[list[str], bool]:
    """(problems, needs a warning) for a server's dataReplicationState in this mode."""
    info = server.get("dataReplicationInfo", {})
    state = info.get("dataReplicationState", "UNKNOWN")
    if state in HEALTHY:
        return [], False
    if state in TRANSIENT_STATES:
        return [], True
    if state in DEGRADED_STATES:
        if mode == "RECOVERY" or options.AllowUnhealthyReplication:
            return [], True
        return [
            f"{where}: server {server_id} is not replicating (dataReplicationState {state}, lag "
            f"{info.get('lagDuration', 'unknown')}); a drill would launch it from stale data. Restore replication, "
            "remove the server from the wave, or set Options.AllowUnhealthyReplication to drill from its last "
            "snapshot"
        ], False
    return [
        f"{where}: server {server_id} has no complete recovery point (dataReplicationState {state}); no drill or "
        "recovery can launch it. Wait for its initial sync to finish (or restart replication), or remove it from "
        "the wave"
    ], False


def _replication_warnings(degraded: list[tuple[str, Target, dict[str, Any]]]) -> list[str]:
    """One line per server launched with replication not CONTINUOUS: its state, lag and last snapshot time."""
    warnings = []
    for index, (where, target, server) in enumerate(degraded):
        info = server.get("dataReplicationInfo", {})
        state = info.get("dataReplicationState")
        server_id = server["sourceServerID"]
        point = "it launches from its last recovery snapshot"
        if index < SNAPSHOT_LOOKUPS_MAX:
            try:
                snapshot = drs.latest_snapshot_time(target, server_id)
                point = (
                    f"it launches from its last recovery snapshot, taken {snapshot}"
                    if snapshot
                    else "DRS lists no recovery snapshot for it: its launch may fail"
                )
            except Exception as error:  # noqa: BLE001 - a warning's detail must not stop the execution
                point = f"its last recovery snapshot could not be looked up ({type(error).__name__})"
        kind = "is catching up" if state in TRANSIENT_STATES else "is not replicating"
        warnings.append(
            f"{where}: server {server_id} {kind} (dataReplicationState {state}, lag "
            f"{info.get('lagDuration', 'unknown')}): {point}"
        )
    return warnings


def replication_quota_warnings(plan_id: str, waves: list[WaveRecord]) -> list[str]:
    """An (account, Region) holding more of the plan's servers than DRS replicates there (300 per account and
    Region, AWS's multi-account guidance): such an estate needs more staging accounts."""
    counts: dict[Target, int] = defaultdict(int)
    for wave in waves:
        for target, servers in wave.targets().items():
            counts[target] += len(servers)
    return replication_quota_lines(plan_id, counts)


def listed_servers_per_target(plan: RecoveryPlan) -> dict[Target, int]:
    """The servers the plan's waves launch per (account, Region), counted from the plan alone: the groups that list
    their servers (SourceServerIds; a tag selector's are known only to DRS). `plan validate` says what it finds
    before it asks DRS anything, so a plan too large for its accounts is told so even when DRS cannot be reached."""
    placed: dict[Target, set[str]] = defaultdict(set)
    defined = {group.GroupId for group in plan.ProtectionGroups}
    for wave in plan.Waves:
        if any(group_id not in defined for group_id in wave.group_ids):
            continue  # a static problem of its own
        for group in plan.groups_of(wave):
            chosen = [s for s in group.SourceServerIds or [] if wave.ServerIds is None or s in wave.ServerIds]
            placed[_target(group)].update(chosen)
    return {target: len(servers) for target, servers in placed.items()}


def replication_quota_lines(plan_id: str, counts: dict[Target, int]) -> list[str]:
    return [
        f"plan {plan_id!r}: {count} of its servers are in {target}, more than the {REPLICATING_SERVERS_PER_ACCOUNT} "
        "source servers DRS replicates per account and Region; spread them over more staging accounts "
        "(ProtectionGroups[].Account)"
        for target, count in sorted(counts.items())
        if count > REPLICATING_SERVERS_PER_ACCOUNT
    ]


def _quota_problems(where: str, target: Target, servers: int, options: RunOptions) -> list[str]:
    """A wave starts all its servers at once: in each (account, Region) they must fit its DRS quotas, even split
    into jobs."""
    quotas = options.quotas_for(target.account)
    jobs = math.ceil(servers / quotas.servers_per_job)
    override = f"Options.Quotas[{target.account!r}]"
    problems = []
    if jobs > quotas.concurrent_jobs:
        problems.append(
            f"{where}: its {servers} servers in {target} need {jobs} DRS jobs of at most {quotas.servers_per_job} "
            f"servers, more than the {quotas.concurrent_jobs} concurrent jobs DRS allows there "
            f"(Options.MaxConcurrentJobs, or {override}); split the wave, or raise MaxServersPerJob up to the DRS "
            "limit"
        )
    if servers > quotas.servers_in_active_jobs:
        problems.append(
            f"{where}: its {servers} servers in {target} exceed the {quotas.servers_in_active_jobs} servers DRS "
            f"allows in active jobs there at once (Options.MaxServersInActiveJobs, or {override}); split the wave"
        )
    return problems


def _capacity_warnings(waves: list[WaveRecord], options: RunOptions, now: int) -> list[str]:
    """Waves that cannot start at once because other jobs (of any tool) hold an (account, Region)'s DRS quotas."""
    by_target: dict[Target, list[tuple[WaveRecord, int]]] = defaultdict(list)
    for wave in waves:
        for target, servers in wave.targets().items():
            by_target[target].append((wave, len(servers)))
    warnings = []
    for target, target_waves in sorted(by_target.items()):
        quotas = options.quotas_for(target.account)
        try:
            jobs = drs.jobs_since(target, now - CAPACITY_WINDOW_SECONDS)
        except Exception as error:  # noqa: BLE001 - the pre-flight warns; the waves themselves wait for capacity
            warnings.append(f"{target}: could not count the active DRS jobs ({type(error).__name__})")
            continue
        active = [job for job in jobs if job.get("status") in ("PENDING", "STARTED")]
        busy = sum(len(job.get("participatingServers", [])) for job in active if job.get("type") == "LAUNCH")
        for wave, count in target_waves:
            needed_jobs = math.ceil(count / quotas.servers_per_job)
            if len(active) + needed_jobs > quotas.concurrent_jobs or busy + count > quotas.servers_in_active_jobs:
                warnings.append(
                    f"wave {wave.WaveNumber} ({wave.WaveName!r}) needs {needed_jobs} DRS job(s) for {count} "
                    f"server(s) in {target}, but {len(active)} of {quotas.concurrent_jobs} jobs and {busy} of "
                    f"{quotas.servers_in_active_jobs} servers are in active jobs there now: unless they end first, "
                    "its servers there will wait for DRS capacity (up to Options.WaveTimeoutMinutes)"
                )
    return warnings
