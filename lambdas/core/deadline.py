"""The execution's own deadline: its waves end in time for the states after them, whatever the faults.

Step Functions ends an execution at the state machine's TimeoutSeconds (48 h) wherever it stands: servers still in
DRS jobs, the record open until the reconcile path comes. Prepare refuses a plan whose own timeouts could pass it
(`lambdas/core/limits.py`), every Task counted at its worst. That fit does not count what a deadline lets begin and
a Retry block carries past it: a wave's last check, entered at the wave's deadline after the check before it ran its
worst, then retried to its own worst; a health check's last look the same. Counted for every wave (about 30 minutes
each), they would refuse plans of more than about 60 short waves.

So the execution carries its own deadline. Prepare computes, from the execution's start (its record's StartTime: the
first state's `$$.State.EnteredTime`, kept across Prepare's retries), `WavesEndBy`: when the wave loop (the Map)
must have ended so that Finalize, Record failure after it and the drill cleanup still fit before TimeoutSeconds, each
at its worst under the definition's Retry blocks (`end_reserve`). Every Task of the loop is held to it by one rule:

    a Task hands over to another only if that one, entered at its latest and run at its worst, can still end the
    loop by WavesEndBy; a Task that cannot hand over ends the loop itself (the plan stops, out of time).

The Tasks that can follow another with no Wait between (Next runbook step, Start wave recovery as a wave's first) can
always end the loop, so each Task leaves room for one of them (`next_task_seconds`). Concretely:

- a wave's deadline (its start + WaveTimeoutMinutes) is cut to `wave_cut`: a check (or start attempt) the deadline
  lets begin may be entered a Task's worst after it and run its worst, and the Task after the wave must still fit;
- Next runbook step begins a step only with its timeout cut so that the step at its worst (its Retry included; a
  health check's last look a look's worst past its deadline) and the Next runbook step after it fit
  (`step_timeout`); a Wait that cannot wait its full time is not begun;
- Next runbook step ends the loop when the Task after it (the wave's launch, the next wave) could not fit
  (`can_hand_over`); Start wave recovery, when the wave's cut deadline has passed.

A wave or a step cut short ends TIMED_OUT and the plan stops there, whatever its Impact (or OnTimeout): the waves
after it are SKIPPED, the record ends FAILED naming what was cut and how to resume, the locks are released, and the
drill cleanup still runs. Today's figures: `docs/plan-format.md`, "The 48-hour fit".
"""

from __future__ import annotations

from lambdas.core import polling, task_budget
from lambdas.core.steps import DrillCleanup, Step

EXECUTION_TIMEOUT_SECONDS = task_budget.execution_timeout_seconds()  # the definition's TimeoutSeconds: 48 h
# Between one Task's end and the next Task's start: Step Functions' own transitions (a Choice, a Pass: milliseconds),
# and Now, which the Lambdas get cut to the whole second.
HANDOFF_SECONDS = 2
OUT_OF_TIME = "ExecutionOutOfTime"  # the error a runbook step's state ends the loop with (runbook.RUNBOOK_ERRORS)
WAVE_TASKS = ("Start wave recovery", "Check wave jobs")  # a wave's loop: start attempts, then checks
NEXT_TASKS = ("Next runbook step", "Start wave recovery")  # what may begin right after another Task, no Wait between
STEP_STATES = {"LAMBDA": "Run hook", "CALLBACK": "Run hook and wait for its callback", "APPROVAL": "Ask for approval"}


def worst(state: str, timeout_seconds: int | None = None) -> int:
    return task_budget.worst_seconds(state, timeout_seconds)


def loop_task_names() -> set[str]:
    """The Task states of the wave loop (the Map's iteration): every one of them is held to WavesEndBy."""
    states = task_budget.definition()["States"]
    return {
        name
        for state in states.values()
        if "ItemProcessor" in state
        for name, inner in state["ItemProcessor"]["States"].items()
        if inner["Type"] == "Task"
    }


def next_task_seconds() -> int:
    """The Task that may begin right after another (Next runbook step, or Start wave recovery as a wave's first), its
    handoff included, at its worst: every Task leaves room for one, which can always end the loop."""
    return max(worst(state) for state in NEXT_TASKS) + HANDOFF_SECONDS


def wave_task_seconds() -> int:
    """A start attempt or a check of a wave at its worst, its handoff included."""
    return max(worst(state) for state in WAVE_TASKS) + HANDOFF_SECONDS


def cleanup_seconds(cleanup: DrillCleanup | None) -> int:
    """The drill cleanup's longest run: its wait, its first step, the TERMINATE jobs up to their deadline, the look
    that decides there and the one before it (both retried to their worst), and recording a failure."""
    if cleanup is None:
        return 0
    return (
        cleanup.AfterMinutes * 60
        + worst("Terminate drill instances")
        + polling.CLEANUP_DEADLINE_SECONDS
        + 2 * worst("Check the terminate jobs")
        + worst("Record the cleanup failure")
    )


def end_reserve(cleanup: DrillCleanup | None) -> int:
    """What the states after the wave loop need at their worst: Finalize, then Record failure (Finalize's Catch),
    then the drill cleanup, if the execution has one."""
    return worst("Finalize execution") + worst("Record failure") + cleanup_seconds(cleanup) + 2 * HANDOFF_SECONDS


def waves_end_by(started_at: int, cleanup: DrillCleanup | None) -> int:
    """When the wave loop must have ended, for an execution that started at `started_at` (epoch seconds)."""
    return started_at + EXECUTION_TIMEOUT_SECONDS - end_reserve(cleanup)


def wave_cut(ends_by: int) -> int:
    """The latest a wave's deadline may be. A start attempt or check entered before the deadline waits at most until
    it (at least 1 s), so the one after it is entered at most a wave Task's worst past it; that one ends the wave, at
    its worst; and the Task after the wave must still be able to end the loop."""
    return ends_by - next_task_seconds() - 2 * wave_task_seconds() - 1


def wave_seconds(timeout: int, started_at: int, ends_by: int | None) -> int:
    """How long a wave that started at `started_at` may run: its WaveTimeoutMinutes (`timeout`), cut to wave_cut."""
    if ends_by is None:
        return timeout
    return min(timeout, wave_cut(ends_by) - started_at)


def can_hand_over(now: int, state: str, ends_by: int | None) -> bool:
    """Whether the Task `state` entered at `now` may hand over to the Task after it: that one, at its worst, still
    ends by `ends_by`."""
    return ends_by is None or now + worst(state) + next_task_seconds() <= ends_by


def step_room(now: int, ends_by: int) -> int:
    """What a step begun by the Next runbook step entered at `now` may take, from that Next runbook step's end to the
    next one's start (both handoffs counted): both at their worst, the next one still ending by `ends_by`."""
    return ends_by - now - 2 * worst("Next runbook step") - 2 * HANDOFF_SECONDS


def step_timeout(step: Step, kind: str, now: int, ends_by: int | None) -> int | None:
    """The timeout the step runs with (its TimeoutSecondsPath, a health check's deadline from its start): its own,
    cut so that it fits at its worst before the Next runbook step after it (`step_room`); None when nothing of it
    fits (or a Wait would be cut), and the plan must stop."""
    full = step.timeout_seconds
    if ends_by is None:
        return full
    room = step_room(now, ends_by)
    if kind == "WAIT":  # "Wait as the plan says", then "Record the wait" (a Pass): never cut short
        return full if full + HANDOFF_SECONDS <= room else None
    if kind == "HEALTH":
        # Its deadline counts from this Next runbook step's Now. Its first look may decide at once; else its last is
        # entered a look's worst (and a 1 s wait) past the deadline, the look before it having run as long, and runs
        # its worst; then the Next runbook step after it.
        look = worst("Check health") + HANDOFF_SECONDS
        cut = ends_by - now - 2 * look - 1 - worst("Next runbook step")
        return min(full, cut) if look <= room + HANDOFF_SECONDS and cut >= 1 else None
    return largest_timeout(STEP_STATES[kind], full, room)


def largest_timeout(state: str, full: int, room: int) -> int | None:
    """The largest timeout (at most `full`) with which the Task `state`, at its worst under its Retry, fits `room`."""
    if worst(state, full) <= room:
        return full
    low, high = 0, full  # worst() grows with the timeout: the largest that fits, by bisection
    while low < high:
        middle = (low + high + 1) // 2
        if worst(state, middle) <= room:
            low = middle
        else:
            high = middle - 1
    return low or None
