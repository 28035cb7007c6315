"""One word for each state of an execution, in the CLI, `--json`, the sandbox's log and the report.

An execution is RUNNING, COMPLETED, PARTIAL, FAILED, CANCELLED or TIMED_OUT. The records keep the values they store
(an open record is PENDING while Prepare runs and POLLING after; Step Functions says SUCCEEDED and ABORTED); what an
operator reads is mapped here (docs/operations.md, "One vocabulary"):

| stored | shown |
|---|---|
| record PENDING, POLLING; Step Functions RUNNING (no record yet) | RUNNING |
| record COMPLETED, PARTIAL, FAILED, CANCELLED, TIMED_OUT | the same |
| Step Functions SUCCEEDED, FAILED, TIMED_OUT, ABORTED (no record) | COMPLETED, FAILED, TIMED_OUT, CANCELLED |

While RUNNING, `waitingFor` says what it waits for: an approval, a callback (a hook's SendTaskSuccess), a health
check, a wait step; and `cleanup` once a drill has ended and its DrillCleanup waits or terminates its instances.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lambdas.core.records import ExecutionRecord, WaveRecord

ExecutionState = Literal["RUNNING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT"]
STATES: tuple[ExecutionState, ...] = ("RUNNING", "COMPLETED", "PARTIAL", "FAILED", "CANCELLED", "TIMED_OUT")
RUNNING_RECORD = ("PENDING", "POLLING")  # lambdas/core/records.py ACTIVE_EXECUTION_STATUSES
_STEP_FUNCTIONS: dict[str, ExecutionState] = {
    "RUNNING": "RUNNING",
    "PENDING_REDRIVE": "RUNNING",
    "SUCCEEDED": "COMPLETED",
    "FAILED": "FAILED",
    "TIMED_OUT": "TIMED_OUT",
    "ABORTED": "CANCELLED",
}
WaitingFor = Literal["approval", "callback", "health check", "wait", "cleanup"]
_STEP_WAITS: dict[str, WaitingFor] = {"Approval": "approval", "HealthCheck": "health check", "Wait": "wait"}
OPEN_CLEANUP = ("PLANNED", "WAITING", "TERMINATING")


def execution_state(record_status: str | None, step_functions_status: str | None) -> str:
    """The word shown for an execution: its record's status mapped, else Step Functions' (an unknown value as is)."""
    if record_status is not None:
        return "RUNNING" if record_status in RUNNING_RECORD else record_status
    return _STEP_FUNCTIONS.get(str(step_functions_status), str(step_functions_status))


def record_statuses(state: str) -> tuple[str, ...]:
    """The stored record statuses a shown state stands for (RUNNING: PENDING and POLLING)."""
    return RUNNING_RECORD if state == "RUNNING" else (state,)


def waiting_for(
    record: ExecutionRecord | None, waves: list[WaveRecord], callbacks: set[tuple[int, str, int]] | None = None
) -> WaitingFor | None:
    """What a running execution waits for, or None (it is working: preparing, launching, checking).

    `callbacks`: the (wave, phase, index) of the plan's Lambda steps that wait for their callback (a running Lambda
    step is a callback only when the plan says so; None: not known)."""
    record_open = record is None or record.Status in RUNNING_RECORD
    for wave in waves if record_open else ():  # an ended record's steps have ended (read before it, still RUNNING)
        for step in wave.Steps:
            if step.get("Status") != "RUNNING":
                continue
            kind = str(step.get("Kind"))
            if kind in _STEP_WAITS:
                return _STEP_WAITS[kind]
            position = (wave.WaveNumber, str(step.get("Phase")), int(step.get("Index") or 0))
            if kind == "Lambda" and callbacks is not None and position in callbacks:
                return "callback"
    if record is not None and not record_open:
        cleanup = record.Cleanup
        if cleanup is not None and cleanup.Status in ("WAITING", "TERMINATING"):
            return "cleanup"
    return None


def callback_steps(plan: dict[str, Any]) -> set[tuple[int, str, int]]:
    """(wave, phase, index) of every Lambda step of a stored plan that waits for its callback."""
    found: set[tuple[int, str, int]] = set()
    for number, wave in enumerate(plan.get("Waves", []), start=1):
        for phase in ("Before", "After"):
            for index, step in enumerate(wave.get(phase) or []):
                if (step.get("Lambda") or {}).get("WaitForCallback"):
                    found.add((number, phase.upper(), index))
    return found
