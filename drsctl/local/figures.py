"""The figures of a rehearsed execution (docs/rehearsal.md), from the engine, the emulator and the record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from drsctl.emulator.model import DrsEmulator, Job
from drsctl.report import audit, judge
from drsctl.report.activity import Activity
from lambdas.core.records import ExecutionRecord, WaveRecord


@dataclass
class ServerFigures:
    sourceServerId: str
    status: str
    launchStatus: str | None
    recoveryInstanceId: str | None
    jobId: str | None
    startedAt: float | None
    launchedAt: float | None
    error: str | None = None  # why it did not launch: LAUNCH_FAILED, JOB_ENDED_NO_LAUNCH, WAVE_TIMEOUT, ...
    hostname: str | None = None  # the source server's hostname, as DRS reports it
    recoveryPointAt: float | None = None  # the point in time it was recovered from (drsctl/report/rpo.py)
    account: str | None = None  # the account whose DRS holds it: a server is (account, region, sourceServerId)
    region: str | None = None
    recoverySnapshotId: str | None = None  # the recovery snapshot it launched from (a point-in-time recovery)


@dataclass
class StepFigures:
    """One runbook step of a wave (lambdas/core/runbook.py)."""

    phase: str  # BEFORE or AFTER
    kind: str  # Lambda, Approval, Wait
    name: str
    status: str  # SUCCEEDED, FAILED, TIMED_OUT, REJECTED, or RUNNING when the execution ended during it
    startedAt: float | None
    endedAt: float | None
    detail: str | None = None
    decidedBy: str | None = None
    retries: int = 0  # its task retried (the state machine's Retry policies)
    checks: int = 0  # a health check's rounds
    # An approval's question and answer (drsctl/report/audit.py): times when someone acted are ISO 8601 UTC.
    message: str | None = None
    deadline: str | None = None
    onTimeout: str | None = None
    decision: str | None = None
    reason: str | None = None
    decidedAt: str | None = None
    approvals: list[dict[str, Any]] = field(default_factory=list)
    # A resumed execution (docs/plan-format.md, Resuming): a step taken over from the execution resumed (it ran
    # there and the runbook went past it; no times here), or how a step run again had ended there.
    ranIn: str | None = None
    previously: str | None = None


@dataclass
class WaveFigures:
    name: str
    status: str
    startedAt: float | None
    endedAt: float | None
    servers: list[ServerFigures]
    errorMessage: str | None = None
    missedChecks: int = 0
    steps: list[StepFigures] = field(default_factory=list)
    number: int = 0
    region: str | None = None
    impact: str | None = None
    jobIds: list[str] = field(default_factory=list)
    activity: dict[str, int] | None = None  # what its launch did, from the history (drsctl/report/activity.py)


@dataclass
class CleanupFigures:
    """The drill cleanup (plan Options.DrillCleanup), as the record and DRS's TERMINATE jobs tell it."""

    status: str  # COMPLETED, FAILED, KEPT, NOT_RUN (or WAITING/TERMINATING if the rehearsal ended during it)
    terminated: list[str]  # the recovery instances its TERMINATE jobs ended
    jobIds: list[str]
    startedAt: float | None  # seconds from the execution's start, like every time of the report
    endedAt: float | None
    detail: str | None = None
    afterMinutes: int | None = None  # the plan's wait after the drill ended
    waitStartedAt: float | None = None  # when the drill ended and that wait began


@dataclass
class Report:
    status: str
    executionId: str
    mode: str
    stepFunctionsStatus: str
    stepFunctionsError: str | None
    errorMessage: str | None
    makespanSeconds: float
    criticalPathSeconds: float
    overheadRatio: float | None
    maxLambdaSeconds: float
    lambdaInvocations: int
    historyEvents: int
    historyEventsTotal: int
    stateTransitions: int
    maxPayloadBytes: int
    drsApiCalls: int
    startRecoveryCalls: int
    launchesPerServerMax: int
    wallSeconds: float
    maxItemBytes: int = 0  # the largest DynamoDB item written, by DynamoDB's byte rules (the limit is 400 KB)
    maxItemTable: str | None = None
    maxLambdaVirtualSeconds: float = 0.0  # the longest invocation's wall time plus what it slept (SDK backoff)
    waves: list[WaveFigures] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cleanup: CleanupFigures | None = None
    resumedFrom: str | None = None  # the execution this one resumed (execution input ResumeFrom)
    # What the drill report adds (docs/report.md): who, when, the targets, and the path the execution took.
    source: str = "rehearsal"
    planId: str | None = None
    planName: str | None = None
    startedBy: str | None = None
    planVersion: str | None = None  # the plan it ran (lambdas/core/plan_version.py), from the record
    startTime: str | None = None  # ISO 8601, UTC
    endTime: str | None = None
    targets: dict[str, float | None] = field(default_factory=dict)
    stateCounts: dict[str, int] = field(default_factory=dict)
    transitionCounts: list[dict[str, Any]] = field(default_factory=list)
    stateMachine: dict[str, Any] | None = None
    # A point-in-time recovery (execution input PointInTime): the moment asked for (ISO 8601, UTC), and how far apart
    # the recovery snapshots chosen for it are
    pointInTime: str | None = None
    snapshotSkewSeconds: int | None = None
    # The report as audit evidence (drsctl/report/audit.py): when and by what it was built, which plan version ran,
    # who started and cancelled it (null when no record says).
    generatedAt: str | None = None
    generator: str | None = None
    startedBySource: str | None = None
    cancelledBy: str | None = None
    cancelReason: str | None = None
    cancelledAt: str | None = None
    activity: dict[str, int] | None = None  # outside the waves: lock rounds, cleanup checks, task retries

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """A report read back from its JSON: the facts only (what `to_dict` derives from them is left out)."""

        def known(kind: type, values: dict[str, Any]) -> dict[str, Any]:
            names = {f.name for f in fields(kind)}
            return {key: value for key, value in values.items() if key in names}

        waves = [
            WaveFigures(
                **{
                    **known(WaveFigures, wave),
                    "servers": [ServerFigures(**known(ServerFigures, server)) for server in wave["servers"]],
                    "steps": [StepFigures(**known(StepFigures, step)) for step in wave.get("steps", [])],
                }
            )
            for wave in data["waves"]
        ]
        cleanup = data.get("cleanup")
        return cls(
            **{
                **known(cls, data),
                "waves": waves,
                "cleanup": CleanupFigures(**known(CleanupFigures, cleanup)) if cleanup else None,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON: these facts, and what they mean against the plan's targets (drsctl/report/judge.py)."""
        return judge.complete(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"


def state_transitions(history: list[dict[str, Any]]) -> int:
    return sum(1 for event in history if event["type"].endswith("StateEntered"))


def max_payload_bytes(history: list[dict[str, Any]]) -> int:
    """The largest state input or output in the history, in bytes (the 256 KiB limit applies to each)."""
    sizes = [0]
    for event in history:
        entered = event.get("stateEnteredEventDetails", {}).get("input")
        exited = event.get("stateExitedEventDetails", {}).get("output")
        sizes.extend(len(text.encode()) for text in (entered, exited) if text)
    return max(sizes)


def execution_jobs(emulator: DrsEmulator, execution_id: str) -> list[Job]:
    return [job for job in emulator.jobs.values() if job.tags.get("ExecutionId") == execution_id]


def critical_path_seconds(jobs: list[Job], end: float) -> float:
    """Sum over waves of the slowest server's job time: what DRS itself needed, one wave after another."""
    slowest: dict[str, float] = {}
    for job in jobs:
        wave = job.tags.get("WaveNumber", "?")
        for participant in job.participants:
            took = (participant.ended_at if participant.ended_at is not None else end) - job.created_at
            slowest[wave] = max(slowest.get(wave, 0.0), took)
    return sum(slowest.values())


def runbook_seconds(waves: list[WaveRecord], end: float) -> float:
    """How long the plan's runbook steps took: the plan's own time, which the workflow adds no overhead to."""
    return sum(
        (float(step["EndedAt"]) if step.get("EndedAt") is not None else end) - float(step["StartedAt"])
        for wave in waves
        for step in wave.Steps
        if not step.get("RanIn")  # taken over by a resume: it ran in the execution resumed
    )


def hostnames(emulator: DrsEmulator) -> dict[str, str]:
    return {server_id: server.spec.hostname for (_, server_id), server in emulator.servers.items()}


def wave_figures(
    waves: list[WaveRecord],
    jobs: list[Job],
    origin: float,
    hostnames: dict[str, str] | None = None,
    recovery_points: dict[str, float] | None = None,
    *,
    activity: Activity | None = None,
) -> list[WaveFigures]:
    participants = {
        (job.id, participant.source_server_id): (job, participant) for job in jobs for participant in job.participants
    }

    def since(moment: float | None) -> float | None:
        return None if moment is None else round(moment - origin, 1)

    figures = []
    for wave in waves:
        servers = []
        for server in wave.Servers:
            job, participant = participants.get((server.RecoveryJobId or "", server.SourceServerId), (None, None))
            launched = participant.ended_at if participant and participant.launch_status == "LAUNCHED" else None
            point = server.RecoveryPointTime or (recovery_points or {}).get(server.SourceServerId)
            servers.append(
                ServerFigures(
                    sourceServerId=server.SourceServerId,
                    status=server.Status,
                    launchStatus=participant.launch_status if participant else None,
                    recoveryInstanceId=server.InstanceId,
                    jobId=server.RecoveryJobId,
                    startedAt=since(job.created_at) if job else None,
                    launchedAt=since(launched),
                    error=server.Error,
                    hostname=(hostnames or {}).get(server.SourceServerId),
                    recoveryPointAt=since(point),
                    account=server.Account,
                    region=server.Region or wave.Region,
                    recoverySnapshotId=server.RecoverySnapshotId,
                )
            )
        figures.append(
            WaveFigures(
                wave.WaveName,
                wave.Status,
                since(wave.StartTime),
                since(wave.EndTime),
                servers,
                errorMessage=wave.ErrorMessage,
                missedChecks=wave.MissedChecks,
                steps=[
                    _step(step, since, wave.WaveNumber, activity or Activity())
                    for step in sorted(wave.Steps, key=lambda s: (s["Phase"] != "BEFORE", int(s["Index"])))
                ],
                number=wave.WaveNumber,
                region=wave.Region,
                impact=wave.Impact,
                jobIds=list(wave.JobIds),
                activity=activity.wave_json(wave.WaveNumber) if activity is not None else None,
            )
        )
    return figures


def _step(step: dict[str, Any], since: Any, wave_number: int, activity: Activity) -> StepFigures:
    """A runbook step as the record keeps it, with its retries and checks from the history."""
    counts = activity.step_json(wave_number, str(step["Phase"]), int(step["Index"]))
    return StepFigures(**audit.step_facts(step, since), retries=counts["retries"], checks=counts["checks"])


def launches_per_server_max(jobs: list[Job]) -> int:
    counts: dict[str, int] = {}
    for job in jobs:
        if job.type == "LAUNCH":
            for participant in job.participants:
                counts[participant.source_server_id] = counts.get(participant.source_server_id, 0) + 1
    return max(counts.values(), default=0)


def cleanup_figures(record: ExecutionRecord, emulator: DrsEmulator, start: float) -> CleanupFigures | None:
    """The record's drill cleanup, with the instances its TERMINATE jobs ended (from the emulator)."""
    cleanup = record.Cleanup
    if cleanup is None:
        return None
    jobs = [emulator.jobs[job] for job in cleanup.JobIds if job in emulator.jobs]
    terminated = [
        p.recovery_instance_id
        for job in jobs
        for p in job.participants
        if p.launch_status == "TERMINATED" and p.recovery_instance_id
    ]
    return CleanupFigures(
        status=cleanup.Status,
        terminated=terminated,
        jobIds=list(cleanup.JobIds),
        startedAt=cleanup.StartedAt - start if cleanup.StartedAt is not None else None,
        endedAt=cleanup.EndedAt - start if cleanup.EndedAt is not None else None,
        detail=cleanup.Detail,
        afterMinutes=cleanup.AfterMinutes,
        waitStartedAt=record.EndTime - start if record.EndTime is not None else None,
    )


def cleanup_seconds(record: ExecutionRecord, stop: float) -> float:
    """How long the drill cleanup kept the execution running after the drill's end: the plan's own wait and DRS's
    terminate jobs, which no workflow could shorten (counted in the critical path, like runbook steps)."""
    if record.Cleanup is None or record.EndTime is None or record.Cleanup.Status in ("KEPT", "NOT_RUN", "PLANNED"):
        return 0.0
    return max(0.0, min(stop, record.Cleanup.EndedAt or stop) - record.EndTime)
