"""A whole rehearsal: load the plan into the tables, start it by PlanId as in AWS, wait, and report."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from drsctl.emulator import Scenario
from drsctl.local import figures
from drsctl.local.engine import Invocation
from drsctl.local.figures import Report
from drsctl.local.rehearsal import STOPPED, TERMINAL, LocalAws, local_aws
from drsctl.report import activity as activity_facts
from drsctl.report import audit, judge, rpo
from drsctl.report import history as history_facts
from drsctl.report.rpo import iso8601
from lambdas.core import accounts, drs, records
from lambdas.core.finish import plan_id_of
from lambdas.core.plan import RecoveryPlan, recovery_confirmation
from lambdas.core.resume import RESUMABLE_STATUSES

Mode = Literal["DRILL", "RECOVERY"]


@dataclass(frozen=True)
class ProgressEvent:
    """Something an operator watching the rehearsal wants to see, stamped with virtual seconds since the start."""

    elapsed: float
    step: str  # "prepared", "wave started", "wave checked", "runbook step", "health checked", "finished"
    wave: int | None
    detail: dict[str, Any]


ProgressListener = Callable[[ProgressEvent], None]


def execution_input(plan: RecoveryPlan, mode: Mode, point_in_time: str | None = None) -> dict[str, Any]:
    """What StartExecution gets; a rehearsed RECOVERY carries the confirmation an operator would type."""
    started: dict[str, Any] = {"PlanId": plan.PlanId, "ExecutionType": mode}
    if mode == "RECOVERY":
        started["Confirm"] = recovery_confirmation(plan.PlanId)
    if point_in_time is not None:
        started["PointInTime"] = point_in_time
    return started


def rehearse(
    plan: RecoveryPlan,
    scenario: Scenario,
    mode: Mode = "DRILL",
    *,
    definition: str | None = None,
    execution_id: str | None = None,
    on_progress: ProgressListener | None = None,
    resume: bool = False,
    on_first_end: Callable[[Report], None] | None = None,
    point_in_time: str | None = None,
) -> Report:
    """Rehearse `plan` against `scenario` and return its figures.

    With `resume`, an execution that ends FAILED, TIMED_OUT, CANCELLED or PARTIAL is followed by its resume, as an
    operator runs it once the cause is fixed: the scenario's server faults are cleared (the fix), and a second
    execution with ResumeFrom runs what the first did not. Its report is returned (`resumedFrom` names the first);
    `on_first_end` gets the first's.
    """
    wall_started = time.perf_counter()
    with local_aws(scenario, definition) as aws:
        aws.load_plan(plan)
        name = execution_id or f"rehearsal-{plan.PlanId}-{mode.lower()}"
        started_at = [aws.clock.now()]  # progress counts from the start of the execution it is about
        if on_progress is not None:
            aws.engine.listeners.append(_progress_bridge(aws, started_at, on_progress))
        first = _execute(aws, execution_input(plan, mode, point_in_time), name, mode, wall_started)
        if not resume or first.status not in RESUMABLE_STATUSES:
            return first
        if on_first_end is not None:
            on_first_end(first)
        aws.drs.repair_servers()
        resumed_input = {**execution_input(plan, mode), "ResumeFrom": name}
        started_at[0] = aws.clock.now()  # the resume's progress from its own start, as its timeline table counts
        return _execute(aws, resumed_input, f"{name}-resumed"[:80], mode, time.perf_counter())


def _recovery_points(aws: LocalAws, waves: list[records.WaveRecord]) -> dict[str, float]:
    """Each launched server's recovery point. The emulator knows the snapshot every instance was launched from, even
    once a drill cleanup terminated it (DRS then no longer lists the instance, and its job log tells only the
    launch's own snapshot, which would flatter the RPO); DRS's answers are the fallback."""
    launched = rpo.launched(waves)
    known = {instance.id: instance.snapshot_at for instance in aws.drs.ec2_instances.values()}
    points = {s.source_server_id: known[s.recovery_instance_id] for s in launched if s.recovery_instance_id in known}
    rest = [s for s in launched if s.source_server_id not in points]
    points.update(rpo.recovery_points(rest, lambda target: accounts.client("drs", target, drs.READ_CONFIG)))
    return points


def _execute(aws: LocalAws, started: dict[str, Any], name: str, mode: str, wall_started: float) -> Report:
    calls_before = dict(aws.drs.calls)  # the emulator counts for the whole stage: a resume reports its own calls
    arn = aws.start_execution(started, name)
    described = aws.wait(arn)
    if described["status"] in STOPPED:
        aws.deliver_status_change(described)  # as the EventBridge rule does in AWS
    return report(aws, described, name, mode, wall_started, calls_before=calls_before)


def report(
    aws: LocalAws,
    described: dict[str, Any],
    execution_id: str,
    mode: str,
    wall_started: float,
    *,
    calls_before: dict[str, int] | None = None,
) -> Report:
    history = aws.history(described["executionArn"])
    plan_id = plan_id_of(json.loads(described.get("input") or "{}"))
    record = aws.record(execution_id, plan_id)
    start = described["startDate"].timestamp()
    stop = described.get("stopDate", described["startDate"]).timestamp()
    jobs = figures.execution_jobs(aws.drs, execution_id)
    waves = records.execution_waves(execution_id)
    # DRS's own time plus the plan's runbook steps (its waits, hooks and approvals): what no workflow could shorten
    critical = figures.critical_path_seconds(jobs, stop) + figures.runbook_seconds(waves, stop)
    critical += figures.cleanup_seconds(record, stop)
    makespan = stop - start
    invocations: list[Invocation] = aws.engine.invocations
    longest_wall = max((i.seconds for i in invocations), default=0.0)
    drs_calls, start_recovery_calls = sum(aws.drs.calls.values()), aws.drs.calls["StartRecovery"]
    # The report's own reads (the definition, the recovery points) come after the figures they must not change.
    definition = aws.client("stepfunctions").describe_state_machine_for_execution(
        executionArn=described["executionArn"]
    )["definition"]
    points = _recovery_points(aws, waves)
    plan_name = records.load_plan(plan_id).get("Name") if plan_id else None
    # The record as stored (fields newer writers add, PlanVersion, StartedBy, CancelledBy, are read as they are)
    item = records.from_item(
        records.table(records.EXECUTION_HISTORY_TABLE)
        .get_item(Key={"ExecutionId": execution_id, "PlanId": plan_id}, ConsistentRead=True)
        .get("Item", {})
    )
    facts = audit.execution_facts(item, stop if described["status"] in TERMINAL else None)
    started_by, started_by_source = audit.started_by(facts.pop("startedBy"), rehearsal=rehearsal_principal())
    activity = activity_facts.count(history)
    return Report(
        status=record.Status,
        executionId=execution_id,
        mode=mode,
        stepFunctionsStatus=described["status"],
        stepFunctionsError=described.get("error"),
        errorMessage=record.ErrorMessage,
        makespanSeconds=round(makespan, 1),
        criticalPathSeconds=round(critical, 1),
        overheadRatio=round(makespan / critical, 4) if critical > 0 else None,
        maxLambdaSeconds=round(longest_wall, 4),
        lambdaInvocations=len(invocations),
        historyEvents=len(history),
        historyEventsTotal=len(history),  # one execution: the waves run inline, no child executions
        stateTransitions=figures.state_transitions(history),
        maxPayloadBytes=figures.max_payload_bytes(history),
        drsApiCalls=drs_calls - sum((calls_before or {}).values()),
        startRecoveryCalls=start_recovery_calls - (calls_before or {}).get("StartRecovery", 0),
        launchesPerServerMax=figures.launches_per_server_max(jobs),
        wallSeconds=round(time.perf_counter() - wall_started, 2),
        maxItemBytes=aws.engine.max_item_bytes,
        maxItemTable=aws.engine.max_item_table,
        # Wall plus slept time is never less than wall time; the wall figure is taken a moment later (after the
        # invocation's bookkeeping), so without the max a loaded machine could report virtual < wall.
        maxLambdaVirtualSeconds=round(max(aws.engine.max_virtual_seconds, longest_wall), 4),
        waves=figures.wave_figures(waves, jobs, start, figures.hostnames(aws.drs), points, activity=activity),
        warnings=record.Warnings,
        cleanup=figures.cleanup_figures(record, aws.drs, start),
        resumedFrom=record.ResumedFrom,
        planId=plan_id,
        planName=record.PlanName or plan_name,
        startedBy=started_by,
        startedBySource=started_by_source,
        startTime=iso8601(start),
        endTime=iso8601(stop) if described["status"] in TERMINAL else None,
        targets=judge.targets(history_facts.resolved_options(history)),
        stateCounts=history_facts.state_counts(history),
        transitionCounts=history_facts.transition_counts(history),
        stateMachine=history_facts.state_machine_graph(definition),
        pointInTime=iso8601(record.PointInTime) if record.PointInTime is not None else None,
        snapshotSkewSeconds=record.SnapshotSkewSeconds,
        activity=activity.execution_json(),
        **facts,
        **audit.generated(),
    )


def rehearsal_principal() -> str:
    """Who started a rehearsal: the local user (a rehearsal has no AWS identity; its records name none)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown user"
    return f"drsctl rehearse ({user})"


def _progress_bridge(aws: LocalAws, started_at: list[float], listener: ProgressListener) -> Callable[..., None]:
    """Progress events for `listener`, each with the time since `started_at[0]` (the current execution's start)."""
    steps = {
        "drs-orchestrator-prepare": "prepared",
        "drs-orchestrator-start-wave": "wave started",
        "drs-orchestrator-check-wave": "wave checked",
        "drs-orchestrator-next-step": "runbook step",
        "drs-orchestrator-check-health": "health checked",
        "drs-orchestrator-finalize": "finished",
    }

    seen: dict[tuple[str, int], tuple[Any, ...]] = {}

    def on_invocation(invocation: Invocation, request: dict[str, Any], response: Any) -> None:
        if invocation.error is not None:
            detail: dict[str, Any] = {"error": invocation.error}
        else:
            detail = dict(response) if isinstance(response, dict) else {}
            wave_number = request.get("WaveNumber")
            if wave_number is not None and invocation.function.endswith(("start-wave", "check-wave")):
                # What each server looks like now, for per-server progress: read only when the step reports a
                # change (most checks see none; re-reading a 2,000-server wave after each was most of the wall time).
                key = (request["ExecutionId"], wave_number)
                state = (
                    detail.get("Status"),
                    detail.get("Fingerprint"),
                    detail.get("Launched"),
                    str(detail.get("Jobs")),
                )
                if seen.get(key) != state:
                    seen[key] = state
                    wave = records.find_wave(request["ExecutionId"], wave_number)
                    detail["ServerStates"] = (
                        {s.SourceServerId: (s.Status, s.InstanceId, s.Error) for s in wave.Servers} if wave else {}
                    )
        listener(
            ProgressEvent(
                elapsed=aws.clock.now() - started_at[0],
                step=steps.get(invocation.function, invocation.function),
                wave=request.get("WaveNumber"),
                detail=detail,
            )
        )

    return on_invocation
