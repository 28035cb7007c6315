"""The plan's own functions and its approvers, as a rehearsal plays them (scenario `functions` and `approvals`).

Each function the scenario declares is created in the local Lambda service with `handler` below as its code: it
takes `seconds` on the virtual clock, then raises `error` (an exception of that name: the errorType Step Functions
matches) or returns `output`. A `WaitForCallback` hook returns at once and its answer comes `seconds` later through
SendTaskSuccess / SendTaskFailure, from a thread that counts its time for the waiting task, so a hook or an approval
answered after the step's TimeoutMinutes ends the step with States.Timeout, as in AWS. Approvals are answered as the
scenario's `approvals` say, after `afterSeconds`, through the stack's own answer function with the request its
function URL would give it (drsctl/local/function_url.py), each principal in turn: the rehearsal answers by the same
code path as `drsctl run approve` on AWS, and nothing here holds or sends an approval's task token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3

from drsctl.clock import VirtualClock
from drsctl.emulator.scenario import DEFAULT_APPROVER, Approval, FunctionSpec, Scenario
from drsctl.local.engine import AccountedThread, EngineStats, Invocation
from lambdas.core.plan import RecoveryPlan
from lambdas.core.steps import APPROVERS_MAX

HANDLER = "drsctl.local.hooks.handler"
APPROVAL_FUNCTION_SUFFIX = "request-approval"
REJECTION_REASON = "rejected by the rehearsal scenario's approvals"

# What the stand-ins do, by function name, and how they take their time: set by `install` for one rehearsal.
_stand_ins: dict[str, FunctionSpec] = {}
_sleep: list[Callable[[float], None]] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A user function's stand-in (its code in the local Lambda service)."""
    spec = _stand_ins[context.function_name]
    if "TaskToken" in event:  # the answer comes later, from `_answer_callbacks`
        return {"Accepted": True}
    deadline = float((event.get("Hook") or {}).get("TimeoutSeconds") or spec.seconds)
    if spec.seconds:
        _sleep[0](min(spec.seconds, deadline))  # AWS ends the step at its deadline: the clock stops there too
    if spec.error is not None:
        raise type(spec.error, (Exception,), {})(f"{context.function_name} failed as the scenario says")
    return spec.output or {}


def scenario_problems(plan: RecoveryPlan, scenario: Scenario) -> list[str]:
    """A hook naming a function the scenario does not play, or an approval answer for a wave the plan does not have,
    cannot be rehearsed: one line per problem."""
    found = []
    for number, wave in enumerate(plan.Waves, start=1):
        for phase, steps in (("Before", wave.Before), ("After", wave.After)):
            for index, step in enumerate(steps):
                if step.Lambda is None:
                    continue
                name = step.Lambda.function_name
                if step.Lambda.FunctionName.rsplit(":function:", 1)[-1] != name:
                    found.append(
                        f"wave {number} ({wave.WaveName!r}), {phase}[{index}]: {step.Lambda.FunctionName} names a "
                        "version or alias, which a rehearsal cannot play; name the function alone to rehearse it"
                    )
                elif name not in scenario.functions:
                    found.append(
                        f"wave {number} ({wave.WaveName!r}), {phase}[{index}]: function {name!r} is not in the "
                        f"scenario's functions; add `functions: {{{name}: {{seconds: 5}}}}` to the scenario to say how "
                        "it behaves in the rehearsal"
                    )
    names = {wave.WaveName for wave in plan.Waves}
    for approval in scenario.approvals:
        if approval.wave is not None and approval.wave not in names:
            found.append(
                f"scenario approvals: wave {approval.wave!r} is not a wave of plan {plan.PlanId!r} (its waves: "
                f"{', '.join(sorted(names))}); name one of them, or leave `wave` out to answer every approval"
            )
    return found


def install(
    scenario: Scenario,
    engine: EngineStats,
    role_arn: str,
    region: str,
    *,
    clock: VirtualClock,
    answer_undeclared_approvals: bool = True,
) -> None:
    """Create the scenario's functions and answer callbacks and approvals as it says (an approval the scenario does
    not declare is approved at once, unless `answer_undeclared_approvals` is False: then it waits for an operator)."""
    _stand_ins.clear()
    _stand_ins.update(scenario.functions)
    _sleep[:] = [engine.sleep]
    awslambda = boto3.client("lambda", region_name=region)
    for name in scenario.functions:
        awslambda.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler=HANDLER,
            Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},  # an empty zip: the stand-in runs in-process
            Timeout=900,
            MemorySize=128,
        )
    engine.listeners.append(_answerer(scenario, engine, region, clock, answer_undeclared_approvals))


def _answerer(
    scenario: Scenario, engine: EngineStats, region: str, clock: VirtualClock, undeclared: bool
) -> Callable[..., None]:
    declared = {approval.wave for approval in scenario.approvals}

    def answer(invocation: Invocation, request: dict[str, Any], response: Any) -> None:
        token = request.get("TaskToken")
        if not token or invocation.error is not None:
            return
        if invocation.function in _stand_ins:
            spec = _stand_ins[invocation.function]
            timeout = float((request.get("Hook") or {}).get("TimeoutSeconds") or spec.seconds)
            if spec.error is not None:
                outcome: dict[str, Any] = {
                    "error": spec.error,
                    "cause": f"{invocation.function} failed as the scenario says",
                }
            else:
                outcome = {"output": spec.output or {}}
            _later(engine, region, token, min(spec.seconds, timeout), outcome)
        elif invocation.function.endswith(APPROVAL_FUNCTION_SUFFIX):
            if not undeclared and not ({request.get("WaveName"), None} & declared):
                return  # the operator answers it
            approval = scenario.approval_for(str(request.get("WaveName")))
            steps = request.get("Steps") or {}
            timeout = float(steps.get("TimeoutSeconds") or approval.afterSeconds)
            where = {"ExecutionId": request.get("ExecutionId"), "Wave": request.get("WaveNumber")}
            where["Step"] = {"Phase": steps.get("Phase"), "Index": steps.get("Index")}
            _answer_approval_later(engine, clock, min(approval.afterSeconds, timeout), approval, where)

    return answer


def _answer_approval_later(
    engine: EngineStats, clock: VirtualClock, seconds: float, approval: Approval, where: dict[str, Any]
) -> None:
    """After `seconds` (a thread that counts for the waiting task, as `_later`), each of the approval's principals
    answers through the answer function, until one answer decides the step or every named principal has answered."""
    from drsctl.local.function_url import Principal, answer_approval  # noqa: PLC0415 - it imports the rehearsal

    principals = approval.by or [f"{DEFAULT_APPROVER}-{n}" for n in range(1, APPROVERS_MAX + 1)]
    reason = approval.reason or (REJECTION_REASON if approval.decision == "REJECT" else None)

    def run() -> None:
        if seconds:
            engine.sleep(seconds)
        for arn in principals:
            body = {**where, "Decision": approval.decision, **({"Reason": reason} if reason else {})}
            status, answered = answer_approval(principal=Principal(arn=arn), now=clock.now(), body=body)
            if status != 200 and answered.get("Error") != "AlreadyAnswered":
                return  # too late (the step timed out) or the execution ended: as for an approver on AWS
            if answered.get("Status") in ("APPROVED", "REJECTED"):
                return

    thread: threading.Thread = AccountedThread(target=run, name="rehearsal-approver", daemon=True)
    thread.start()


def _later(engine: EngineStats, region: str, token: str, seconds: float, outcome: dict[str, Any]) -> None:
    """Answer `token` after `seconds` on the virtual clock, from a thread that counts for the waiting task (it is
    started on the task's thread: see engine.AccountedThread), so an answer past the task's timeout times it out."""

    def run() -> None:
        if seconds:
            engine.sleep(seconds)
        client = boto3.client("stepfunctions", region_name=region)
        try:
            if "error" in outcome:
                client.send_task_failure(taskToken=token, error=outcome["error"], cause=outcome["cause"])
            else:
                client.send_task_success(taskToken=token, output=json.dumps(outcome["output"]))
        except (client.exceptions.TaskTimedOut, client.exceptions.TaskDoesNotExist, client.exceptions.InvalidToken):
            # the step timed out, or its execution ended (stopped while the answer was on its way): too late, as
            # an external system's answer is on AWS; nothing is left to answer
            pass

    thread: threading.Thread = AccountedThread(target=run, name="rehearsal-answer", daemon=True)
    thread.start()


def answer_from_now_on(
    scenario: Scenario,
    *,
    functions: dict[str, FunctionSpec] | None = None,
    approvals: list[Approval] | None = None,
) -> None:
    """Between two executions of one rehearsal (a team fixed a hook, an approver changed their mind, then resumed):
    the stand-ins in `functions` (declared by the scenario) and the `approvals` answer from now on, in place of the
    scenario's."""
    unknown = sorted(set(functions or {}) - set(_stand_ins))
    if unknown:
        raise ValueError(f"functions {unknown} are not in the scenario: only a declared function can answer anew")
    if functions:
        _stand_ins.update(functions)
        scenario.functions = {**scenario.functions, **functions}
    if approvals is not None:
        scenario.approvals = list(approvals)
