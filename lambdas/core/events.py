"""Typed inputs of the Lambda handlers, validated at the edge (the state machine's Parameters build them).

Time is an input too: every task passes `$$.State.EnteredTime`, so the code never reads a clock of its own and a
rehearsal on a virtual clock needs no special path in the Lambdas.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from lambdas.core.finish import Failure
from lambdas.core.health import HealthProgress
from lambdas.core.plan import RunOptions
from lambdas.core.plan_types import ExecutionMode
from lambdas.core.prepare import LockProgress
from lambdas.core.runbook import StepCursor
from lambdas.core.steps import HealthCheckStep, Phase, Step
from lambdas.core.waves import WaveProgress, WaveStep


def _epoch_seconds(value: Any) -> Any:
    if isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    return value


EpochSeconds = Annotated[int, BeforeValidator(_epoch_seconds)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrepareEvent(_Event):
    Input: Any
    ExecutionId: str
    ExecutionArn: str | None = None
    Now: EpochSeconds


class WaveStepEvent(_Event):
    """Start wave recovery and Check wave jobs get the same input: the wave, and its progress so far."""

    ExecutionId: str
    PlanId: str
    ExecutionType: ExecutionMode
    WaveNumber: int
    Options: RunOptions
    Progress: WaveProgress = WaveProgress()
    EventBudget: int
    WavesEndBy: int  # the execution's own deadline for its waves (lambdas/core/deadline.py)
    RetryCount: int = 0
    Now: EpochSeconds

    def step(self) -> WaveStep:
        return WaveStep(
            execution_id=self.ExecutionId,
            plan_id=self.PlanId,
            execution_type=self.ExecutionType,
            wave_number=self.WaveNumber,
            options=self.Options,
            event_budget=self.EventBudget,
            now=self.Now,
            waves_end_by=self.WavesEndBy,
        )


class LockServersEvent(_Event):
    ExecutionId: str
    ExecutionArn: str | None = None
    PlanId: str
    Locking: LockProgress
    Now: EpochSeconds


class FinalizeEvent(_Event):
    ExecutionId: str
    ExecutionArn: str | None = None
    Input: Any
    Error: Failure | None = None
    Now: EpochSeconds


class CleanupEvent(_Event):
    """Terminate drill instances / Check the terminate jobs / Record the cleanup failure."""

    ExecutionId: str
    Input: Any
    Action: Literal["TERMINATE", "CHECK", "FAIL"]
    Error: dict[str, Any] | None = None
    Now: EpochSeconds


class Runbook(_Event):
    """A wave's runbook steps, as the plan lists them."""

    Before: list[Step] = []
    After: list[Step] = []


class RunbookEvent(_Event):
    """Next runbook step: the wave, its steps of the current phase, and where the runbook stands."""

    ExecutionId: str
    ExecutionArn: str | None = None  # how a hook's or an approval's end is read from the history (step_end.py)
    PlanId: str
    ExecutionType: ExecutionMode
    WaveNumber: int
    Runbook: Runbook
    Steps: StepCursor
    WavesEndBy: int  # the execution's own deadline for its waves: a step's timeout is cut to fit it
    Now: EpochSeconds


class ApprovalEvent(_Event):
    """Ask for approval: the step waiting, and the task token an answer must carry."""

    ExecutionId: str
    PlanId: str
    ExecutionType: ExecutionMode
    WaveNumber: int
    WaveName: str
    Steps: dict[str, Any]
    TaskToken: str
    Now: EpochSeconds


class HealthCursor(BaseModel):
    """The HealthCheck step as Next runbook step started it (`$.Steps`), with the last check's answer once there is
    one (`Outcome`)."""

    model_config = ConfigDict(extra="ignore")

    Phase: Phase
    Index: int
    Event: HealthCheckStep
    TimeoutSeconds: int | None = None  # the step's timeout as Next runbook step gave it: cut to the execution's time
    Outcome: HealthProgress | None = None


class HealthEvent(_Event):
    """Check health: the wave, and the step that checks it."""

    ExecutionId: str
    PlanId: str
    WaveNumber: int
    Steps: HealthCursor
    Now: EpochSeconds
