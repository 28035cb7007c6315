"""Every payload Step Functions carries for a plan, sized in bytes by Prepare before anything is launched.

Step Functions refuses a state's input or output, a state's input after Parameters (or a Map iteration's after
ItemSelector) and a task's result over 256 KiB (262,144 bytes of JSON in UTF-8) with States.DataLimitExceeded, an
error States.ALL does not catch: past it, the execution fails wherever it stands, servers launched or not. So for
the plan's own names, its servers' hostnames as DRS reports them, and every other field at its longest, Prepare
builds each payload the definition can make and refuses a plan any of them could pass, naming the wave, the step
and the size (exit code 2 in drsctl):

- the execution's input (an inline plan), with what Finalize and Record failure add around it, and a caught error;
- Prepare's result and the state it leaves (every wave's Map item: its name and runbook steps), with a caught error;
- each wave's state (the Map iteration's input after ItemSelector) at its largest: its progress (every job ID,
  one per server at most), and the runbook step it stands at: a hook's event (every server with its hostname,
  status and recovery instance ID), an approval's message, or a health check's answer (or the error its Catch
  keeps, up to Step Functions' 256 + 32,768 characters);
- each task's input after Parameters (a hook's event with its task token, Next runbook step's, Start and Check
  wave's) and each task's result (Next runbook step's answer, the wave's progress), in the Lambda result's envelope.

What a hook returns, or a callback or an approver answers, is not in the state at all: its end is read from the
execution's history (lambdas/core/step_end.py); a result over 256 KiB fails that task alone, caught by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambdas.core import records, runbook
from lambdas.core.plan import RecoveryPlan, RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.records import ServerRecord, WaveRecord
from lambdas.core.steps import STEPS_PER_PHASE_MAX, Phase, Step

PAYLOAD_MAX_BYTES = 256 * 1024  # Step Functions: a state's input or output, a task's result (UTF-8 bytes of JSON)
# What each number and name can grow to in the state's data.
EPOCH = 9_999_999_999
COUNT = 9_999_999_999
EXECUTION_NAME_MAX = 80  # Step Functions execution names
ARN_MAX = 256
TASK_TOKEN_MAX = 2_048  # SendTaskSuccess / SendTaskFailure taskToken
ERROR_MAX_CHARS = 256  # Step Functions: an error name
CAUSE_MAX_CHARS = 32_768  # ... and its cause
BYTES_PER_CHAR = 3  # UTF-8 of any character Step Functions counts as one (a UTF-16 unit): at most 3 bytes
# lambda:invoke's result around the function's own answer (ExecutedVersion, SdkHttpMetadata with the response's
# headers, SdkResponseMetadata, StatusCode): about 1 KB on AWS, reserved twice
LAMBDA_ENVELOPE_BYTES = 2_048
JOB_ID = "drsjob-" + "0" * 17
ACCOUNT = "0" * 12  # an account ID: 12 digits
INSTANCE_ID = "i-" + "0" * 17  # EC2 instance IDs: i- and 17 hexadecimal digits
NOW = "2026-01-01T00:00:00.000Z"  # $$.State.EnteredTime
LONGEST_MODE: ExecutionMode = "RECOVERY"
LONGEST_PHASE: Phase = "BEFORE"
LONGEST_SERVER_STATUS = max(("PENDING", "LAUNCHING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TIMED_OUT"), key=len)
FAILED_CAUSE_MAX_CHARS = 8_192  # Next runbook step's FAILED answer: the step, the wave, its detail and what to do


def payload_bytes(value: Any) -> int:
    """A payload's size as Step Functions counts it: its compact JSON in UTF-8."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


@dataclass(frozen=True)
class Payload:
    what: str  # "the state of wave 2 at step Before[0]", ...
    size: int
    fix: str


def problems(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, raw_input: Any = None) -> list[str]:
    """Each payload that could pass 256 KiB: the largest per wave, and those of the execution as a whole."""
    where = f"plan {plan.PlanId!r}"
    found = []
    for payload in (*_execution_payloads(plan, waves, options, raw_input), *_largest_per_wave(plan, waves, options)):
        if payload.size > PAYLOAD_MAX_BYTES:
            found.append(
                f"{where}: {payload.what} could reach {payload.size:,} bytes, more than the {PAYLOAD_MAX_BYTES:,} "
                f"(256 KiB) Step Functions carries in a state. {payload.fix}"
            )
    return found


def largest(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, raw_input: Any = None) -> Payload:
    """The largest payload the plan can make (for the figures: how far it stays from 256 KiB)."""
    every = [*_execution_payloads(plan, waves, options, raw_input), *_largest_per_wave(plan, waves, options)]
    return max(every, key=lambda payload: payload.size)


# -- the execution as a whole --------------------------------------------------------------------------------------


def caught_error() -> dict[str, str]:
    """The largest error a Catch keeps in the state (`{"Error", "Cause"}`), every character at its widest."""
    return {"Error": "€" * ERROR_MAX_CHARS, "Cause": "€" * CAUSE_MAX_CHARS}


def _execution_payloads(
    plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions, raw_input: Any
) -> list[Payload]:
    prepared = prepared_result(plan, waves, options)
    state = {key: value for key, value in prepared.items() if key != "Warnings"}  # Prepare's ResultSelector
    found = [
        Payload("Prepare's result", LAMBDA_ENVELOPE_BYTES + payload_bytes(prepared), _SPLIT_PLAN),
        Payload(
            "the state after Prepare, with an error caught",
            payload_bytes({**state, "Error": caught_error()}),
            _SPLIT_PLAN,
        ),
    ]
    # At the end: an error the wave loop's Catch kept, Finalize's (or Record failure's) answer, and an error the drill
    # cleanup's Catch kept
    ending = {**state, "Error": caught_error(), "Result": _finished()}
    if options.DrillCleanup is not None:
        ending["CleanupError"] = caught_error()
    found.append(
        Payload("the state at the end of the execution, with the errors caught", payload_bytes(ending), _SPLIT_PLAN)
    )
    if raw_input is not None:
        # Finalize and Record failure pass the execution's input to our function, beside an error caught
        around = {"ExecutionId": "x" * EXECUTION_NAME_MAX, "ExecutionArn": "x" * ARN_MAX, "Now": NOW}
        finalize = {"FunctionName": "x" * ARN_MAX, "Payload": {**around, "Input": raw_input, "Error": caught_error()}}
        found.append(
            Payload(
                "the execution's input, as Record failure receives it",
                payload_bytes(finalize),
                "Store the plan (drsctl plan load) and start the execution with its PlanId instead of the plan inline",
            )
        )
    return found


def _finished() -> dict[str, Any]:
    """Finalize's and Record failure's answer at its longest (finish.Finished; the record's messages are cut to
    MESSAGE_MAX bytes)."""
    message = "x" * records.MESSAGE_MAX
    cleanup = {"Status": "TERMINATING", "NextCheckSeconds": COUNT, "Detail": message}
    return {"Status": "CANCELLED", "ErrorMessage": message, "Summary": message, "Cleanup": cleanup}


def prepared_result(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions) -> dict[str, Any]:
    """Prepare's answer at its longest (lambdas/core/prepare.py Prepared): every wave's Map item."""
    return {
        "ExecutionId": "x" * EXECUTION_NAME_MAX,
        "PlanId": plan.PlanId,
        "ExecutionType": LONGEST_MODE,
        "Options": options.model_dump(mode="json"),
        "EventBudgetPerWave": COUNT,
        "WavesEndBy": EPOCH,
        "Waves": [map_item(plan, wave.WaveNumber) for wave in waves],
        "ServerCount": COUNT,
        "Locking": {"NextWave": COUNT, "WaveCount": COUNT, "Done": False, "Locked": COUNT},
        "Warnings": ["x" * records.WARNING_MAX_BYTES] * records.WARNINGS_MAX,
    }


def map_item(plan: RecoveryPlan, number: int) -> dict[str, Any]:
    """A wave as the Map iterates it (prepare.WaveRef)."""
    wave = plan.Waves[number - 1]
    return {
        "WaveNumber": number,
        "WaveName": wave.WaveName,
        "Before": [s.model_dump(exclude_none=True) for s in wave.Before],
        "After": [s.model_dump(exclude_none=True) for s in wave.After],
    }


_SPLIT_PLAN = "Shorten the runbook steps' payloads and messages, or split the plan"


# -- each wave -----------------------------------------------------------------------------------------------------


def _largest_per_wave(plan: RecoveryPlan, waves: list[WaveRecord], options: RunOptions) -> list[Payload]:
    return [max(wave_payloads(plan, wave, options), key=lambda payload: payload.size) for wave in waves]


def wave_payloads(plan: RecoveryPlan, wave: WaveRecord, options: RunOptions) -> list[Payload]:
    """Every payload of one wave's iteration of the Map, at its largest."""
    label = f"wave {wave.WaveNumber} ({wave.WaveName!r})"
    base = iteration_input(plan, wave, options)
    progress = worst_progress(wave)
    split = f"Split the wave (it has {len(wave.Servers)} servers)"
    found = [
        Payload(f"the state of {label} as its iteration starts", payload_bytes(base), _SPLIT_PLAN),
        Payload(f"the state of {label} while it launches", payload_bytes({**base, "Progress": progress}), split),
        Payload(f"Check wave jobs' result for {label}", LAMBDA_ENVELOPE_BYTES + payload_bytes(progress), split),
    ]
    found.append(Payload(f"Check wave jobs' input for {label}", payload_bytes(_wave_step_input(base, progress)), split))
    worst_wave = _worst_wave(wave)
    plan_wave = plan.Waves[wave.WaveNumber - 1]
    if plan_wave.Before or plan_wave.After:  # a step that stops the plan: Next runbook step's FAILED answer
        failed = {
            "Phase": LONGEST_PHASE,
            "Index": STEPS_PER_PHASE_MAX,
            "Kind": "FAILED",
            "Error": "x" * ERROR_MAX_CHARS,
        }
        failed["Cause"] = "€" * FAILED_CAUSE_MAX_CHARS
        state = {**base, "Progress": progress, "Steps": {key: failed.get(key) for key in runbook.ANSWER_KEYS}}
        found.append(Payload(f"the state of {label} when a runbook step stops the plan", payload_bytes(state), split))
    for phase, steps in (("Before", plan_wave.Before), ("After", plan_wave.After)):
        for index, step in enumerate(steps):
            found.extend(
                _step_payloads(base, progress, worst_wave, step, f"{label}, {phase}[{index}] ({step.label!r})")
            )
    return found


def iteration_input(plan: RecoveryPlan, wave: WaveRecord, options: RunOptions) -> dict[str, Any]:
    """The wave's state as the Map's ItemSelector makes it."""
    item = map_item(plan, wave.WaveNumber)
    return {
        "ExecutionId": "x" * EXECUTION_NAME_MAX,
        "PlanId": plan.PlanId,
        "ExecutionType": LONGEST_MODE,
        "Options": options.model_dump(mode="json"),
        "EventBudget": COUNT,
        "WavesEndBy": EPOCH,
        "WaveNumber": wave.WaveNumber,
        "WaveName": wave.WaveName,
        "Progress": {},
        "Runbook": {"Before": item["Before"], "After": item["After"]},
        "Steps": {"Phase": LONGEST_PHASE, "Index": -1},
    }


def worst_progress(wave: WaveRecord) -> dict[str, Any]:
    """Start and Check wave's answer at its longest (waves.WaveProgress): a job per server at most."""
    return {
        "Status": "WAITING_FOR_CAPACITY",
        "NextCheckSeconds": COUNT,
        "Checks": COUNT,
        "MissedChecks": COUNT,
        "StartAttempts": COUNT,
        "EventsUsed": COUNT,
        "Launched": COUNT,
        "Servers": COUNT,
        "StartedAt": EPOCH,
        "JobsStartedAt": EPOCH,
        "ExpectedSeconds": COUNT,
        "Jobs": _worst_jobs(wave),
        "Fingerprint": "x" * 16,
        "Cause": "€" * (records.WAVE_MESSAGE_MAX // BYTES_PER_CHAR),  # cut to WAVE_MESSAGE_MAX bytes
        "LastError": "€" * 160,  # AwsFailure.short()
    }


def _worst_jobs(wave: WaveRecord) -> dict[str, list[str]]:
    """The wave's job IDs by (account, Region) (`<account>/<Region>`), a job per server at most."""
    jobs: dict[str, list[str]] = {}
    for server in wave.Servers or [ServerRecord(SourceServerId="s-" + "0" * 17)]:
        jobs.setdefault(f"{server.Account or ACCOUNT}/{server.Region or wave.Region}", []).append(JOB_ID)
    return jobs


def _wave_step_input(base: dict[str, Any], progress: dict[str, Any]) -> dict[str, Any]:
    payload = {key: base[key] for key in ("ExecutionId", "PlanId", "ExecutionType", "WaveNumber", "Options")}
    payload |= {"Progress": progress, "EventBudget": COUNT, "WavesEndBy": EPOCH, "RetryCount": COUNT, "Now": NOW}
    return {"FunctionName": "x" * ARN_MAX, "Payload": payload}


def _worst_wave(wave: WaveRecord) -> WaveRecord:
    """The wave as a hook's event shows it at its longest: every server with a status and a recovery instance."""
    servers = [
        ServerRecord(
            SourceServerId=s.SourceServerId,
            Hostname=s.Hostname,
            Status=LONGEST_SERVER_STATUS,
            InstanceId=INSTANCE_ID,
            Account=ACCOUNT,
            Region=s.Region or wave.Region,
        )
        for s in wave.Servers
    ]
    return wave.model_copy(update={"Servers": servers})


def cursor(step: Step, worst_wave: WaveRecord) -> dict[str, Any]:
    """Next runbook step's answer that starts `step` (its state's `$.Steps`), at its longest."""
    started = {
        "Phase": LONGEST_PHASE,
        "Index": STEPS_PER_PHASE_MAX,
        "Name": step.label,
        **runbook._state_input(step, worst_wave, LONGEST_MODE, LONGEST_PHASE),
    }
    return {key: started.get(key) for key in runbook.ANSWER_KEYS}


def _outcome(step: Step) -> Any:
    """What the step's state keeps at `$.Steps.Outcome` for Next runbook step: none for a hook or an approval (their
    end is read from the history), a wait's mark, a health check's answer or the error its Catch caught."""
    if runbook.ends_in_history(step):
        return None
    if step.Wait is not None:
        return {"Waited": True}
    return caught_error()  # larger than any answer of Check health (its Output and Cause are a few KB)


def _step_payloads(
    base: dict[str, Any], progress: dict[str, Any], worst_wave: WaveRecord, step: Step, label: str
) -> list[Payload]:
    started = cursor(step, worst_wave)
    ended = started if _outcome(step) is None else {**started, "Outcome": _outcome(step)}
    state = {**base, "Progress": progress, "Steps": ended}
    event = started.get("Event")
    fix = (
        f"The hook's event lists the wave's {len(worst_wave.Servers)} servers with their hostnames and recovery "
        f"instances ({payload_bytes(event):,} bytes): split the wave, or run the hook from a smaller wave"
        if step.Lambda is not None
        else _SPLIT_PLAN
    )
    found = [
        Payload(f"the state of {label}", payload_bytes(state), fix),
        Payload(
            f"Next runbook step's result for {label}",
            LAMBDA_ENVELOPE_BYTES + payload_bytes(started),
            fix,
        ),
        Payload(f"Next runbook step's input after {label}", payload_bytes(_next_step_input(base, ended)), fix),
    ]
    if step.Lambda is not None:
        hook = {"Hook": event, "TaskToken": "x" * TASK_TOKEN_MAX}
        found.append(
            Payload(
                f"the hook's input for {label}", payload_bytes({"FunctionName": "x" * ARN_MAX, "Payload": hook}), fix
            )
        )
    if step.Approval is not None:
        request = {key: base[key] for key in ("ExecutionId", "PlanId", "ExecutionType", "WaveNumber", "WaveName")}
        request |= {"Steps": started, "TaskToken": "x" * TASK_TOKEN_MAX, "Now": NOW}
        found.append(
            Payload(
                f"the approval's request for {label}",
                payload_bytes({"FunctionName": "x" * ARN_MAX, "Payload": request}),
                fix,
            )
        )
    return found


def _next_step_input(base: dict[str, Any], steps: dict[str, Any]) -> dict[str, Any]:
    payload = {key: base[key] for key in ("ExecutionId", "PlanId", "ExecutionType", "WaveNumber", "Runbook")}
    payload |= {"ExecutionArn": "x" * ARN_MAX, "Steps": steps, "WavesEndBy": EPOCH, "Now": NOW}
    return {"FunctionName": "x" * ARN_MAX, "Payload": payload}
