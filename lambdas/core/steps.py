"""Runbook steps of a wave: what runs before its servers launch and after they have (docs/plan-format.md).

A wave's `Before` and `After` are ordered lists of steps; each step has exactly one key, its kind:

- `Lambda`: invoke a user function (its name must start with the stack's hook prefix), optionally waiting for a
  callback (SendTaskSuccess / SendTaskFailure with the task token it was given);
- `Approval`: pause until an operator approves or rejects, notified through the stack's topic;
- `HealthCheck`: the wave is done only when its launched servers' post-launch actions and/or EC2 status checks pass;
- `Wait`: a fixed pause.

The state machine runs them as native states ("Run hook", "Ask for approval", "Wait for health checks", "Wait as
the plan says"), so an operator reads the runbook in the graph view.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.core.plan_types import Boolean, ImpactLevel, Number

# A Lambda function name, or its ARN (with an optional version or alias): the forms lambda:invoke accepts.
FUNCTION_NAME_PATTERN = (
    r"^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-[a-z]+)+-\d:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$"
)
# The plan's own functions the state machine may invoke: only those whose name starts with this prefix (context
# `drs:hookFunctionPrefix` at deploy), so a plan cannot make the workflow run any function of the account.
DEFAULT_HOOK_FUNCTION_PREFIX = "drs-hook-"
STEPS_PER_PHASE_MAX = 10  # each step costs history events in every wave (lambdas/core/polling.py)
PAYLOAD_BYTES_MAX = 8_192  # a step's payload travels in the state machine's data (256 KiB at most in all)
# Distinct principals an approval may require: each one's answer is kept on the wave's record.
APPROVERS_MAX = 5


StepKind = Literal["Lambda", "Approval", "HealthCheck", "Wait"]
Phase = Literal["BEFORE", "AFTER"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LambdaStep(_Strict):
    FunctionName: str = Field(
        pattern=FUNCTION_NAME_PATTERN,
        description="The user function to invoke: its name or ARN. The stack lets the state machine invoke only "
        "functions whose name starts with its hook prefix (default drs-hook-).",
    )
    Payload: dict[str, object] | None = Field(None, description="Passed to the function as the event's Payload.")
    Impact: ImpactLevel = Field(
        "CRITICAL", description="CRITICAL: a failure stops the plan. OPTIONAL: it is recorded and the plan goes on."
    )
    TimeoutMinutes: Annotated[int, Number] = Field(
        15,
        ge=1,
        le=1440,
        description="How long the step may take (at most 15 without WaitForCallback, a Lambda's own limit).",
    )
    WaitForCallback: Annotated[bool, Boolean] = Field(
        False,
        description="Give the function a task token (the event's TaskToken) and wait until someone calls "
        "SendTaskSuccess or SendTaskFailure with it: long automation without a long Lambda.",
    )

    @property
    def function_name(self) -> str:
        """The function's name, from its name or ARN (with or without a version or alias)."""
        name = self.FunctionName.split(":function:", 1)[1] if ":function:" in self.FunctionName else self.FunctionName
        return name.split(":", 1)[0]

    @model_validator(mode="after")
    def _fits_a_lambda(self) -> LambdaStep:
        if not self.WaitForCallback and self.TimeoutMinutes > 15:
            raise ValueError(
                f"TimeoutMinutes {self.TimeoutMinutes} is longer than a Lambda function may run (15 minutes); set "
                "WaitForCallback: true for longer automation, or lower TimeoutMinutes"
            )
        return self


class ApprovalStep(_Strict):
    Message: str = Field(min_length=1, max_length=1024, description="What the approver is asked; sent to the topic.")
    TimeoutMinutes: Annotated[int, Number] = Field(
        60, ge=1, le=1440, description="How long to wait for an answer (default 60)."
    )
    OnTimeout: Literal["FAIL", "CONTINUE"] = Field(
        "FAIL", description="With no answer in time: FAIL stops the plan (default); CONTINUE goes on as approved."
    )
    Approvers: Annotated[int, Number] = Field(
        1,
        ge=1,
        le=APPROVERS_MAX,
        description="How many distinct AWS principals must approve (default 1); any one rejection rejects.",
    )


class HealthCheckStep(_Strict):
    PostLaunchActions: Annotated[bool, Boolean] = Field(
        True, description="Every launched server's DRS post-launch actions have succeeded (launchActionsStatus)."
    )
    InstanceStatus: Annotated[bool, Boolean] = Field(
        True, description="Every launched server's EC2 status checks pass (DescribeInstanceStatus)."
    )
    TimeoutMinutes: Annotated[int, Number] = Field(
        30, ge=1, le=1440, description="Servers not healthy by then fail the check (default 30)."
    )
    Impact: ImpactLevel | None = Field(
        None,
        description="Overrides the servers' own impact: by default a CRITICAL server failing the check fails the "
        "plan and an OPTIONAL one is recorded.",
    )

    @model_validator(mode="after")
    def _checks_something(self) -> HealthCheckStep:
        if not (self.PostLaunchActions or self.InstanceStatus):
            raise ValueError("a HealthCheck needs PostLaunchActions or InstanceStatus (or both) set to true")
        return self


class WaitStep(_Strict):
    Minutes: Annotated[int, Number] = Field(ge=1, le=1440, description="How long to pause.")


class Step(_Strict):
    """Exactly one of the keys below."""

    Name: str | None = Field(
        None, min_length=1, max_length=128, description="Shown in the record and the report (default: the kind)."
    )
    Lambda: LambdaStep | None = None
    Approval: ApprovalStep | None = None
    HealthCheck: HealthCheckStep | None = None
    Wait: WaitStep | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        given = [kind for kind in ("Lambda", "Approval", "HealthCheck", "Wait") if getattr(self, kind) is not None]
        if len(given) != 1:
            found = f"it has {' and '.join(given)}" if given else "it has none"
            raise ValueError(f"a step needs exactly one of Lambda, Approval, HealthCheck or Wait; {found}")
        return self

    @property
    def kind(self) -> StepKind:
        for kind in ("Lambda", "Approval", "HealthCheck", "Wait"):
            if getattr(self, kind) is not None:
                return kind
        raise AssertionError("validated: one kind")

    @property
    def label(self) -> str:
        if self.Name:
            return self.Name
        if self.Lambda is not None:
            return f"Lambda {self.Lambda.FunctionName.rsplit(':function:', 1)[-1]}"
        return self.kind

    @property
    def timeout_seconds(self) -> int:
        """The longest this step can take when everything it waits for times out."""
        if self.Wait is not None:
            return self.Wait.Minutes * 60
        timed = self.Lambda or self.Approval or self.HealthCheck
        assert timed is not None
        return timed.TimeoutMinutes * 60


class DrillCleanup(_Strict):
    AfterMinutes: Annotated[int, Number] = Field(
        ge=0, le=1440, description="How long after the drill ends its instances are terminated."
    )
    OnFailure: Literal["TERMINATE", "KEEP"] = Field(
        "TERMINATE",
        description="When the drill did not complete: TERMINATE its instances anyway (default) or KEEP them to "
        "investigate.",
    )


Steps = Annotated[list[Step], Field(max_length=STEPS_PER_PHASE_MAX)]
