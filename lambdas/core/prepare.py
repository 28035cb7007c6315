"""Prepare an execution: load and validate the plan, resolve its servers in DRS, and open the execution record.

Everything that can be checked before a launch is checked here, and every problem is reported at once, each naming
the plan, wave and server and what to do. Nothing is launched by this step.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, polling, records
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan import ExecutionMode, RecoveryPlan, RunOptions, parse_execution_input, parse_plan
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
    record.Waves = resolve_waves(plan)
    if len(record.Waves) > polling.max_waves():
        raise PlanValidationError(
            [
                f"plan {plan.PlanId!r} has {len(record.Waves)} waves; one execution's history holds at most "
                f"{polling.max_waves()} with room to check each wave. Split the plan into several plans."
            ]
        )
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


def resolve_waves(plan: RecoveryPlan) -> list[WaveRecord]:
    """Each wave's servers, checked against DRS in the group's region. Raises with every problem found."""
    problems: list[str] = []
    waves: list[WaveRecord] = []
    placed: dict[str, str] = {}
    for number, wave in enumerate(plan.Waves, start=1):
        where = f"plan {plan.PlanId!r}, wave {number} ({wave.WaveName!r})"
        group = plan.group(wave.ProtectionGroupId)
        if group.Selector is not None:
            selected = [s["sourceServerID"] for s in drs.servers_with_tags(group.Region, group.Selector.Tags)]
            if not selected:
                problems.append(
                    f"{where}: protection group {group.GroupId!r} selects no source server in {group.Region} "
                    f"(tags {group.Selector.Tags}); fix the tags or the Region"
                )
            server_ids = [s for s in wave.ServerIds or selected if not wave.ServerIds or s in selected]
            for missing in sorted(set(wave.ServerIds or []) - set(selected)):
                problems.append(
                    f"{where}: server {missing} does not carry the tags of protection group {group.GroupId!r}; "
                    "tag it in DRS or remove it from the wave"
                )
        else:
            server_ids = list(wave.ServerIds or group.SourceServerIds or [])
        found = {s["sourceServerID"]: s for s in drs.describe_source_servers(group.Region, server_ids)}
        for server_id in server_ids:
            server = found.get(server_id)
            if server is None:
                problems.append(
                    f"{where}: server {server_id} is not a DRS source server in {group.Region}; check the ID and "
                    f"the Region of protection group {group.GroupId!r}"
                )
                continue
            state = server.get("dataReplicationInfo", {}).get("dataReplicationState", "UNKNOWN")
            if state != "CONTINUOUS":
                problems.append(
                    f"{where}: server {server_id} is not replicating (dataReplicationState {state}); its data may "
                    "be stale. Restore replication in DRS, or remove the server from the wave"
                )
            if server_id in placed:
                problems.append(f"{where}: server {server_id} is also in {placed[server_id]}; keep it in one wave")
            placed.setdefault(server_id, f"wave {number} ({wave.WaveName!r})")
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
    if problems:
        raise PlanValidationError(problems)
    return waves
