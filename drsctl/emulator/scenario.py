"""The scenario file: the estate the emulator pretends to protect, its timing, quotas and faults.

Validated by pydantic so a typo in a scenario is an error that names the field, not a silently ignored key.
`docs/emulator.md` documents it and `docs/scenario.schema.json` is generated from these models.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import botocore.session
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from drsctl.emulator.errors import ERRORS_BY_NAME
from drsctl.emulator.protocol import OPERATIONS

SOURCE_SERVER_ID = r"^s-[0-9a-zA-Z]{17}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
ANY_OPERATION = "*"
DEFAULT_LAG_SECONDS = 3600.0  # what a server that is not in CONTINUOUS replication lags by, unless told


@cache
def replication_states() -> tuple[str, ...]:
    """Every `dataReplicationState` DRS knows, read from botocore's model."""
    model = botocore.session.get_session().get_service_model("drs")
    return tuple(model.shape_for("DataReplicationState").enum)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PhaseOverride(_Strict):
    """Seconds per launch phase. Every phase is optional here: a server overrides only what it names."""

    snapshot: float | None = Field(None, ge=0, description="Taking the point-in-time snapshot.")
    preparation: float | None = Field(
        None, ge=0, description="From snapshot end to conversion start (staging, conversion server boot)."
    )
    conversion: float | None = Field(None, ge=0, description="Converting the disks for EC2.")
    launch: float | None = Field(None, ge=0, description="Launching the recovery instance until it is up.")


class PhaseTiming(_Strict):
    """Seconds per launch phase, defaults taken from a public sample drill (about 9 minutes per job)."""

    snapshot: float = Field(1, ge=0)
    preparation: float = Field(50, ge=0)
    conversion: float = Field(200, ge=0)
    launch: float = Field(300, ge=0)

    def merged(self, override: PhaseOverride | None) -> PhaseTiming:
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class Timing(_Strict):
    drill: PhaseTiming = Field(default_factory=PhaseTiming)
    recovery: PhaseTiming = Field(
        default_factory=lambda: PhaseTiming(snapshot=1, preparation=60, conversion=300, launch=420),
        description="A recovery is slower than a drill: production-sized instances and post-launch actions.",
    )
    terminate: float = Field(60, ge=0, description="Seconds a TerminateRecoveryInstances job takes.")
    jitter: float = Field(
        0.05,
        ge=0,
        le=0.5,
        description="Each phase is scaled by a factor in [1-jitter, 1+jitter], from the seed.",
    )


class Quotas(_Strict):
    maxServersPerJob: int = Field(100, ge=1, description="Source servers in one StartRecovery call.")
    maxConcurrentJobs: int = Field(20, ge=1, description="Jobs not yet COMPLETED, per region.")
    maxServersInActiveJobs: int = Field(500, ge=1, description="Servers in all active jobs, per region.")


class ConflictFault(_Strict):
    conflict: int = Field(ge=1, description="The next N StartRecovery calls naming this server get ConflictException.")


ServerFault = Annotated[
    Literal["launch_failure", "stuck", "job_ends_without_launch"] | ConflictFault,
    Field(
        description="launch_failure: the launch fails (LAUNCH_FAILED); stuck: never leaves IN_PROGRESS; "
        "job_ends_without_launch: the launch stays IN_PROGRESS but the job still completes; "
        "{conflict: N}: the next N StartRecovery calls naming it get ConflictException."
    ),
]


class ServerSpec(_Strict):
    id: str = Field(pattern=SOURCE_SERVER_ID, description="The DRS source server ID.")
    hostname: str = Field(min_length=1, max_length=255)
    region: str | None = Field(None, description="Defaults to the scenario's region.")
    tags: dict[str, str] = Field(default_factory=dict)
    replication: str = Field("CONTINUOUS", description="dataReplicationState; CONTINUOUS is healthy.")
    lagSeconds: float | None = Field(
        None,
        ge=0,
        description="How far replication lags behind the source (dataReplicationInfo.lagDuration; the newest "
        "recovery snapshot is this old). Default 0 when replication is CONTINUOUS, 3600 otherwise.",
    )
    timing: PhaseOverride | None = None
    faults: list[ServerFault] = Field(default_factory=list)

    @field_validator("replication")
    @classmethod
    def _known_state(cls, value: str) -> str:
        if value not in replication_states():
            raise ValueError(f"unknown replication state {value!r}; use one of {', '.join(replication_states())}")
        return value

    @property
    def lag(self) -> float:
        """The replication lag in seconds, with the default that follows from the replication state."""
        if self.lagSeconds is not None:
            return self.lagSeconds
        return 0.0 if self.replication == "CONTINUOUS" else DEFAULT_LAG_SECONDS


class OperationFault(_Strict):
    """A fault on an operation: for the next `count` calls, or for every call in a time window (`seconds`)."""

    operation: str = Field(description="The DRS operation the fault applies to, e.g. DescribeJobs; * for every one.")
    error: str = Field(
        description="An error shape of the DRS model (ThrottlingException, ...) or drop_response: the "
        "operation takes effect but the connection closes with no answer."
    )
    count: int | None = Field(
        None,
        ge=1,
        description="How many consecutive calls of that operation get the fault (default 1 when seconds is not "
        "given). Count faults are consumed in list order.",
    )
    seconds: float | None = Field(
        None,
        gt=0,
        description="Instead of count: every call in [origin + after, origin + after + seconds) gets the fault, "
        "origin being the clock's time when the emulator started. Window faults take precedence over count faults.",
    )
    after: float | None = Field(
        None, ge=0, description="With seconds: when the window opens, in seconds after the origin (default 0)."
    )
    message: str | None = Field(
        None,
        min_length=1,
        description="The error's message (default: 'Injected fault: <error> on <operation> (scenario faults)').",
    )

    @field_validator("operation")
    @classmethod
    def _known_operation(cls, value: str) -> str:
        if value != ANY_OPERATION and value not in OPERATIONS:
            raise ValueError(f"unknown operation {value!r}; use {ANY_OPERATION} or one of {', '.join(OPERATIONS)}")
        return value

    @field_validator("seconds")
    @classmethod
    def _count_or_seconds(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("count") is not None:
            raise ValueError("give either count or seconds (a time window), not both")
        return value

    @field_validator("after")
    @classmethod
    def _after_needs_a_window(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("seconds") is None:
            raise ValueError("after opens a time window: give seconds with it (count faults start at once)")
        return value

    @model_validator(mode="after")
    def _default_count(self) -> OperationFault:
        if self.count is None and self.seconds is None:
            self.count = 1
        return self

    @property
    def window(self) -> tuple[float, float] | None:
        """[start, end) in seconds after the origin, for a window fault; None for a count fault."""
        if self.seconds is None:
            return None
        start = self.after or 0.0
        return start, start + self.seconds

    @field_validator("error")
    @classmethod
    def _known_error(cls, value: str) -> str:
        allowed = [*ERRORS_BY_NAME, "drop_response"]
        if value not in allowed:
            raise ValueError(f"unknown error {value!r}; use one of {', '.join(allowed)}")
        return value


class ExternalJob(_Strict):
    """A launch job of another tool in the same account: it holds the job quotas while it runs."""

    region: str | None = Field(None, pattern=REGION, description="Defaults to the scenario's region.")
    servers: int = Field(
        1, ge=1, le=100, description="Participating servers (synthetic IDs, none of the scenario's servers)."
    )
    after: float = Field(0, ge=0, description="When the job is created, in seconds after the emulator started.")
    seconds: float = Field(gt=0, description="How long it runs: it completes at after + seconds.")
    tags: dict[str, str] = Field(default_factory=lambda: {"ManagedBy": "another-tool"}, description="The job's tags.")


class Scenario(_Strict):
    region: str = Field("us-east-1", pattern=REGION, description="Default region of servers.")
    accountId: str = Field("111122223333", pattern=r"^\d{12}$")
    seed: int = Field(7, description="Seeds IDs and timing jitter: the same scenario replays identically.")
    quotas: Quotas = Field(default_factory=Quotas)
    timing: Timing = Field(default_factory=Timing)
    servers: list[ServerSpec] = Field(default_factory=list)
    faults: list[OperationFault] = Field(
        default_factory=list,
        description="Per operation: time-window faults first, then count faults consumed in list order.",
    )
    externalJobs: list[ExternalJob] = Field(
        default_factory=list,
        description="Launch jobs of other tools: they count against maxConcurrentJobs and maxServersInActiveJobs.",
    )

    @model_validator(mode="after")
    def _unique_servers(self) -> Scenario:
        seen: set[str] = set()
        for server in self.servers:
            if server.id in seen:
                raise ValueError(f"server {server.id} is listed twice in servers")
            seen.add(server.id)
        return self

    def region_of(self, item: ServerSpec | ExternalJob) -> str:
        return item.region or self.region


def load_scenario(path: Path | None) -> Scenario:
    """Read a scenario from YAML or JSON (JSON is YAML). No path: an empty estate with default settings."""
    if path is None:
        return Scenario()
    data: Any = yaml.safe_load(path.read_text()) or {}
    return Scenario.model_validate(data)
