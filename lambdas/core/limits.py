"""What one execution can hold, checked by Prepare before anything is launched.

A plan that passes these checks cannot break a limit of AWS halfway through a recovery:

- its ExecutionHistory item stays under 100 KB (DynamoDB refuses items over 400 KB): computed from the plan's own
  names by DynamoDB's byte rules, with every message at its longest;
- so does each wave's own item in ExecutionWaves (`wave_item_bytes`): its job IDs, messages and start intent at
  their longest, and its runbook steps as they end at their longest: each approval with as many answers as it needs
  approvers (each principal's ARN and reason at their longest), who decided and why, its question, and one task
  token of the step that waits;
- a wave holds at most 2,000 servers (its servers are written in one transaction of at most 21 items);
- the whole plan, at most 10,000 servers (Prepare's locks and listings stay far inside its timeout);
- its worst case ends inside the state machine's TimeoutSeconds (48 h: an execution that reaches it is ended by Step
  Functions, however its waves are doing): every wave running to its WaveTimeoutMinutes, every runbook step to its
  timeout, and every Task that runs outside those deadlines (Prepare, the server locks, Finalize, Record failure, Next
  runbook step, hooks and approvals, the drill cleanup's) at its worst under the definition's own Retry blocks
  (`lambdas/core/task_budget.py`). What a deadline lets begin and a Retry carries past it (a wave's last checks) is
  not counted here: the execution's own deadline (`lambdas/core/deadline.py`) cuts the waves and steps short instead,
  so no fault schedule takes an accepted plan to the 48 h;
- every payload Step Functions carries stays under its 256 KiB (`lambdas/core/payloads.py`);
- its history fits the 25,000 events of one execution (`polling.max_waves`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from lambdas.core import deadline, locks, payloads, polling, records, runbook, task_budget
from lambdas.core.approval_record import PRINCIPAL_MAX, REASON_MAX
from lambdas.core.item_size import DESIGN_MAX_BYTES, item_bytes
from lambdas.core.plan import STARTED_BY_MAX, RecoveryPlan, RunOptions
from lambdas.core.plan_version import VERSION_DIGITS
from lambdas.core.records import ExecutionRecord, StartIntent, WaveRecord, WaveSummary
from lambdas.core.steps import DEFAULT_HOOK_FUNCTION_PREFIX, Phase, Step, Steps

EXECUTION_TIMEOUT_SECONDS = deadline.EXECUTION_TIMEOUT_SECONDS  # the definition's TimeoutSeconds: 48 h
# A wave's checks (and a health check's looks) retry inside its own deadline, which its Lambda enforces; after the
# deadline, the check that decides and the wave's close still run (seconds). Checks retried past it are the
# execution's own deadline's business (lambdas/core/deadline.py).
WAVE_END_MARGIN_SECONDS = 10
STEP_MARGIN_SECONDS = 10  # the same for a HealthCheck step: its looks retry inside its TimeoutMinutes
HOOK_FUNCTION_PREFIX = "HOOK_FUNCTION_PREFIX"  # set by the stack: the names the state machine may invoke
HOOK_FUNCTION_ACCOUNT = "HOOK_FUNCTION_ACCOUNT"  # set by the stack: its account, the only one hooks may be in
RUNBOOK_JSON_MAX = 64 * 1024  # every wave's steps travel in the state machine's data (256 KiB in all)
PLAN_SERVERS_MAX = 10_000
EXECUTION_NAME_MAX = 80  # Step Functions execution names
ARN_MAX = 256


def problems(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, raw_input: Any = None) -> list[str]:
    """Every way the plan exceeds what one execution holds, each with the numbers and what to change. `raw_input`:
    the execution's input, when there is one (an inline plan travels in it)."""
    found = []
    where = f"plan {plan.PlanId!r}"
    if len(waves) > polling.max_waves():
        found.append(
            f"{where} has {len(waves)} waves; one execution's history holds at most {polling.max_waves()} with room "
            "to check each wave. Split the plan into several plans"
        )
    for wave in waves:
        if len(wave.Servers) > records.WAVE_SERVERS_MAX:
            found.append(
                f"{where}, wave {wave.WaveNumber} ({wave.WaveName!r}) launches {len(wave.Servers)} servers; a wave "
                f"holds at most {records.WAVE_SERVERS_MAX}. Split it into several waves"
            )
    servers = sum(len(wave.Servers) for wave in waves)
    if servers > PLAN_SERVERS_MAX:
        found.append(f"{where} launches {servers} servers; a plan holds at most {PLAN_SERVERS_MAX}. Split the plan")
    size = history_item_bytes(plan, waves)
    if size > DESIGN_MAX_BYTES:
        found.append(
            f"{where}: its execution record could reach {size / 1024:.0f} KB with {len(waves)} waves, more than the "
            f"{DESIGN_MAX_BYTES // 1024} KB every record is kept under. Shorten wave names and protection group IDs, "
            "or split the plan"
        )
    for wave in waves:
        wave_size = wave_item_bytes(plan, wave)
        if wave_size > DESIGN_MAX_BYTES:
            found.append(_wave_item_too_large(where, plan, wave, wave_size))
    found.extend(_runbook_problems(plan, waves, options, where))
    steps, health = plan.runbook_step_count(), plan.health_check_count()
    cleanup = options.DrillCleanup is not None  # counted for a RECOVERY too: the plan is the same
    budget = polling.wave_event_budget(len(waves), steps, health, cleanup=cleanup) if waves else 0
    if waves and budget + polling.WAVE_FIXED_EVENTS < polling.MIN_WAVE_EVENTS:
        of_them = (
            f", {health} of them HealthChecks ({polling.EVENTS_PER_HEALTH_STEP} each: they poll)" if health else ""
        )
        found.append(
            f"{where}: its {steps} runbook steps ({polling.EVENTS_PER_RUNBOOK_STEP} history events each at most"
            f"{of_them}) leave its {len(waves)} waves too few of the execution's {polling.HISTORY_EVENT_CAP} events "
            "to check their launches. Use fewer steps (a Wait can be longer, hooks can be combined, one HealthCheck "
            "after a later wave can stand for several), or split the plan"
        )
    worst = worst_case(plan, waves, options)
    if waves and worst.total > EXECUTION_TIMEOUT_SECONDS:
        found.append(_too_long(where, worst, len(waves), options))
    found.extend(payloads.problems(plan, waves, options, raw_input))
    return found


@dataclass(frozen=True)
class WorstCase:
    """How long the execution may run at its worst, in seconds, by part."""

    fixed: int  # Prepare, the lock loop's steps, Finalize and Record failure, each at its worst
    waves: int  # every wave to its WaveTimeoutMinutes, plus WAVE_END_MARGIN_SECONDS
    runbook: int  # every step at its worst, and every Next runbook step between them
    cleanup: int  # the drill cleanup's wait, its TERMINATE jobs to their deadline, and its Tasks at their worst

    @property
    def total(self) -> int:
        return self.fixed + self.waves + self.runbook + self.cleanup


def worst_case(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions) -> WorstCase:
    """The plan's worst case, from the definition's Retry blocks (task_budget.py) and the plan's own timeouts."""
    worst = task_budget.worst_seconds
    fixed = worst("Prepare execution") + worst("Finalize execution") + worst("Record failure")
    fixed += lock_steps([len(wave.Servers) for wave in waves]) * worst("Lock the plan's servers")
    per_wave = options.WaveTimeoutMinutes * 60 + WAVE_END_MARGIN_SECONDS
    runbook = sum(_phase_seconds(phase) for wave in plan.Waves for phase in (wave.Before, wave.After))
    cleanup = deadline.cleanup_seconds(options.DrillCleanup)
    return WorstCase(fixed=fixed, waves=len(waves) * per_wave, runbook=runbook, cleanup=cleanup)


def lock_steps(wave_sizes: list[int]) -> int:
    """How many steps the "Lock the plan's servers" loop takes: whole waves, until a step holds about
    SERVERS_PER_LOCK_STEP servers (as locks.lock_servers takes them)."""
    steps, taken = 0, None
    for size in wave_sizes:
        if taken is None or taken >= locks.SERVERS_PER_LOCK_STEP:
            steps, taken = steps + 1, 0
        taken += size
    return steps


def _phase_seconds(steps: Steps) -> int:
    """A phase's steps at their worst, and the Next runbook step before, between and after them."""
    if not steps:
        return 0
    return sum(step_seconds(step) for step in steps) + (len(steps) + 1) * task_budget.worst_seconds("Next runbook step")


def step_seconds(step: Step) -> int:
    """A runbook step at its worst: a hook or an approval under its state's Retry (each attempt up to the step's
    timeout), a wait its minutes, a health check to its deadline (its looks retry inside it)."""
    if step.Lambda is not None:
        state = "Run hook and wait for its callback" if step.Lambda.WaitForCallback else "Run hook"
        return task_budget.worst_seconds(state, step.timeout_seconds)
    if step.Approval is not None:
        return task_budget.worst_seconds("Ask for approval", step.timeout_seconds)
    if step.HealthCheck is not None:
        return step.timeout_seconds + STEP_MARGIN_SECONDS
    return step.timeout_seconds  # Wait


def _too_long(where: str, worst: WorstCase, wave_count: int, options: RunOptions) -> str:
    left = EXECUTION_TIMEOUT_SECONDS - worst.fixed - worst.runbook - worst.cleanup
    most = max(1, left // wave_count - WAVE_END_MARGIN_SECONDS)
    parts = [f"{wave_count} waves x {options.WaveTimeoutMinutes} min WaveTimeoutMinutes"]
    if worst.runbook:
        parts.append(f"{worst.runbook / 3600:.1f} h of runbook steps")
    if worst.cleanup:
        parts.append(f"{worst.cleanup / 3600:.1f} h of drill cleanup")
    fix = (
        f"Lower Options.WaveTimeoutMinutes to at most {math.floor(most / 60)}, or split the plan"
        if left > wave_count * (60 + WAVE_END_MARGIN_SECONDS)
        else "Lower the runbook steps' TimeoutMinutes (and Wait Minutes), or split the plan"
    )
    return (
        f"{where} could run {worst.total / 3600:.1f} h ({', '.join(parts)}, plus {WAVE_END_MARGIN_SECONDS} s per wave "
        f"and {worst.fixed / 3600:.1f} h for Prepare, the server locks, Finalize and Record failure, every step at "
        f"its worst under its Retry policy), more than the {EXECUTION_TIMEOUT_SECONDS // 3600} h an execution may run "
        f"(the state machine's TimeoutSeconds). {fix}"
    )


def history_item_bytes(plan: RecoveryPlan, waves: list[WaveRecord]) -> int:
    """The largest the plan's ExecutionHistory item can grow, by DynamoDB's byte rules: every message, warning and
    count at its longest, with the plan's own names."""
    longest = "x" * records.SUMMARY_MESSAGE_MAX
    summaries = [
        WaveSummary(
            WaveNumber=wave.WaveNumber,
            WaveName=wave.WaveName,
            ProtectionGroupId=wave.ProtectionGroupId,
            Region=wave.Region,
            Impact="CRITICAL",
            Status="TIMED_OUT",
            StartTime=9_999_999_999,
            EndTime=9_999_999_999,
            ErrorMessage=longest,
            ServerCount=len(wave.Servers),
            Launched=len(wave.Servers),
            Failed=len(wave.Servers),
            TimedOut=len(wave.Servers),
            Skipped=len(wave.Servers),
            Unknown=len(wave.Servers),
            JobCount=len(wave.Servers),
            MissedChecks=99_999,
        ).model_dump()
        for wave in waves
    ]
    record = ExecutionRecord(
        ExecutionId="x" * EXECUTION_NAME_MAX,
        PlanId=plan.PlanId,
        PlanName=plan.Name,
        ExecutionType="RECOVERY",
        ExecutionArn="x" * ARN_MAX,
        Status="CANCELLED",
        StartTime=9_999_999_999,
        EndTime=9_999_999_999,
        ErrorMessage="x" * records.MESSAGE_MAX,
        Warnings=["x" * records.WARNING_MAX_BYTES] * records.WARNINGS_MAX,
        PlanVersion="x" * VERSION_DIGITS,
        StartedBy="x" * STARTED_BY_MAX,
    ).model_dump()
    record["Waves"] = summaries
    record[records.OPEN_ATTRIBUTE] = "UNRESOLVED"
    return item_bytes(record)


# The widest character in UTF-8 (4 bytes): a field bounded in characters (a step's Detail, a reason) at its longest.
WIDEST_CHAR = "\U0001d11e"
SERVER_ID = "s-" + "0" * 17


def wave_item_bytes(plan: RecoveryPlan, wave: WaveRecord) -> int:
    """The largest a wave's own item in ExecutionWaves (not its pages of servers) can grow, by DynamoDB's byte rules:
    a job per server, every message and count at its longest, a pending start of a whole chunk, and its runbook's
    steps all ended at their longest, one of them still holding its task token."""
    plan_wave = plan.Waves[wave.WaveNumber - 1]
    phases: tuple[tuple[Phase, Steps], ...] = (("BEFORE", plan_wave.Before), ("AFTER", plan_wave.After))
    steps = [_ended_at_longest(step, phase, index) for phase, listed in phases for index, step in enumerate(listed)]
    if steps:
        steps[0]["TaskToken"] = "x" * payloads.TASK_TOKEN_MAX  # the step that waits (only one at a time)
    message = "x" * records.WAVE_MESSAGE_MAX  # cut to WAVE_MESSAGE_MAX UTF-8 bytes (records.truncate)
    head = WaveRecord(
        WaveNumber=wave.WaveNumber,
        WaveName=wave.WaveName,
        ProtectionGroupId=wave.ProtectionGroupId,
        Region=wave.Region,
        Status="CANCELLED",
        StartTime=payloads.EPOCH,
        EndTime=payloads.EPOCH,
        JobIds=[payloads.JOB_ID] * max(1, len(wave.Servers)),
        ErrorMessage=message,
        PendingStart=StartIntent(
            Token="x" * 64, ServerIds=[SERVER_ID] * min(len(wave.Servers), 100), RequestedAt=payloads.EPOCH
        ),
        IntentCount=payloads.COUNT,
        MissedChecks=payloads.COUNT,
        LastCheckError=message,
        ChunkSize=payloads.COUNT,
        JobsStartedAt=payloads.EPOCH,
        JobSeconds=payloads.COUNT,
        Steps=steps,
        StepsVersion=payloads.COUNT,
    )
    item = {
        "ExecutionId": "x" * EXECUTION_NAME_MAX,
        "WaveKey": records.wave_key(wave.WaveNumber),
        **head.model_dump(exclude={"Servers"}),
        "ServerCount": len(wave.Servers),
        "PageCount": payloads.COUNT,
    }
    return item_bytes(item)


def _ended_at_longest(step: Step, phase: Phase, index: int) -> dict[str, Any]:
    """A step's record once it ended, every field at its longest (runbook.StepRecord): a resume's `RanIn` and
    `Previously`, its detail, and for an approval its question, one answer per approver it needs (the last one may
    reject), and the decision (who, why, when)."""
    record = runbook.StepRecord(
        Phase=phase,
        Index=index,
        Kind=step.kind,
        Name=step.label,
        Status="CANCELLED",
        StartedAt=payloads.EPOCH,
        EndedAt=payloads.EPOCH,
        StoppedPlan=True,
        RanIn="x" * EXECUTION_NAME_MAX,
    )
    ended = record.model_dump(exclude_none=True)
    ended["Detail"] = WIDEST_CHAR * runbook.DETAIL_MAX
    ended["Previously"] = WIDEST_CHAR * runbook.PREVIOUSLY_MAX
    if step.Approval is None:
        return ended
    principal = "x" * PRINCIPAL_MAX  # an ARN: ASCII
    reason = WIDEST_CHAR * REASON_MAX
    answer = {"By": principal, "Decision": "APPROVE", "Reason": reason, "At": payloads.EPOCH}
    ended |= {
        "Message": records.truncate(step.Approval.Message, runbook.MESSAGE_RECORD_MAX),
        "Deadline": payloads.EPOCH,
        "OnTimeout": step.Approval.OnTimeout,
        "ApproversNeeded": step.Approval.Approvers,
        "Approvals": [answer] * step.Approval.Approvers,
        "Decision": "APPROVE",
        "DecidedBy": principal,
        "Reason": reason,
        "DecidedAt": payloads.EPOCH,
    }
    return ended


def _wave_item_too_large(where: str, plan: RecoveryPlan, wave: WaveRecord, size: int) -> str:
    plan_wave = plan.Waves[wave.WaveNumber - 1]
    approvals = [s.Approval for s in (*plan_wave.Before, *plan_wave.After) if s.Approval is not None]
    answers = sum(approval.Approvers for approval in approvals)
    return (
        f"{where}, wave {wave.WaveNumber} ({wave.WaveName!r}): its record in ExecutionWaves could reach "
        f"{size / 1024:.0f} KB ({len(wave.Servers)} servers' jobs, {len(plan_wave.Before) + len(plan_wave.After)} "
        f"runbook steps, {len(approvals)} approval(s) keeping up to {answers} answers, each with its principal's ARN "
        f"and a reason of up to {REASON_MAX} characters), more than the {DESIGN_MAX_BYTES // 1024} KB every record "
        "is kept under. Ask fewer approvals (or fewer Approvers) in that wave, move steps to another wave, or split it"
    )


def _runbook_problems(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, where: str) -> list[str]:
    """Runbook steps this version of the workflow cannot run, and runbooks too large to carry."""
    found = []
    prefix = os.environ.get(HOOK_FUNCTION_PREFIX) or DEFAULT_HOOK_FUNCTION_PREFIX
    for number, wave in enumerate(plan.Waves, start=1):
        for phase, steps in (("Before", wave.Before), ("After", wave.After)):
            for index, step in enumerate(steps):
                name = step.Lambda.function_name if step.Lambda is not None else None
                found.extend(_foreign_arn(step, f"{where}, wave {number} ({wave.WaveName!r}), {phase}[{index}]"))
                if name is not None and prefix and not name.startswith(prefix):
                    found.append(
                        f"{where}, wave {number} ({wave.WaveName!r}), {phase}[{index}]: function {name!r} does not "
                        f"start with {prefix!r}, the only functions this stack may invoke. Rename the function (or "
                        "deploy with another context drs:hookFunctionPrefix)"
                    )
    size = len(json.dumps([[s.model_dump(exclude_none=True) for s in (*w.Before, *w.After)] for w in plan.Waves]))
    if size > RUNBOOK_JSON_MAX:
        found.append(
            f"{where}: its runbook steps take {size / 1024:.0f} KB of JSON, more than the "
            f"{RUNBOOK_JSON_MAX // 1024} KB the state machine's data can carry beside the waves. Shorten payloads "
            "and messages, or split the plan"
        )
    return found


def _foreign_arn(step: Step, where: str) -> list[str]:
    """A hook given as an ARN in another account or Region: the state machine may not invoke it."""
    if step.Lambda is None or not step.Lambda.FunctionName.startswith("arn:"):
        return []
    parts = step.Lambda.FunctionName.split(":")
    region, account = parts[3], parts[4]
    own_region, own_account = os.environ.get("AWS_REGION"), os.environ.get(HOOK_FUNCTION_ACCOUNT)
    if (own_region and region != own_region) or (own_account and account != own_account):
        return [
            f"{where}: function {step.Lambda.FunctionName} is in account {account}, Region {region}; this stack "
            f"may invoke hooks in {own_account or 'its own account'}, {own_region or 'its own Region'} only. Deploy "
            "the function there, or name it by its name alone"
        ]
    return []
