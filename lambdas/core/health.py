"""Check health: is every server a wave launched healthy yet? One bounded look per call (docs/plan-format.md,
HealthCheck steps).

A HealthCheck step (After a wave only) runs as "Check health" -> "Servers healthy?" -> "Wait for health checks" in
the state machine. Each check reads what AWS says now and the wave's record, nothing else (it writes only what it read
of the servers' configured post-launch actions, on the step's record), so a retried or repeated check gives the same
answer:

- post-launch actions: what each server has configured (ListLaunchActions, read once per step:
  lambdas/core/launch_actions.py), against the runs in DescribeJobs of the job that launched it
  (`launchActionsStatus.runs`; run statuses IN_PROGRESS, SUCCEEDED, FAILED). Healthy once every active action has a
  run that ended SUCCEEDED (or FAILED, for an action marked `optional`); unhealthy as soon as a run of a required
  action FAILED (with its failureReason); pending while runs are IN_PROGRESS or actions have not run yet. DRS lists
  runs only once it discovers the SSM agent: a server with actions whose agent is never discovered stays pending
  until the deadline, then is unhealthy ("SSM agent never reported: N post-launch actions did not run"). A server
  with no action configured passes, and the output says so;
- EC2 status checks, from DescribeInstanceStatus (IncludeAllInstances, batches of 100, in each server's account and
  Region):
  instance and system status both ok is healthy, either impaired is unhealthy, initializing or insufficient-data is
  pending; an instance that is not running (stopped, terminated) or that EC2 does not know is unhealthy.

Only servers the wave LAUNCHED are checked, and, in a resumed execution, those it took over from the execution it
resumes (LAUNCHED_BEFORE): each judged like any other, by the job that launched it and its own instance. The step's
deadline is its StartedAt (its RUNNING record) plus TimeoutMinutes (less when the execution's own deadline cut it:
the TimeoutSeconds Next runbook step gave, lambdas/core/deadline.py): a server still pending then is unhealthy, "not
healthy within N min". Checks come every max(30 s, TimeoutMinutes / 20), the last at the deadline, so a step makes at
most polling.HEALTH_CHECKS_MAX of them.
Throttling, 5xx and lost connections (and a quota error on a read) are a missed check (counted) until the deadline;
a refusal (access denied, a bad request) fails the step, naming the call. The check decides as soon as every server
is decided, or one failing server is CRITICAL (the plan stops whatever the others do), or the deadline has come.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from lambdas.core import drs, ec2, explain, launch_actions, polling, records
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import AwsFailure, classify
from lambdas.core.errors import ExecutionStoppedError, HealthCheckRefusedError, StepsChangedError
from lambdas.core.explain import listed, with_action
from lambdas.core.plan_types import ImpactLevel
from lambdas.core.steps import HealthCheckStep

State = Literal["HEALTHY", "UNHEALTHY", "PENDING"]
CheckStatus = Literal["PENDING", "HEALTHY", "UNHEALTHY"]
INTERVAL_MIN_SECONDS = 30
FAILED = "HealthCheckFailed"  # an unhealthy server failed outright (post-launch action FAILED, EC2 impaired, gone)
TIMED_OUT = "HealthCheckTimedOut"  # every unhealthy server was only not healthy in time
ENDED_RUN_STATUSES = ("SUCCEEDED", "FAILED")  # LaunchActionRunStatus: the rest (IN_PROGRESS) still runs
PENDING_EC2_STATUSES = ("initializing", "insufficient-data", "not-applicable")
NO_ACTIONS_NOTE = "no post-launch actions configured"
NOTES_SHOWN = 5
T = TypeVar("T")
SecondsLeft = Callable[[], float]


def _unbounded() -> float:  # the time left for callers outside a Lambda (tests)
    return float("inf")


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


def post_launch_state(  # noqa: PLR0911 - one return per verdict, in the order they are decided
    participant: dict[str, Any] | None, configured: int | None, *, final: bool = False
) -> tuple[State, str | None]:
    """A server's post-launch actions: its DescribeJobs participatingServers entry against the number of active
    actions it has configured (None: not read yet; launch_actions.GONE: DRS no longer knows the source server).
    `final`: this is the step's last check, so an agent that has not reported by now never did."""
    if participant is None:
        return "UNHEALTHY", "not found in the DRS job that launched it"
    status = participant.get("launchActionsStatus") or {}
    runs = [run for run in status.get("runs") or [] if _action(run).get("active") is not False]
    failed = [run for run in runs if run.get("status") == "FAILED" and not _action(run).get("optional")]
    if failed:
        reason = failed[0].get("failureReason") or "no failureReason given"
        return "UNHEALTHY", f"post-launch action {_name(failed[0])!r} FAILED: {reason}"
    if configured is None:
        return "PENDING", "post-launch action configuration not read yet"
    if configured == launch_actions.GONE:
        return "UNHEALTHY", "its post-launch actions cannot be read: DRS no longer knows its source server"
    if configured == 0 and not runs:
        return "HEALTHY", NO_ACTIONS_NOTE
    if not runs and not status.get("ssmAgentDiscoveryDatetime"):
        # DRS lists runs only once it discovers the SSM agent: actions are configured, and none can run yet
        if final:
            return "UNHEALTHY", f"SSM agent never reported: {configured} post-launch actions did not run"
        return "PENDING", f"SSM agent not reported yet: {configured} post-launch action(s) waiting to run"
    ended = {_key(run) for run in runs if run.get("status") in ENDED_RUN_STATUSES}
    if len(ended) < len({_key(run) for run in runs}):
        return "PENDING", f"post-launch actions still running, {len(ended)} of {configured} ended"
    if len(ended) < configured:
        return "PENDING", f"{len(ended)} of {configured} post-launch actions have run"
    skipped = [_name(run) for run in runs if run.get("status") == "FAILED"]  # optional ones: not counted
    return "HEALTHY", f"optional post-launch action {skipped[0]!r} FAILED (optional: not counted)" if skipped else None


def _action(run: dict[str, Any]) -> dict[str, Any]:
    action: dict[str, Any] = run.get("action") or {}
    return action


def _name(run: dict[str, Any]) -> str:
    return str(_action(run).get("name") or "a post-launch action")


def _key(run: dict[str, Any]) -> str:
    """One configured action: its runs share its actionId."""
    return str(_action(run).get("actionId") or run.get("runId") or id(run))


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
    *,
    configured: launch_actions.Configured | None = None,
    final: bool = False,
) -> list[ServerHealth]:
    """Each launched server's health: unhealthy if a check says so, else pending if one is pending, else healthy.
    `configured`: the servers' post-launch actions as read so far; `final`: the step's last check."""
    judged = []
    for server in launched(wave):
        found: list[tuple[State, str | None]] = []
        if config.PostLaunchActions:
            participant = participants.get((server.RecoveryJobId or "", server.SourceServerId))
            count = configured.count(server.SourceServerId) if configured is not None else None
            found.append(post_launch_state(participant, count, final=final))
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
    seconds_left: SecondsLeft = _unbounded,
    timeout_seconds: int | None = None,
) -> HealthProgress:
    """One check of the wave's launched servers (see the module doc). `seconds_left`: the Lambda's remaining time,
    which bounds how many servers' configured post-launch actions this check reads. `timeout_seconds`: the step's
    timeout as Next runbook step gave it, less than TimeoutMinutes when the execution's own deadline cut it
    (deadline.py)."""
    wave = records.get_wave(execution_id, wave_number)
    started = _started_at(wave, phase, index, now)
    timeout = config.TimeoutMinutes * 60
    allowed = timeout if timeout_seconds is None else min(timeout, timeout_seconds)
    deadline = started + allowed
    within = f"{config.TimeoutMinutes} min" if allowed == timeout else f"{allowed} s (cut to the execution's time)"
    progress = previous.model_copy(update={"Checks": previous.Checks + 1})
    servers = launched(wave)
    skipped = len(wave.Servers) - len(servers)
    not_checked = f"; {skipped} server(s) not launched, not checked" if skipped else ""
    if not servers:
        return progress.model_copy(
            update={"Status": "HEALTHY", "Output": f"no server of this wave launched: nothing to check{not_checked}"}
        )
    configured = None
    try:
        participants = _participants(wave) if config.PostLaunchActions else {}
        statuses = _instance_statuses(wave, servers) if config.InstanceStatus else {}
        if config.PostLaunchActions:
            configured = _configured(
                execution_id, wave, phase=phase, index=index, servers=servers, seconds_left=seconds_left
            )
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
        why = f"not healthy within {within}: the last check got no answer ({missed.failure.short()})"
        return _decided(progress, unread, TIMED_OUT, why)
    verdicts = judge(wave, config, participants, statuses, configured=configured, final=now >= deadline)
    unhealthy = [v for v in verdicts if v.state == "UNHEALTHY"]
    pending = [v for v in verdicts if v.state == "PENDING"]
    critical_failed = any(v.impact == "CRITICAL" for v in unhealthy)
    if pending and now < deadline and not critical_failed:
        return progress.model_copy(update={"Status": "PENDING", "NextCheckSeconds": _delay(timeout, deadline, now)})
    if now >= deadline:
        late = f"not healthy within {within}"
        unhealthy += [ServerHealth(v.server, "UNHEALTHY", f"{late} ({v.reason})", v.impact, late=True) for v in pending]
        pending = []
    if unhealthy:
        error = FAILED if any(not v.late for v in unhealthy) else TIMED_OUT
        still = f"; {len(pending)} still pending when it stopped" if pending else ""
        return _decided(progress, unhealthy, error, f"{len(verdicts)} launched{still}{not_checked}")
    notes = listed(sorted({v.reason for v in verdicts if v.reason}), NOTES_SHOWN)
    kinds = (("post-launch actions", config.PostLaunchActions), ("EC2 status checks", config.InstanceStatus))
    checked = " and ".join(what for what, on in kinds if on)
    output = f"{len(verdicts)} launched server(s) healthy ({checked})"
    return progress.model_copy(
        update={
            "Status": "HEALTHY",
            "Output": output + (f"; {notes}" if notes else "") + not_checked + _missed_note(progress),
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


def _configured(
    execution_id: str,
    wave: records.WaveRecord,
    *,
    phase: str,
    index: int,
    servers: list[records.ServerRecord],
    seconds_left: SecondsLeft,
) -> launch_actions.Configured:
    """The servers' configured post-launch actions: what earlier checks of this step read (on its record), and more
    while this Lambda has time; what grew is written back. A read AWS does not answer is a missed check (what was
    read before it is kept); a refusal fails the step, naming drs:ListLaunchActions."""
    record = _step(wave, phase, index)
    configured = launch_actions.Configured.of(record, [server.SourceServerId for server in servers])
    before = len(configured.counts)

    targets = {server.SourceServerId: wave.target_of(server) for server in servers}

    def has_time() -> bool:
        return seconds_left() > launch_actions.READ_RESERVE_SECONDS

    try:
        launch_actions.read_more(lambda server_id: _count_actions(targets[server_id], server_id), configured, has_time)
    finally:
        if record is not None and len(configured.counts) > before:
            _keep(execution_id, wave, record, configured)
    return configured


def _count_actions(target: Target, server_id: str) -> int:
    return _call("DRS ListLaunchActions", target, partial(launch_actions.active_actions, target, server_id))


def _keep(
    execution_id: str, wave: records.WaveRecord, record: dict[str, Any], configured: launch_actions.Configured
) -> None:
    """The counts read so far, on the step's record, if nobody wrote the steps since they were read (a stop closed
    the step: its next check ends). Best effort: a write that fails only means the next check reads them again."""
    record[launch_actions.RECORD_KEY] = configured.stored()
    try:
        records.set_wave_steps(execution_id, wave.WaveNumber, wave.Steps, read_version=wave.StepsVersion)
    except StepsChangedError:
        return
    except Exception as error:
        if classify(error) is None:
            raise
        return
    wave.StepsVersion += 1


def _step(wave: records.WaveRecord, phase: str, index: int) -> dict[str, Any] | None:
    return next(
        (s for s in wave.Steps if s.get("Phase") == phase and int(s.get("Index", -1)) == index),
        None,
    )


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
        if failure.kind in ("transient", "capacity"):  # throttled, 5xx, lost, or a quota of the read itself
            raise _Missed(failure) from error
        raise HealthCheckRefusedError(
            with_action(
                f"{operation} in {explain.where(target)['region']} was refused: {failure.short()}",
                f"grant {_role(target)} what it lacks (drs:DescribeJobs, drs:ListLaunchActions, "
                "ec2:DescribeInstanceStatus: stacks/iam.py) or fix the request, then start the execution again",
            )
        ) from error


def _role(target: Target) -> str:
    member = explain.where(target)["member_role"]
    return f"the member role {member}" if member else "the check-health function's role"
