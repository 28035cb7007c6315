"""Check health: is every server a wave launched healthy yet? One bounded look per call (docs/plan-format.md,
HealthCheck steps).

A HealthCheck step (After a wave only) runs as "Check health" -> "Servers healthy?" -> "Wait for health checks" in
the state machine. Each check reads what AWS says now and the wave's record, nothing else, so a retried or repeated
check gives the same answer:

- post-launch actions, from DescribeJobs of the job that launched each server (`launchActionsStatus.runs`): every run
  SUCCEEDED (or SKIPPED) is healthy, any FAILED is unhealthy (with its failureReason), IN_PROGRESS or no run yet while
  the SSM agent has been discovered is pending. No run and no SSM agent discovery is what DRS reports for a server
  without post-launch actions: healthy, and the output says so;
- EC2 status checks, from DescribeInstanceStatus (IncludeAllInstances, batches of 100, in each server's account and
  Region):
  instance and system status both ok is healthy, either impaired is unhealthy, initializing or insufficient-data is
  pending; an instance that is not running (stopped, terminated) or that EC2 does not know is unhealthy.

Only servers the wave LAUNCHED are checked, and, in a resumed execution, those it took over from the execution it
resumes (LAUNCHED_BEFORE): each judged like any other, by the job that launched it and its own instance. The step's
deadline is its StartedAt (its RUNNING record) plus TimeoutMinutes: a server still pending then is unhealthy, "not
healthy within N min". Checks come every max(30 s, TimeoutMinutes / 20), the last at the deadline, so a step makes at
most polling.HEALTH_CHECKS_MAX of them.
Throttling, 5xx and lost connections are a missed check (counted) until the deadline; a refusal (access denied, a bad
request) fails the step, naming the call. The check decides as soon as every server is decided, or one failing
server is CRITICAL (the plan stops whatever the others do), or the deadline has come.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, ec2, explain, polling, records
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import AwsFailure, classify
from lambdas.core.errors import ExecutionStoppedError, HealthCheckRefusedError
from lambdas.core.explain import listed, with_action
from lambdas.core.plan_types import ImpactLevel
from lambdas.core.steps import HealthCheckStep

State = Literal["HEALTHY", "UNHEALTHY", "PENDING"]
CheckStatus = Literal["PENDING", "HEALTHY", "UNHEALTHY"]
INTERVAL_MIN_SECONDS = 30
FAILED = "HealthCheckFailed"  # an unhealthy server failed outright (post-launch action FAILED, EC2 impaired, gone)
TIMED_OUT = "HealthCheckTimedOut"  # every unhealthy server was only not healthy in time
HEALTHY_RUN_STATUSES = ("SUCCEEDED", "SKIPPED")
PENDING_EC2_STATUSES = ("initializing", "insufficient-data", "not-applicable")
NO_ACTIONS_NOTE = "no post-launch actions configured"
T = TypeVar("T")


class HealthProgress(BaseModel):
    """What "Check health" answers (the state machine keeps it in `$.Steps.Outcome`): while PENDING, when to look
    again; once decided, the step's outcome as Next runbook step reads it (Output, or Error and Cause)."""

    model_config = ConfigDict(extra="ignore")

    Status: CheckStatus = "PENDING"
    NextCheckSeconds: int | None = None
    Checks: int = 0
    MissedChecks: int = 0
    LastError: str | None = None
    Output: str | None = None
    Error: str | None = None
    Cause: str | None = None
    Unhealthy: int | None = None
    Critical: int | None = None  # unhealthy servers whose impact (the step's Impact, else their own) is CRITICAL


@dataclass(frozen=True)
class ServerHealth:
    server: records.ServerRecord
    state: State
    reason: str | None = None
    impact: ImpactLevel = "CRITICAL"
    late: bool = False  # unhealthy only because it was still pending at the deadline

    @property
    def name(self) -> str:
        return f"{self.server.Hostname or self.server.SourceServerId} ({self.server.SourceServerId}, {self.impact})"


def check_interval(timeout_seconds: int) -> int:
    """Seconds between checks: at most HEALTH_CHECKS_PER_TIMEOUT of them in the step's timeout, never under 30 s."""
    return max(INTERVAL_MIN_SECONDS, math.ceil(timeout_seconds / polling.HEALTH_CHECKS_PER_TIMEOUT))


def post_launch_state(participant: dict[str, Any] | None) -> tuple[State, str | None]:
    """A server's post-launch actions, from its DescribeJobs participatingServers entry."""
    if participant is None:
        return "UNHEALTHY", "not found in the DRS job that launched it"
    status = participant.get("launchActionsStatus") or {}
    runs = status.get("runs") or []
    if not runs:
        if status.get("ssmAgentDiscoveryDatetime"):
            return "PENDING", "post-launch actions not started yet"
        return "HEALTHY", NO_ACTIONS_NOTE
    failed = [run for run in runs if run.get("status") == "FAILED"]
    if failed:
        reason = failed[0].get("failureReason") or "no failureReason given"
        action = (failed[0].get("action") or {}).get("name") or "a post-launch action"
        return "UNHEALTHY", f"post-launch action {action!r} FAILED: {reason}"
    if all(run.get("status") in HEALTHY_RUN_STATUSES for run in runs):
        return "HEALTHY", None
    return "PENDING", "post-launch actions still running"


def instance_state(item: dict[str, Any] | None) -> tuple[State, str | None]:
    """A recovery instance's EC2 status checks, from its DescribeInstanceStatus item (None: EC2 does not know it)."""
    if item is None:
        return "UNHEALTHY", "EC2 instance not found"
    state = (item.get("InstanceState") or {}).get("Name", "unknown")
    if state == "pending":
        return "PENDING", "EC2 instance pending"
    if state != "running":
        return "UNHEALTHY", f"EC2 instance {state}"
    statuses = {
        "instance": (item.get("InstanceStatus") or {}).get("Status", "insufficient-data"),
        "system": (item.get("SystemStatus") or {}).get("Status", "insufficient-data"),
    }
    impaired = [name for name, status in statuses.items() if status == "impaired"]
    if impaired:
        return "UNHEALTHY", f"EC2 {' and '.join(impaired)} status impaired"
    if all(status == "ok" for status in statuses.values()):
        return "HEALTHY", None
    waiting = ", ".join(f"{name} {status}" for name, status in statuses.items() if status != "ok")
    return "PENDING", f"EC2 status checks {waiting}"


def judge(
    wave: records.WaveRecord,
    config: HealthCheckStep,
    participants: dict[tuple[str, str], dict[str, Any]],
    statuses: dict[str, dict[str, Any]],
) -> list[ServerHealth]:
    """Each launched server's health: unhealthy if a check says so, else pending if one is pending, else healthy."""
    judged = []
    for server in launched(wave):
        found: list[tuple[State, str | None]] = []
        if config.PostLaunchActions:
            found.append(post_launch_state(participants.get((server.RecoveryJobId or "", server.SourceServerId))))
        if config.InstanceStatus:
            if server.InstanceId is None:
                found.append(("UNHEALTHY", "no recovery instance recorded"))
            else:
                found.append(instance_state(statuses.get(server.InstanceId)))
        impact = config.Impact or wave.impact_of(server)
        for wanted in ("UNHEALTHY", "PENDING", "HEALTHY"):
            reasons = [reason for state, reason in found if state == wanted]
            if reasons:
                judged.append(ServerHealth(server, wanted, "; ".join(r for r in reasons if r) or None, impact))
                break
    return judged


def launched(wave: records.WaveRecord) -> list[records.ServerRecord]:
    """The servers to judge: launched by this execution, or by the one it resumes (their job and instance kept)."""
    return [server for server in wave.Servers if server.Status == "LAUNCHED" or server.taken_over]


def check_health(
    *,
    execution_id: str,
    wave_number: int,
    phase: str,
    index: int,
    config: HealthCheckStep,
    previous: HealthProgress,
    now: int,
) -> HealthProgress:
    """One check of the wave's launched servers (see the module doc)."""
    wave = records.get_wave(execution_id, wave_number)
    started = _started_at(wave, phase, index, now)
    timeout = config.TimeoutMinutes * 60
    deadline = started + timeout
    progress = previous.model_copy(update={"Checks": previous.Checks + 1})
    servers = launched(wave)
    skipped = len(wave.Servers) - len(servers)
    not_checked = f"; {skipped} server(s) not launched, not checked" if skipped else ""
    if not servers:
        return progress.model_copy(
            update={"Status": "HEALTHY", "Output": f"no server of this wave launched: nothing to check{not_checked}"}
        )
    try:
        participants = _participants(wave) if config.PostLaunchActions else {}
        statuses = _instance_statuses(wave, servers) if config.InstanceStatus else {}
    except _Missed as missed:
        progress = progress.model_copy(
            update={"MissedChecks": progress.MissedChecks + 1, "LastError": missed.failure.short()}
        )
        if now < deadline:
            return progress.model_copy(update={"Status": "PENDING", "NextCheckSeconds": _delay(timeout, deadline, now)})
        unread = [
            ServerHealth(s, "UNHEALTHY", "health could not be read", config.Impact or wave.impact_of(s), late=True)
            for s in servers
        ]
        why = f"not healthy within {config.TimeoutMinutes} min: the last check got no answer ({missed.failure.short()})"
        return _decided(progress, unread, TIMED_OUT, why)
    verdicts = judge(wave, config, participants, statuses)
    unhealthy = [v for v in verdicts if v.state == "UNHEALTHY"]
    pending = [v for v in verdicts if v.state == "PENDING"]
    critical_failed = any(v.impact == "CRITICAL" for v in unhealthy)
    if pending and now < deadline and not critical_failed:
        return progress.model_copy(update={"Status": "PENDING", "NextCheckSeconds": _delay(timeout, deadline, now)})
    if now >= deadline:
        late = f"not healthy within {config.TimeoutMinutes} min"
        unhealthy += [ServerHealth(v.server, "UNHEALTHY", f"{late} ({v.reason})", v.impact, late=True) for v in pending]
        pending = []
    if unhealthy:
        error = FAILED if any(not v.late for v in unhealthy) else TIMED_OUT
        still = f"; {len(pending)} still pending when it stopped" if pending else ""
        return _decided(progress, unhealthy, error, f"{len(verdicts)} launched{still}{not_checked}")
    notes = sorted({v.reason for v in verdicts if v.reason})
    kinds = (("post-launch actions", config.PostLaunchActions), ("EC2 status checks", config.InstanceStatus))
    checked = " and ".join(what for what, on in kinds if on)
    output = f"{len(verdicts)} launched server(s) healthy ({checked})"
    return progress.model_copy(
        update={
            "Status": "HEALTHY",
            "Output": output + (f"; {', '.join(notes)}" if notes else "") + not_checked + _missed_note(progress),
        }
    )


def _missed_note(progress: HealthProgress) -> str:
    if not progress.MissedChecks:
        return ""
    return f"; {progress.MissedChecks} of {progress.Checks} checks got no answer (last: {progress.LastError})"


def _decided(progress: HealthProgress, unhealthy: list[ServerHealth], error: str, context: str) -> HealthProgress:
    critical = sum(v.impact == "CRITICAL" for v in unhealthy)
    named = listed([f"{v.name}: {v.reason}" for v in unhealthy], 5)
    return progress.model_copy(
        update={
            "Status": "UNHEALTHY",
            "Error": error,
            "Cause": f"{len(unhealthy)} server(s) unhealthy ({context}{_missed_note(progress)}): {named}",
            "Unhealthy": len(unhealthy),
            "Critical": critical,
        }
    )


def _delay(timeout: int, deadline: int, now: int) -> int:
    """The next check: one interval on, or at the deadline if that comes first (the last check decides)."""
    return max(1, min(check_interval(timeout), deadline - now))


def _started_at(wave: records.WaveRecord, phase: str, index: int, now: int) -> int:
    """When the step started, by its record; a step the execution's end closed (a stop) checks nothing more."""
    for step in wave.Steps:
        if step.get("Phase") == phase and int(step.get("Index", -1)) == index:
            if step.get("Status") != "RUNNING":
                raise ExecutionStoppedError(
                    f"Wave {wave.WaveNumber}'s health check ended {step.get('Status')} (the execution ended while it "
                    "waited); it checks nothing more"
                )
            return int(step["StartedAt"])
    return now  # Next runbook step always records it RUNNING first; were it lost, the check still ends


def _participants(wave: records.WaveRecord) -> dict[tuple[str, str], dict[str, Any]]:
    """(job ID, source server ID) -> the server's entry in the job: a server retried in another job is judged by
    the job its record says launched it."""
    # the wave's own jobs, and those that launched the servers it took over (the execution it resumes started them),
    # each asked in its servers' account and Region
    job_ids = list(dict.fromkeys([*wave.JobIds, *(s.RecoveryJobId for s in launched(wave) if s.RecoveryJobId)]))
    jobs = [
        job
        for target, ids in _by_target(wave.job_targets(), job_ids).items()
        for job in _call("DRS DescribeJobs", target, partial(drs.describe_jobs, target, ids))
    ]
    return {
        (job["jobID"], participant["sourceServerID"]): participant
        for job in jobs
        for participant in job.get("participatingServers", [])
    }


def _instance_statuses(wave: records.WaveRecord, servers: list[records.ServerRecord]) -> dict[str, dict[str, Any]]:
    """EC2's status of each launched server's recovery instance, asked in the server's own account and Region."""
    ids: dict[Target, list[str]] = {}
    for server in servers:
        if server.InstanceId:
            ids.setdefault(wave.target_of(server), []).append(server.InstanceId)
    found: dict[str, dict[str, Any]] = {}
    for target, instance_ids in sorted(ids.items()):
        found.update(_call("EC2 DescribeInstanceStatus", target, partial(ec2.instance_statuses, target, instance_ids)))
    return found


def _by_target(where: dict[str, Target], job_ids: list[str]) -> dict[Target, list[str]]:
    grouped: dict[Target, list[str]] = {}
    for job_id in job_ids:
        if job_id in where:
            grouped.setdefault(where[job_id], []).append(job_id)
    return dict(sorted(grouped.items()))


class _Missed(Exception):
    def __init__(self, failure: AwsFailure) -> None:
        super().__init__(failure.short())
        self.failure = failure


def _call(operation: str, target: Target, call: Callable[[], T]) -> T:
    """The call's answer; a transient failure is a missed check, any other AWS error fails the step."""
    try:
        return call()
    except Exception as error:
        failure = classify(error)
        if failure is None:
            raise
        if failure.kind == "transient":
            raise _Missed(failure) from error
        raise HealthCheckRefusedError(
            with_action(
                f"{operation} in {explain.where(target)['region']} was refused: {failure.short()}",
                f"grant {_role(target)} what it lacks (drs:DescribeJobs, ec2:DescribeInstanceStatus: "
                "stacks/iam.py) or fix the request, then start the execution again",
            )
        ) from error


def _role(target: Target) -> str:
    member = explain.where(target)["member_role"]
    return f"the member role {member}" if member else "the check-health function's role"
