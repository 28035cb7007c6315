"""Resume: run again what an earlier execution of the same plan did not finish (execution input `ResumeFrom`).

An execution that ended FAILED, TIMED_OUT, CANCELLED or PARTIAL is resumed by a new execution, never by reopening
it: the servers it launched are not launched again (recorded SKIPPED with Error LAUNCHED_BEFORE, their job and
instance kept), and no gate it did not pass is taken as passed. A wave is done, and skipped (recorded SKIPPED, saying
so), only when its launch and every step after it that could stop the plan went through. A wave whose servers all
launched but whose steps after the launch did not all go through runs again from the step that stopped the plan
(or was cut short): its steps the runbook went past are taken over (`RanIn`), its launch starts nothing, and the
step runs again as a new step (a new approval, a new health check of every server, taken over ones included). A
wave not fully launched runs again whole, its steps before the launch included. Step Functions' own Redrive is
refused (docs/reliability.md, Resume and redrive): a redriven step finds its record ended and launches nothing.

What counts as launched comes from the earlier record and, for servers it left UNKNOWN (a job still running when it
ended), from DRS itself: the source server's last launch, if its job is one of that execution's. A server still in
such a job refuses the resume until the job ends: resuming then could launch it twice.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from lambdas.core import drs, last_launch, records
from lambdas.core.accounts import Target
from lambdas.core.explain import listed
from lambdas.core.plan import RecoveryPlan, Wave
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.records import LAUNCHED_BEFORE, ExecutionRecord, WaveRecord
from lambdas.core.runbook import StepRecord
from lambdas.core.steps import Step

__all__ = ["LAUNCHED_BEFORE", "RESUMABLE_STATUSES"]
RESUMABLE_STATUSES = ("FAILED", "TIMED_OUT", "CANCELLED", "PARTIAL")


@dataclass
class Resumed:
    """What an earlier execution leaves to do, or why it cannot be resumed."""

    execution_id: str
    completed_waves: dict[int, str] = field(default_factory=dict)  # wave number -> why it is skipped
    launched: dict[str, records.ServerRecord] = field(default_factory=dict)  # server ID -> its earlier record
    # wave number -> the steps taken over, for a wave whose servers all launched: a done wave's (skipped, its steps
    # kept so that a resume of this resume finds them went past) or an unfinished one's (run again from its first
    # step that did not go through)
    taken_over: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def earlier_execution(
    previous_id: str, plan: RecoveryPlan, mode: ExecutionMode, execution_id: str
) -> tuple[ExecutionRecord | None, list[str]]:
    """The execution to resume and its problems (wrong plan, mode or status): each names the field and the fix."""
    where = f"ResumeFrom {previous_id!r}"
    if previous_id == execution_id:
        return None, [f"{where}: an execution cannot resume itself; name the earlier execution"]
    record = records.find_execution_by_id(previous_id)
    if record is None:
        return None, [
            f"{where}: no execution of that name in the ExecutionHistory table; give the name of an earlier "
            f"execution of plan {plan.PlanId!r} (drsctl run list --plan {plan.PlanId})"
        ]
    problems = []
    if record.PlanId != plan.PlanId:
        problems.append(
            f"{where} ran plan {record.PlanId!r}, not {plan.PlanId!r}; resume an execution of the same plan"
        )
    if record.ExecutionType != mode:
        problems.append(
            f"{where} was a {record.ExecutionType}, not a {mode}; resume it with ExecutionType {record.ExecutionType}"
        )
    if record.Status not in RESUMABLE_STATUSES:
        fix = (
            "wait for it to end, or stop it"
            if record.Status in records.ACTIVE_EXECUTION_STATUSES
            else "there is nothing left to resume; start the plan afresh"
        )
        problems.append(
            f"{where} is {record.Status}; only a FAILED, TIMED_OUT, CANCELLED or PARTIAL execution can be resumed: "
            f"{fix}"
        )
    if record.Cleanup is not None and record.Cleanup.Status in records.OPEN_CLEANUP_STATUSES:
        problems.append(
            f"{where}: its drill cleanup has yet to run ({record.Cleanup.Status}) and would terminate what a resume "
            "relies on. Wait for it to end, or stop that execution (its cleanup then does not run), then resume"
        )
    if record.Cleanup is not None and record.Cleanup.Terminated:
        problems.append(
            f"{where}: its drill instances were terminated by Options.DrillCleanup ({record.Cleanup.Terminated}); "
            "a resume would leave those servers without an instance. Start the drill afresh"
        )
    return record, problems


def resume_from(
    record: ExecutionRecord,
    waves: list[WaveRecord],
    inventory: dict[Target, dict[str, dict[str, Any]]],
    plan: RecoveryPlan,
    ended_jobs: Collection[str],
) -> Resumed:
    """What `record` (an ended execution of `plan`, its waves as planned now) leaves to do.

    `waves` are the new execution's waves as Prepare resolved them; `inventory` is DRS's source servers per
    (account, Region), as Prepare listed them (their lifeCycle.lastLaunch tells whether a job the earlier execution
    left running, or started without the answer being recorded, launched them); `ended_jobs` are the jobs of those
    last launches that have ended with the launch unfinished (lambdas/core/last_launch.py): their servers run again.
    """
    resumed = Resumed(execution_id=record.ExecutionId)
    earlier = {w.WaveNumber: w for w in records.execution_waves(record.ExecutionId)}
    if not earlier:
        resumed.problems.append(
            f"ResumeFrom {record.ExecutionId!r}: that execution ended before any of its waves was written (it "
            "launched nothing); start the plan afresh"
        )
        return resumed
    resumed.problems.extend(_changed(record.ExecutionId, earlier, waves))
    if resumed.problems:
        return resumed
    owners = _job_owners(record.ExecutionId, earlier, waves, inventory)
    for wave in waves:
        before = earlier[wave.WaveNumber]
        servers = {s.SourceServerId: s for s in before.Servers}
        for server in wave.Servers:
            done = servers[server.SourceServerId]
            if done.Status == "LAUNCHED" or done.Error == LAUNCHED_BEFORE:  # launched there, or before it (a chain)
                resumed.launched[server.SourceServerId] = done
                continue
            last = _last_launch(inventory, wave.target_of(server), server.SourceServerId)
            job = last_launch.job_of(last)
            if job is None or owners.get(job) != record.ExecutionId:
                continue  # its last launch is not that execution's: nothing of it can still launch
            if last.get("status") == "LAUNCHED":  # after that execution stopped following it
                found = inventory.get(wave.target_of(server), {}).get(server.SourceServerId) or {}
                instance = found.get("recoveryInstanceId")
                resumed.launched[server.SourceServerId] = done.model_copy(
                    update={"Status": "LAUNCHED", "RecoveryJobId": job, "InstanceId": instance or done.InstanceId}
                )
            elif last_launch.still_launching(last, ended_jobs):
                resumed.problems.append(
                    f"ResumeFrom {record.ExecutionId!r}: server {server.SourceServerId} (wave {wave.WaveNumber}) is "
                    f"still being launched by that execution's DRS job {job}; resuming now could launch it twice. "
                    "Wait for the job to end (DescribeJobs), then resume"
                )
        if before.Status != "COMPLETED" and not all(s.SourceServerId in resumed.launched for s in wave.Servers):
            continue  # not fully launched: the wave runs again whole, its steps before the launch included
        carried, finished = taken_over_steps(before, plan.Waves[wave.WaveNumber - 1], record.ExecutionId)
        resumed.taken_over[wave.WaveNumber] = carried
        if finished:
            how = "completed" if before.Status == "COMPLETED" else "all its servers launched"
            resumed.completed_waves[wave.WaveNumber] = f"{how} in execution {record.ExecutionId}"
    if not resumed.problems and len(resumed.completed_waves) == len(waves):
        resumed.problems.append(
            f"ResumeFrom {record.ExecutionId!r}: every server of the plan launched in that execution and every "
            "step after each wave went through; there is nothing left to resume"
        )
    return resumed


def taken_over_steps(before: WaveRecord, wave: Wave, previous_id: str) -> tuple[list[dict[str, Any]], bool]:
    """The step records a resume carries into a wave whose servers all launched in `before`, and whether its runbook
    finished there (every step after the launch went through: the wave is done).

    Carried: the steps before the launch (they let it happen), then, in order, each step after it that the runbook
    went past, and the first that it did not (it stopped the plan, or was cut short: it runs again). A step the plan
    no longer has at that place (its kind or name changed) runs again, and every step after it.
    """
    ran = {(s.Phase, s.Index): s for s in (StepRecord.model_validate(step) for step in before.Steps)}
    carried = [
        _carried(ran[("BEFORE", index)], previous_id, went_past=True)  # the launch came after them
        for index in range(len(wave.Before))
        if ("BEFORE", index) in ran
    ]
    for index, step in enumerate(wave.After):
        earlier = ran.get(("AFTER", index))
        if earlier is None or not _same_step(earlier, step):
            return carried, False
        went_past = _went_past(earlier, step)
        carried.append(_carried(earlier, previous_id, went_past=went_past))
        if not went_past:
            return carried, False
    return carried, True


def _same_step(earlier: StepRecord, step: Step) -> bool:
    return earlier.Kind == step.kind and earlier.Name == step.label


def _went_past(earlier: StepRecord, step: Step) -> bool:
    """Whether the runbook went on past the step. Its record says so (`StoppedPlan`); a record from before that
    field existed is judged from the plan, failing closed: a step that may have stopped the plan runs again."""
    if earlier.StoppedPlan is not None or earlier.Status not in ("FAILED", "TIMED_OUT"):
        return earlier.went_past()
    if step.Lambda is not None:
        return step.Lambda.Impact == "OPTIONAL"
    if step.Approval is not None:
        return earlier.Status == "TIMED_OUT" and step.Approval.OnTimeout == "CONTINUE"
    return step.HealthCheck is not None and step.HealthCheck.Impact == "OPTIONAL"


def _carried(earlier: StepRecord, previous_id: str, *, went_past: bool) -> dict[str, Any]:
    """The step as the resume's wave item holds it: where it ran (the first execution of a chain of resumes), and,
    for one that ended, whether its end stopped the plan, stated (Next runbook step and a later resume read it)."""
    ended = earlier.Status not in ("RUNNING", "CANCELLED")
    carried = earlier.model_copy(
        update={
            "RanIn": earlier.RanIn or previous_id,
            "StoppedPlan": (not went_past) if ended else earlier.StoppedPlan,
            "TaskToken": None,
        }
    )
    return carried.model_dump(exclude_none=True)


def _changed(previous_id: str, earlier: dict[int, WaveRecord], waves: list[WaveRecord]) -> list[str]:
    """How the plan's waves differ from the execution resumed: a resume needs the same waves and servers (a server
    moved to another wave would be launched again; one added to a completed wave would never be)."""
    where = f"ResumeFrom {previous_id!r}"
    if [(w.WaveNumber, w.WaveName) for w in earlier.values()] != [(w.WaveNumber, w.WaveName) for w in waves]:
        return [
            f"{where}: the plan's waves changed since that execution (it ran {[w.WaveName for w in earlier.values()]}"
            f", the plan now has {[w.WaveName for w in waves]}); a resume needs the same waves. Start the plan afresh"
        ]
    problems = []
    for wave in waves:
        then = {s.SourceServerId for s in earlier[wave.WaveNumber].Servers}
        now = {s.SourceServerId for s in wave.Servers}
        if then != now:
            added, removed = sorted(now - then), sorted(then - now)
            change = "; ".join(
                part
                for part in (
                    f"now has {listed(added, 5)}" if added else "",
                    f"no longer has {listed(removed, 5)}" if removed else "",
                )
                if part
            )
            problems.append(
                f"{where}: wave {wave.WaveNumber} ({wave.WaveName}) {change} (its protection group or tags changed "
                "since that execution); a resume needs the same servers in each wave. Restore them, or start the "
                "plan afresh"
            )
    return problems


def _last_launch(inventory: dict[Target, dict[str, dict[str, Any]]], where: Target, server_id: str) -> dict[str, Any]:
    return last_launch.of(inventory.get(where, {}).get(server_id))


def _job_owners(
    previous_id: str,
    earlier: dict[int, WaveRecord],
    waves: list[WaveRecord],
    inventory: dict[Target, dict[str, dict[str, Any]]],
) -> dict[str, str]:
    """The execution each server's last launch job belongs to: the earlier record's jobs, and, for a job it never
    recorded (a StartRecovery whose answer was lost), the job's own ExecutionId tag, asked of DRS."""
    owners = {job: previous_id for wave in earlier.values() for job in wave.JobIds}
    unknown: dict[Target, set[str]] = {}
    for wave in waves:
        for server in wave.Servers:
            where = wave.target_of(server)
            job = (_last_launch(inventory, where, server.SourceServerId).get("initiated") or {}).get("jobID")
            if job is not None and job not in owners:
                unknown.setdefault(where, set()).add(job)
    for where, jobs in sorted(unknown.items()):
        for job in drs.describe_jobs(where, sorted(jobs)):
            tagged = (job.get("tags") or {}).get("ExecutionId")
            if tagged:
                owners[job["jobID"]] = tagged
    return owners


def claim(earlier: ExecutionRecord, by: str) -> list[str]:
    """Take the earlier execution for this resume; refused when another resume has it (the problem says which)."""
    holder = records.claim_resume(earlier.ExecutionId, earlier.PlanId, by)
    if holder is not None and _launched_nothing(holder, earlier.PlanId):
        holder = records.claim_resume(earlier.ExecutionId, earlier.PlanId, by, replacing=holder)
    if holder is None:
        return []
    return [
        f"ResumeFrom {earlier.ExecutionId!r}: that execution was already resumed by {holder}; a second resume would "
        f"launch again what {holder} launched. Resume {holder} instead (its record carries what both launched)"
    ]


def _launched_nothing(execution_id: str, plan_id: str) -> bool:
    """An execution that ended before any of its waves started (refused, stopped while it prepared): its claim on
    the execution it meant to resume can be taken over."""
    record = records.find_execution(execution_id, plan_id)
    if record is None:
        return True
    if record.Status in records.ACTIVE_EXECUTION_STATUSES:
        return False
    return all(w.StartTime is None and not w.JobIds for w in records.execution_waves(execution_id))


def apply(resumed: Resumed, waves: list[WaveRecord]) -> None:
    """Mark in the new execution's waves what the earlier one did: completed waves skipped, launched servers too."""
    for wave in waves:
        skipped_wave = resumed.completed_waves.get(wave.WaveNumber)
        # a skipped wave keeps its steps too: a resume of this execution reads them to know its runbook went
        # through (without them it would run the wave's hooks and approvals again, after its launch)
        wave.Steps = resumed.taken_over.get(wave.WaveNumber, [])
        for server in wave.Servers:
            earlier = resumed.launched.get(server.SourceServerId)
            if earlier is not None:
                server.Status, server.Error = "SKIPPED", LAUNCHED_BEFORE
                server.RecoveryJobId, server.InstanceId = earlier.RecoveryJobId, earlier.InstanceId
                server.LaunchTime = earlier.LaunchTime
            elif skipped_wave is not None:
                server.Status, server.Error = "SKIPPED", "NOT_STARTED"
        if skipped_wave is not None:
            wave.Status = "SKIPPED"
            wave.ErrorMessage = f"Skipped: {skipped_wave} (this execution resumes it)."


def waves_to_run(waves: list[records.WaveSummary]) -> list[int]:
    """The wave numbers the Map walks: all but those a resume skipped."""
    return [w.WaveNumber for w in waves if w.Status != "SKIPPED"]
