"""What one execution can hold, checked by Prepare before anything is launched.

A plan that passes these checks cannot break a limit of AWS halfway through a recovery:

- its ExecutionHistory item stays under 100 KB (DynamoDB refuses items over 400 KB): computed from the plan's own
  names by DynamoDB's byte rules, with every message at its longest;
- a wave holds at most 2,000 servers (its servers are written in one transaction of at most 21 items);
- the whole plan, at most 10,000 servers (Prepare's locks and listings stay far inside its timeout);
- its worst case, every wave running to its WaveTimeoutMinutes, ends inside the state machine's TimeoutSeconds
  (48 h: an execution that reaches it is ended by Step Functions, however its waves are doing);
- its history fits the 25,000 events of one execution (`polling.max_waves`).
"""

from __future__ import annotations

import json
import math
import os

from lambdas.core import polling, records
from lambdas.core.item_size import DESIGN_MAX_BYTES, item_bytes
from lambdas.core.plan import STARTED_BY_MAX, RecoveryPlan, RunOptions
from lambdas.core.plan_version import VERSION_DIGITS
from lambdas.core.records import ExecutionRecord, WaveRecord, WaveSummary
from lambdas.core.steps import DEFAULT_HOOK_FUNCTION_PREFIX, Step

EXECUTION_TIMEOUT_SECONDS = 172_800  # the ASL's TimeoutSeconds (a test pins them equal)
# After its deadline a wave's last check and its close still run (seconds; their retries, rarely, more: an
# execution that then reaches the timeout is ended TIMED_OUT and reconciled like any other).
WAVE_END_MARGIN_SECONDS = 10
EXECUTION_MARGIN_SECONDS = 300  # Prepare and Finalize
STEP_MARGIN_SECONDS = 10  # a runbook step's Next runbook step and Choice
HOOK_FUNCTION_PREFIX = "HOOK_FUNCTION_PREFIX"  # set by the stack: the names the state machine may invoke
HOOK_FUNCTION_ACCOUNT = "HOOK_FUNCTION_ACCOUNT"  # set by the stack: its account, the only one hooks may be in
RUNBOOK_JSON_MAX = 64 * 1024  # every wave's steps travel in the state machine's data (256 KiB in all)
HOOK_EVENT_SERVERS_MAX = 1_000  # a hook's event lists the wave's servers (about 150 B each) in the state's data
PLAN_SERVERS_MAX = 10_000
EXECUTION_NAME_MAX = 80  # Step Functions execution names
ARN_MAX = 256


def problems(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions) -> list[str]:
    """Every way the plan exceeds what one execution holds, each with the numbers and what to change."""
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
    runbook_seconds = plan.runbook_seconds() + cleanup_seconds(options)
    worst = worst_case_seconds(len(waves), options, runbook_seconds, steps)
    if worst > EXECUTION_TIMEOUT_SECONDS:
        runbook = runbook_seconds + steps * STEP_MARGIN_SECONDS
        left = EXECUTION_TIMEOUT_SECONDS - EXECUTION_MARGIN_SECONDS - runbook
        most = max(1, left // len(waves) - WAVE_END_MARGIN_SECONDS)
        steps_part = (
            f", {runbook / 3600:.1f} h of runbook steps and drill cleanup at their timeouts" if steps or cleanup else ""
        )
        fix = (
            f"Lower Options.WaveTimeoutMinutes to at most {math.floor(most / 60)}, or split the plan"
            if left > len(waves) * (60 + WAVE_END_MARGIN_SECONDS)
            else "Lower the runbook steps' TimeoutMinutes (and Wait Minutes), or split the plan"
        )
        found.append(
            f"{where} could run {worst / 3600:.1f} h ({len(waves)} waves x {options.WaveTimeoutMinutes} min "
            f"WaveTimeoutMinutes{steps_part}, plus {WAVE_END_MARGIN_SECONDS} s per wave and "
            f"{EXECUTION_MARGIN_SECONDS // 60} min for Prepare and Finalize), more than the "
            f"{EXECUTION_TIMEOUT_SECONDS // 3600} h an execution may run (the state machine's TimeoutSeconds). {fix}"
        )
    return found


def cleanup_seconds(options: RunOptions) -> int:
    """The drill cleanup's longest run: its wait, then the TERMINATE jobs up to their deadline."""
    if options.DrillCleanup is None:
        return 0
    return options.DrillCleanup.AfterMinutes * 60 + polling.CLEANUP_DEADLINE_SECONDS + STEP_MARGIN_SECONDS


def worst_case_seconds(wave_count: int, options: RunOptions, runbook_seconds: int = 0, runbook_steps: int = 0) -> int:
    """How long the execution may run if every wave runs to its deadline and every runbook step to its timeout."""
    per_wave = options.WaveTimeoutMinutes * 60 + WAVE_END_MARGIN_SECONDS
    return EXECUTION_MARGIN_SECONDS + wave_count * per_wave + runbook_seconds + runbook_steps * STEP_MARGIN_SECONDS


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


def _runbook_problems(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, where: str) -> list[str]:
    """Runbook steps this version of the workflow cannot run, and runbooks too large to carry."""
    found = []
    waves_by_number = {wave.WaveNumber: len(wave.Servers) for wave in waves}
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
                if step.Lambda is not None and waves_by_number[number] > HOOK_EVENT_SERVERS_MAX:
                    found.append(
                        f"{where}, wave {number} ({wave.WaveName!r}), {phase}[{index}]: the hook's event lists the "
                        f"wave's {waves_by_number[number]} servers, more than the {HOOK_EVENT_SERVERS_MAX} a state's "
                        "256 KiB can carry. Split the wave, or run the hook from a smaller wave"
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
