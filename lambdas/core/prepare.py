"""Prepare an execution: load and validate the plan, resolve its servers in DRS, and open the execution record.

Everything that can be checked before a launch is checked here, and every problem is reported at once, each naming
the plan, wave and server and what to do. Nothing is launched by this step.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, locks, polling, records
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import ExecutionMode, RecoveryPlan, RunOptions, Wave, parse_execution_input, parse_plan
from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord


class WaveRef(BaseModel):
    """A wave as the Map state iterates it: IDs only, the servers stay in the record."""

    model_config = ConfigDict(extra="forbid")

    WaveNumber: int
    WaveName: str


class Prepared(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ExecutionId: str
    PlanId: str
    ExecutionType: ExecutionMode
    Options: RunOptions
    EventBudgetPerWave: int
    Waves: list[WaveRef]
    ServerCount: int


def prepare(*, raw_input: Any, execution_id: str, execution_arn: str | None, now: int) -> Prepared:
    request = parse_execution_input(raw_input)
    request.check_confirmation()  # before anything else, and before any call to DRS
    plan = parse_plan(records.load_plan(request.PlanId), "stored plan") if request.PlanId else request.Plan
    assert plan is not None
    options = RunOptions.resolve(request.ExecutionType, plan.Options, request.Options)
    record = ExecutionRecord(
        ExecutionId=execution_id,
        PlanId=plan.PlanId,
        PlanName=plan.Name,
        ExecutionType=request.ExecutionType,
        ExecutionArn=execution_arn,
        Status="PENDING",
        StartTime=now,
    )
    records.put_execution(record)
    # The plan's lock first: a second start of a running plan fails fast, naming the execution that runs it.
    plan_locks = [locks.plan_lock(plan.PlanId)]
    locks.acquire(plan_locks, execution_id=execution_id, plan_id=plan.PlanId, now=now)
    try:
        record.Waves, problems = resolve_waves(plan, options)
        if len(record.Waves) > polling.max_waves():
            problems.append(
                f"plan {plan.PlanId!r} has {len(record.Waves)} waves; one execution's history holds at most "
                f"{polling.max_waves()} with room to check each wave. Split the plan into several plans."
            )
        # Servers locked by another of our executions: name it (that beats "already in an active job").
        server_locks = locks.locks_for(
            plan.PlanId, ((w.Region, s.SourceServerId) for w in record.Waves for s in w.Servers)
        )[1:]
        locks.acquire(server_locks, execution_id=execution_id, plan_id=plan.PlanId, now=now)
        plan_locks += server_locks
        if problems:
            raise PlanValidationError(problems)
    except Exception:
        locks.release(plan_locks, execution_id=execution_id)
        raise
    record.Status = "POLLING"
    records.put_execution_waves(record)
    return Prepared(
        ExecutionId=execution_id,
        PlanId=plan.PlanId,
        ExecutionType=request.ExecutionType,
        Options=options,
        EventBudgetPerWave=polling.wave_event_budget(len(record.Waves)),
        Waves=[WaveRef(WaveNumber=w.WaveNumber, WaveName=w.WaveName) for w in record.Waves],
        ServerCount=sum(len(w.Servers) for w in record.Waves),
    )


def resolve_waves(plan: RecoveryPlan, options: RunOptions) -> tuple[list[WaveRecord], list[str]]:
    """Each wave's servers, checked against DRS in the group's region, and every problem found."""
    problems: list[str] = []
    waves: list[WaveRecord] = []
    placed: dict[str, str] = {}
    for number, wave in enumerate(plan.Waves, start=1):
        where = f"plan {plan.PlanId!r}, wave {number} ({wave.WaveName!r})"
        group = plan.group(wave.ProtectionGroupId)
        server_ids = _wave_servers(plan, wave, where, problems)
        found = {s["sourceServerID"]: s for s in drs.describe_source_servers(group.Region, server_ids)}
        for server_id in server_ids:
            problems.extend(_server_problems(where, group.GroupId, group.Region, server_id, found.get(server_id)))
            if server_id in placed:
                problems.append(f"{where}: server {server_id} is also in {placed[server_id]}; keep it in one wave")
            placed.setdefault(server_id, f"wave {number} ({wave.WaveName!r})")
        problems.extend(_quota_problems(where, len(server_ids), options))
        for server_id in wave.ServerImpact:
            if server_id not in server_ids:
                problems.append(f"{where}: ServerImpact names {server_id}, which the wave does not launch; remove it")
        waves.append(
            WaveRecord(
                WaveNumber=number,
                WaveName=wave.WaveName,
                ProtectionGroupId=group.GroupId,
                Region=group.Region,
                Impact=wave.Impact,
                ServerImpact=dict(wave.ServerImpact),
                Servers=[ServerRecord(SourceServerId=s) for s in server_ids],
            )
        )
    return waves, problems


def _wave_servers(plan: RecoveryPlan, wave: Wave, where: str, problems: list[str]) -> list[str]:
    """The wave's server IDs: its ServerIds, or its group's servers (resolved by tags for a selector group)."""
    group = plan.group(wave.ProtectionGroupId)
    if group.Selector is None:
        return list(wave.ServerIds or group.SourceServerIds or [])
    selected = [s["sourceServerID"] for s in drs.servers_with_tags(group.Region, group.Selector.Tags)]
    if not selected:
        problems.append(
            f"{where}: protection group {group.GroupId!r} selects no source server in {group.Region} "
            f"(tags {group.Selector.Tags}); fix the tags or the Region"
        )
    for missing in sorted(set(wave.ServerIds or []) - set(selected)):
        problems.append(
            f"{where}: server {missing} does not carry the tags of protection group {group.GroupId!r}; "
            "tag it in DRS or remove it from the wave"
        )
    return [s for s in wave.ServerIds or selected if s in selected]


def _server_problems(
    where: str, group_id: str, region: str, server_id: str, server: dict[str, Any] | None
) -> list[str]:
    """What stops one server from being launched: unknown in DRS, not replicating, or busy in another job."""
    if server is None:
        return [
            f"{where}: server {server_id} is not a DRS source server in {region}; check the ID and the Region of "
            f"protection group {group_id!r}"
        ]
    problems = []
    state = server.get("dataReplicationInfo", {}).get("dataReplicationState", "UNKNOWN")
    if state != "CONTINUOUS":
        problems.append(
            f"{where}: server {server_id} is not replicating (dataReplicationState {state}); its data may be "
            "stale. Restore replication in DRS, or remove the server from the wave"
        )
    last_launch = server.get("lifeCycle", {}).get("lastLaunch", {})
    if last_launch.get("status") in ("PENDING", "IN_PROGRESS"):
        job = last_launch.get("initiated", {}).get("jobID", "?")
        problems.append(
            f"{where}: server {server_id} is already in an active DRS launch job ({job}); wait for that job to "
            "finish (DescribeJobs) before starting this plan"
        )
    return problems


def _quota_problems(where: str, servers: int, options: RunOptions) -> list[str]:
    """A wave starts all its servers at once: it must fit in the DRS quotas even when split into jobs."""
    jobs = math.ceil(servers / options.MaxServersPerJob)
    problems = []
    if jobs > options.MaxConcurrentJobs:
        problems.append(
            f"{where}: {servers} servers need {jobs} DRS jobs of at most {options.MaxServersPerJob} servers, more "
            f"than the {options.MaxConcurrentJobs} concurrent jobs DRS allows (Options.MaxConcurrentJobs); split "
            "the wave, or raise Options.MaxServersPerJob up to the DRS limit"
        )
    if servers > options.MaxServersInActiveJobs:
        problems.append(
            f"{where}: {servers} servers exceed the {options.MaxServersInActiveJobs} servers DRS allows in active "
            "jobs at once (Options.MaxServersInActiveJobs); split the wave"
        )
    return problems
