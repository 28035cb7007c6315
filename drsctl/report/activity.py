"""What each wave and step did, counted from the execution's history: how often the plan's loops turned and how
often a task was retried (the state machine's Retry policies), for the report's plan view (docs/report.md).

The Map runs the waves one at a time (MaxConcurrency 1), so the history's events between a MapIterationStarted
and its end belong to one wave, whose number is in its first state's input (`WaveNumber`). A runbook step's states
carry the step's place in their input (`Steps.Phase`, `Steps.Index`). A retry is a task scheduled again within one
entry of its state. The names are the states of statemachine/recovery_plan.asl.json (a test holds them to it).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

LOCK = "Lock the plan's servers"
CHECK_TERMINATE = "Check the terminate jobs"
START_WAVE = "Start wave recovery"
CHECK_WAVE = "Check wave jobs"
CAPACITY_WAIT = "Waiting for DRS capacity"
CONFLICT_WAIT = "Wait before starting again"
CHECK_HEALTH = "Check health"
# The states that run a runbook step: their input says which step (Steps.Phase, Steps.Index).
STEP_STATES = (
    "Run hook",
    "Run hook and wait for its callback",
    "Ask for approval",
    CHECK_HEALTH,
    "Wait as the plan says",
)
WAVE_COUNTS = {START_WAVE: "startRounds", CHECK_WAVE: "jobChecks", CAPACITY_WAIT: "capacityWaits"}
WAVE_COUNTS[CONFLICT_WAIT] = "conflictWaits"
EXECUTION_COUNTS = {LOCK: "lockRounds", CHECK_TERMINATE: "terminateChecks"}
SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled")
ITERATION_ENDS = ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted")
StepKey = tuple[int, str, int]  # wave number, phase, index


@dataclass
class Activity:
    execution: Counter[str] = field(default_factory=Counter)  # lockRounds, terminateChecks, taskRetries
    waves: dict[int, Counter[str]] = field(default_factory=dict)  # startRounds, jobChecks, ..., taskRetries
    steps: dict[StepKey, Counter[str]] = field(default_factory=dict)  # retries, checks

    def execution_json(self) -> dict[str, int]:
        return {key: self.execution[key] for key in (*EXECUTION_COUNTS.values(), "taskRetries")}

    def wave_json(self, number: int) -> dict[str, int]:
        counts = self.waves.get(number, Counter())
        return {key: counts[key] for key in (*WAVE_COUNTS.values(), "taskRetries")}

    def step_json(self, number: int, phase: str, index: int) -> dict[str, int]:
        counts = self.steps.get((number, phase, index), Counter())
        return {"retries": counts["retries"], "checks": counts["checks"]}


def count(history: list[dict[str, Any]]) -> Activity:
    """The loops and retries of one execution's history, per wave and runbook step."""
    walk = _Walk()
    for event in history:
        kind = event["type"]
        if kind == "MapIterationStarted":
            walk.in_iteration, walk.wave = True, None
        elif kind in ITERATION_ENDS:
            walk.in_iteration, walk.wave = False, None
        elif kind.endswith("StateEntered"):
            walk.entered(event.get("stateEnteredEventDetails") or {})
        elif kind in SCHEDULED:
            walk.scheduled += 1
            if walk.scheduled > 1:  # scheduled again within one entry of its state: the Retry policy's doing
                walk.where[walk.retry_key] += 1
    return walk.found


@dataclass
class _Walk:
    """Where in the history the walk is: inside a wave's iteration or not, and whose counter a retry goes to."""

    found: Activity = field(default_factory=Activity)
    in_iteration: bool = False
    wave: int | None = None
    where: Counter[str] = field(default_factory=Counter)
    retry_key: str = "taskRetries"
    scheduled: int = 0

    def entered(self, details: dict[str, Any]) -> None:
        name = details.get("name", "")
        self.scheduled, self.retry_key = 0, "taskRetries"
        if not self.in_iteration:
            self.where = self.found.execution
            if name in EXECUTION_COUNTS:
                self.found.execution[EXECUTION_COUNTS[name]] += 1
            return
        if self.wave is None:
            self.wave = _wave_number(details.get("input"))
        if self.wave is None:
            self.where = Counter()  # a wave the input does not name (truncated): counted nowhere rather than wrongly
            return
        counts = self.where = self.found.waves.setdefault(self.wave, Counter())
        if name in WAVE_COUNTS:
            counts[WAVE_COUNTS[name]] += 1
        elif name in STEP_STATES:
            step = _step_key(self.wave, details.get("input"))
            if step is not None:
                self.where, self.retry_key = self.found.steps.setdefault(step, Counter()), "retries"
                self.where["checks"] += name == CHECK_HEALTH


def _inputs(text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _wave_number(text: Any) -> int | None:
    number = _inputs(text).get("WaveNumber")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _step_key(wave: int, text: Any) -> StepKey | None:
    steps = _inputs(text).get("Steps")
    if not isinstance(steps, dict):
        return None
    phase, index = steps.get("Phase"), steps.get("Index")
    if phase not in ("BEFORE", "AFTER") or not isinstance(index, int) or isinstance(index, bool):
        return None
    return wave, str(phase), index
