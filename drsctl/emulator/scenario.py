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
FUNCTION_NAME = r"^[a-zA-Z0-9_-]{1,64}$"  # a Lambda function name (not an ARN)
ERROR_NAME = r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
ACCOUNT = r"^\d{12}$"
ANY_OPERATION = "*"
# The EC2 operations the emulator serves beside DRS (ec2.py, launch.py), and the EC2 errors a fault on one may give,
# with their HTTP statuses: throttled, an internal error, and access denied (EC2's code for it). `*` means DRS
# operations only.
EC2_OPERATIONS = (
    "DescribeInstanceStatus",
    # what readiness reads of a launch (drsctl/emulator/launch.py)
    "DescribeLaunchTemplateVersions",
    "DescribeSubnets",
    "DescribeSecurityGroups",
    "DescribeInstanceTypeOfferings",
    "DescribeInstanceTypes",
    "DescribeInstances",
)
EC2_FAULT_ERRORS = {"RequestLimitExceeded": 503, "InternalError": 500, "UnauthorizedOperation": 403}
DEFAULT_LAG_SECONDS = 3600.0  # what a server that is not in CONTINUOUS replication lags by, unless told
# An EC2 instance type: family, generation and attributes, then a size (m5.large, c6gn.16xlarge, t2.micro, m5.metal).
INSTANCE_TYPE = r"^[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[1-9][0-9]*xlarge|metal)$"
DEFAULT_INSTANCE_TYPE = "m5.large"
AMPLE_VCPUS = 10_000.0  # a Region's vCPU quota unless the scenario's capacity says otherwise


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
    maxConcurrentJobs: int = Field(20, ge=1, description="Jobs not yet COMPLETED, per account and region.")
    maxServersInActiveJobs: int = Field(500, ge=1, description="Servers in all active jobs, per account and region.")


class AccountSpec(_Strict):
    """A member account: its own DRS (servers, jobs, recovery instances), reached through its member role."""

    id: str = Field(pattern=ACCOUNT, description="The account ID (12 digits).")
    quotas: Quotas | None = Field(None, description="Its DRS quotas, per region (default: the scenario's quotas).")
    assumable: bool = Field(
        True,
        description="false: STS AssumeRole into this account's member role is refused (AccessDenied), as when the "
        "member stack is missing or does not trust the orchestrator.",
    )


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


class PostLaunch(_Strict):
    """DRS post-launch actions on the server's recovery instance, reported in DescribeJobs' launchActionsStatus."""

    seconds: float = Field(
        ge=0, description="How long the post-launch action runs after the recovery instance is launched (IN_PROGRESS)."
    )
    result: Literal["SUCCEEDED", "FAILED"] = Field(
        "SUCCEEDED", description="The run's final status (LaunchActionRunStatus); FAILED comes with a failureReason."
    )
    agentDiscovered: bool = Field(
        True,
        description="Whether DRS discovers the SSM agent on the recovery instance (default true). false: the action "
        "is configured (ListLaunchActions lists it) but DRS never discovers the agent, as in a subnet without SSM "
        "endpoints, so no run ever appears and seconds and result are not used.",
    )


class InstanceStatusSpec(_Strict):
    """EC2 status checks of the server's recovery instance, as DescribeInstanceStatus reports them."""

    seconds: float = Field(
        ge=0, description="How long the system and instance status checks stay 'initializing' after the launch."
    )
    result: Literal["ok", "impaired"] = Field(
        "ok", description="The status of both checks after that: ok (reachability passed) or impaired (failed)."
    )


class LaunchTemplateSpec(_Strict):
    """The server's EC2 launch template, as DRS launches it: by default a valid one (an instance type offered in its
    subnet's zone, an existing subnet, security group and instance profile). Each flag breaks one thing, as drift
    does between drills (readiness: LAUNCH_CONFIG_INVALID)."""

    instanceType: str | None = Field(
        None, pattern=INSTANCE_TYPE, description=f"Its instance type (default {DEFAULT_INSTANCE_TYPE})."
    )
    subnetMissing: bool = Field(False, description="It names a subnet that no longer exists.")
    securityGroupMissing: bool = Field(False, description="It names a security group that no longer exists.")
    instanceProfileMissing: bool = Field(False, description="It names an instance profile that no longer exists.")
    instanceTypeNotOffered: bool = Field(
        False,
        description="Its subnet is in an Availability Zone (the Region's fourth, d) that does not offer its instance "
        "type.",
    )


class CapacitySpec(_Strict):
    """A Region's On-Demand vCPUs: the quota (Service Quotas L-1216C47A) and what running instances use."""

    vcpuLimit: float = Field(AMPLE_VCPUS, ge=0, description="The vCPU quota of On-Demand standard instances.")
    vcpusInUse: int = Field(0, ge=0, description="vCPUs of the On-Demand standard instances already running.")


class ServerSpec(_Strict):
    id: str = Field(pattern=SOURCE_SERVER_ID, description="The DRS source server ID.")
    hostname: str = Field(min_length=1, max_length=255)
    region: str | None = Field(None, description="Defaults to the scenario's region.")
    account: str | None = Field(
        None, pattern=ACCOUNT, description="The account whose DRS holds it; defaults to the scenario's accountId."
    )
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
    postLaunch: PostLaunch | None = Field(
        None,
        description="DRS post-launch actions after each launch (launchActionsStatus). Without it the server has "
        "none: launchActionsStatus is {runs: []}, as DRS reports when no post-launch action is configured.",
    )
    instanceStatus: InstanceStatusSpec | None = Field(
        None,
        description="EC2 status checks of its recovery instances (DescribeInstanceStatus). Default: initializing "
        "for 120 s after the launch, then ok.",
    )
    launchTemplate: LaunchTemplateSpec = Field(
        default_factory=LaunchTemplateSpec,
        description="Its DRS launch settings' EC2 launch template (GetLaunchConfiguration); default: a valid one.",
    )

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

    operation: str = Field(
        description="The DRS operation the fault applies to, e.g. DescribeJobs; * for every DRS operation; or the EC2 "
        "operation DescribeInstanceStatus (its errors: RequestLimitExceeded, InternalError, UnauthorizedOperation)."
    )
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
    quotaCode: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="With error ServiceQuotaExceededException only: the quotaCode the error carries (any string, "
        "e.g. MaxConcurrentJobs or a Service Quotas code such as L-D88FAC3A); without it the error has none.",
    )
    account: str | None = Field(
        None, pattern=ACCOUNT, description="Only calls made in this account get the fault (default: every account)."
    )

    @field_validator("operation")
    @classmethod
    def _known_operation(cls, value: str) -> str:
        if value != ANY_OPERATION and value not in OPERATIONS and value not in EC2_OPERATIONS:
            known = ", ".join([*OPERATIONS, *EC2_OPERATIONS])
            raise ValueError(f"unknown operation {value!r}; use {ANY_OPERATION} or one of {known}")
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
        allowed = [*ERRORS_BY_NAME, *EC2_FAULT_ERRORS, "drop_response"]
        if value not in allowed:
            raise ValueError(f"unknown error {value!r}; use one of {', '.join(allowed)}")
        return value

    @model_validator(mode="after")
    def _quota_code_of_a_quota_error(self) -> OperationFault:
        if self.quotaCode is not None and self.error != "ServiceQuotaExceededException":
            raise ValueError(
                f"quotaCode is a member of ServiceQuotaExceededException, not of {self.error}: remove quotaCode or "
                "set error: ServiceQuotaExceededException"
            )
        return self

    @model_validator(mode="after")
    def _errors_of_the_operations_service(self) -> OperationFault:
        ec2 = self.operation in EC2_OPERATIONS
        if ec2 != (self.error in EC2_FAULT_ERRORS):
            wanted = ", ".join(EC2_FAULT_ERRORS) if ec2 else "a DRS error shape or drop_response"
            raise ValueError(f"error {self.error!r} is not one {self.operation} can give; use {wanted}")
        return self


class ExternalJob(_Strict):
    """A launch job of another tool in the same account: it holds the job quotas while it runs."""

    region: str | None = Field(None, pattern=REGION, description="Defaults to the scenario's region.")
    account: str | None = Field(None, pattern=ACCOUNT, description="Defaults to the scenario's accountId.")
    servers: int = Field(
        1, ge=1, le=100, description="Participating servers (synthetic IDs, none of the scenario's servers)."
    )
    after: float = Field(0, ge=0, description="When the job is created, in seconds after the emulator started.")
    seconds: float = Field(gt=0, description="How long it runs: it completes at after + seconds.")
    tags: dict[str, str] = Field(default_factory=lambda: {"ManagedBy": "another-tool"}, description="The job's tags.")


class FunctionSpec(_Strict):
    """A stand-in for a user Lambda function that a plan hook invokes: how long it takes and how it ends."""

    seconds: float = Field(
        0,
        ge=0,
        description="How long an invocation runs before it returns or raises (for a WaitForCallback hook: until the "
        "task token is answered).",
    )
    error: str | None = Field(
        None,
        pattern=ERROR_NAME,
        description="An error name the function raises (the errorType Step Functions sees, e.g. "
        "DatabasePromotionFailed); without it the function succeeds.",
    )
    output: dict[str, Any] | None = Field(
        None, description="The JSON object the function returns when it succeeds (default: {})."
    )

    @field_validator("error")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("States."):
            raise ValueError(f"{value!r}: error names starting with States. are reserved for Step Functions")
        return value

    @model_validator(mode="after")
    def _error_or_output(self) -> FunctionSpec:
        if self.error is not None and self.output is not None:
            raise ValueError("a function either raises (error) or returns (output), not both")
        return self


# The principal a rehearsal's approvals are answered by when the scenario names none (numbered -1, -2, ...): the ARN
# of an IAM user in the rehearsal's account, as AWS would give the answer function.
DEFAULT_APPROVER = "arn:aws:iam::123456789012:user/rehearsal-approver"


class Approval(_Strict):
    """How an approval step is answered in a rehearsal: through the stack's answer function, as `drsctl run approve`
    answers it on AWS, by the principals named here (their ARNs stand for the identity AWS would authenticate)."""

    wave: str | None = Field(
        None,
        min_length=1,
        description="The wave (its Name in the plan) whose approval steps this answers; "
        "without it, every approval step no other entry names.",
    )
    decision: Literal["APPROVE", "REJECT"] = Field(description="The answer given.")
    afterSeconds: float = Field(0, ge=0, description="How long after the approval is asked the answer comes.")
    by: list[Annotated[str, Field(min_length=1, max_length=2048)]] | None = Field(
        None,
        min_length=1,
        description="The principals (IAM ARNs) who answer, in order, each once: an APPROVE needs as many distinct "
        "ones as the step's Approvers (listing one twice shows it counts once); a REJECT is the first one's. Default: "
        f"{DEFAULT_APPROVER}-1, -2, ... as many as the step needs.",
    )
    reason: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="The reason recorded with each answer (a REJECT has one by default).",
    )


APPROVE_AT_ONCE = Approval(decision="APPROVE", afterSeconds=0)


class Scenario(_Strict):
    region: str = Field("us-east-1", pattern=REGION, description="Default region of servers.")
    accountId: str = Field(
        "111122223333", pattern=ACCOUNT, description="The orchestrator's own account (and the default of servers)."
    )
    accounts: list[AccountSpec] = Field(
        default_factory=list,
        description="Member accounts: each sees only its own servers, jobs and recovery instances, reached with the "
        "credentials STS AssumeRole gives for its member role.",
    )
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
    functions: dict[Annotated[str, Field(pattern=FUNCTION_NAME)], FunctionSpec] = Field(
        default_factory=dict,
        description="Stand-ins for the user Lambda functions that plan hooks invoke, by function name.",
    )
    approvals: list[Approval] = Field(
        default_factory=list,
        description="How approval steps are answered: the entry naming the wave, else the entry without a wave, "
        "else APPROVE at once.",
    )
    capacity: dict[Annotated[str, Field(pattern=REGION)], CapacitySpec] = Field(
        default_factory=dict,
        description="Per Region: its On-Demand vCPU quota and the vCPUs in use (default: ample, "
        f"{AMPLE_VCPUS:g} and none).",
    )

    @model_validator(mode="after")
    def _unique_servers(self) -> Scenario:
        seen: set[str] = set()
        for server in self.servers:
            if server.id in seen:
                raise ValueError(f"server {server.id} is listed twice in servers")
            seen.add(server.id)
        return self

    @model_validator(mode="after")
    def _one_approval_per_wave(self) -> Scenario:
        seen: set[str | None] = set()
        for approval in self.approvals:
            if approval.wave in seen:
                which = f"wave {approval.wave!r}" if approval.wave else "every wave (no wave)"
                raise ValueError(f"approvals has two entries for {which}; the second would never answer")
            seen.add(approval.wave)
        return self

    @model_validator(mode="after")
    def _accounts_once(self) -> Scenario:
        ids = [account.id for account in self.accounts]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"account {duplicate} is listed twice in accounts")
        if self.accountId in ids:
            raise ValueError(
                f"accounts lists {self.accountId}, the scenario's own accountId (the orchestrator's); list only "
                "member accounts there"
            )
        return self

    def region_of(self, item: ServerSpec | ExternalJob) -> str:
        return item.region or self.region

    def capacity_of(self, region: str) -> CapacitySpec:
        return self.capacity.get(region) or CapacitySpec()

    def account_of(self, item: ServerSpec | ExternalJob) -> str:
        return item.account or self.accountId

    def known_accounts(self) -> set[str]:
        """Accounts whose DRS is initialized: the scenario's own, its member accounts, and those its servers name."""
        return {self.accountId, *(a.id for a in self.accounts), *(self.account_of(s) for s in self.servers)}

    def quotas_of(self, account: str) -> Quotas:
        spec = next((a for a in self.accounts if a.id == account), None)
        return spec.quotas if spec is not None and spec.quotas is not None else self.quotas

    def assumable(self, account: str) -> bool:
        """Whether STS lets the orchestrator assume the member role of `account` (a known account, not refused)."""
        spec = next((a for a in self.accounts if a.id == account), None)
        if spec is not None:
            return spec.assumable
        return account in self.known_accounts()

    def approval_for(self, wave: str) -> Approval:
        """The answer to an approval step of `wave`: its own entry, else the catch-all entry, else approve at once."""
        by_wave = {approval.wave: approval for approval in self.approvals}
        return by_wave.get(wave) or by_wave.get(None) or APPROVE_AT_ONCE


def load_scenario(path: Path | None) -> Scenario:
    """Read a scenario from YAML or JSON (JSON is YAML). No path: an empty estate with default settings."""
    if path is None:
        return Scenario()
    data: Any = yaml.safe_load(path.read_text()) or {}
    return Scenario.model_validate(data)
