"""The recovery plan and the execution input: one pydantic model, used by Prepare and by `drsctl`.

Field names are PascalCase, as in the seed's DynamoDB records that existing front ends read. Every check that can
be made without DRS is made here, so a broken plan is refused with a message naming the field before anything runs;
checks that need DRS (do the servers exist, do they replicate) are made by Prepare.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lambdas.core.drill_schedule import Schedule as DrillSchedule
from lambdas.core.errors import PlanValidationError
from lambdas.core.plan_types import AccountNumber, Boolean, ExecutionMode, ImpactLevel, Number
from lambdas.core.steps import DrillCleanup as DrillCleanupOptions
from lambdas.core.steps import Steps

SERVER_ID_PATTERN = r"^s-[0-9a-zA-Z]{17}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
ACCOUNT_PATTERN = r"^\d{12}$"
# DRS replicates at most this many source servers per account and Region (AWS's multi-account guidance: beyond it,
# several staging accounts): `plan validate` says when a plan holds more in one account.
REPLICATING_SERVERS_PER_ACCOUNT = 300
# A Step Functions execution name (1 to 80 of these characters): what ResumeFrom names.
EXECUTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
# An AWS principal as sts:GetCallerIdentity names it (user, role, assumed-role session, root), in any partition.
PRINCIPAL_ARN_PATTERN = r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$"
STARTED_BY_MAX = 1024

ServerId = Annotated[str, Field(pattern=SERVER_ID_PATTERN, description="A DRS source server ID (s-...).")]
# the pattern first, so the JSON Schema keeps it; the number check runs before it all the same (a BeforeValidator)
AccountId = Annotated[str, Field(pattern=ACCOUNT_PATTERN, description="An AWS account ID (12 digits)."), AccountNumber]

PROBLEM_SEPARATOR = "\n"  # between the static problems of one plan, so each is reported on its own line

# Typical DRS job durations (docs/architecture.md, DRS facts): the first check of a wave is planned from them.
DEFAULT_EXPECTED_JOB_MINUTES = {"DRILL": 9.0, "RECOVERY": 13.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TagSelector(_Strict):
    Tags: dict[str, str] = Field(
        min_length=1, description="Source servers whose DRS tags include all of these key/value pairs."
    )


class ProtectionGroup(_Strict):
    GroupId: str = Field(pattern=NAME_PATTERN, description="Unique ID of the group.")
    Region: str = Field(pattern=REGION_PATTERN, description="The DRS region of the group's source servers.")
    Account: Annotated[str | None, AccountNumber] = Field(
        None,
        pattern=ACCOUNT_PATTERN,
        description="The AWS account whose DRS holds the group's source servers (12 digits); default: the stack's "
        "own account. Another account is reached through its member role (docs/accounts.md).",
    )
    SourceServerIds: list[ServerId] | None = Field(None, min_length=1, description="Explicit servers.")
    Selector: TagSelector | None = Field(None, description="Or: servers chosen by tags when the execution starts.")

    @model_validator(mode="after")
    def _one_way_to_pick_servers(self) -> ProtectionGroup:
        if (self.SourceServerIds is None) == (self.Selector is None):
            raise ValueError(f"protection group {self.GroupId!r} needs exactly one of SourceServerIds or Selector")
        if self.SourceServerIds is not None and len(set(self.SourceServerIds)) != len(self.SourceServerIds):
            raise ValueError(f"protection group {self.GroupId!r} lists a server twice in SourceServerIds")
        return self


class Wave(_Strict):
    WaveName: str = Field(min_length=1, max_length=128, description="Shown in the records and the report.")
    ProtectionGroupId: str | None = Field(None, description="The GroupId whose servers this wave launches.")
    ProtectionGroupIds: list[str] | None = Field(
        None,
        min_length=1,
        description="Or: several groups launched together, in any accounts and Regions (each account's and Region's "
        "DRS quotas apply to its own servers, so they start at once).",
    )
    ServerIds: list[ServerId] | None = Field(
        None, min_length=1, description="A subset of the groups' servers; default: all of them."
    )
    Impact: ImpactLevel = Field(
        "CRITICAL",
        description="CRITICAL: a failed server fails the wave and stops the plan. OPTIONAL: the wave is PARTIAL "
        "and the plan goes on.",
    )
    ServerImpact: dict[str, ImpactLevel] = Field(
        default_factory=dict, description="Per-server override of Impact, keyed by source server ID."
    )
    Before: Steps = Field(
        default_factory=list, description="Runbook steps run in order before this wave's servers are launched."
    )
    After: Steps = Field(
        default_factory=list, description="Runbook steps run in order after this wave's servers have launched."
    )

    @model_validator(mode="after")
    def _one_way_to_name_groups(self) -> Wave:
        if (self.ProtectionGroupId is None) == (self.ProtectionGroupIds is None):
            raise ValueError(
                f"wave {self.WaveName!r} needs exactly one of ProtectionGroupId (one group) or ProtectionGroupIds "
                "(several)"
            )
        ids = self.group_ids
        if len(set(ids)) != len(ids):
            raise ValueError(f"wave {self.WaveName!r} lists a group twice in ProtectionGroupIds")
        return self

    @property
    def group_ids(self) -> list[str]:
        """The wave's protection groups, whichever form names them."""
        return [self.ProtectionGroupId] if self.ProtectionGroupId is not None else list(self.ProtectionGroupIds or [])

    @model_validator(mode="after")
    def _health_checks_after_the_launch(self) -> Wave:
        # Before the launch the wave has no recovery instance to check: such a step could only pass vacuously.
        for index, step in enumerate(self.Before):
            if step.HealthCheck is not None:
                raise ValueError(
                    f"Before[{index}] is a HealthCheck, but before the launch this wave has no recovered server to "
                    "check; move the step to After (or to the previous wave's After to check that wave)"
                )
        return self


class AccountQuotas(_Strict):
    """The DRS job quotas of one account (in each of its Regions), where they differ from Options' own."""

    MaxServersPerJob: Annotated[int | None, Number] = Field(
        None, ge=1, le=100, description="Servers per StartRecovery call in this account."
    )
    MaxConcurrentJobs: Annotated[int | None, Number] = Field(
        None, ge=1, le=1000, description="This account's quota of concurrent DRS jobs per Region."
    )
    MaxServersInActiveJobs: Annotated[int | None, Number] = Field(
        None, ge=1, le=10000, description="This account's quota of servers in all active DRS jobs per Region."
    )


@dataclass(frozen=True)
class JobQuotas:
    """The DRS job quotas that apply in one (account, Region)."""

    servers_per_job: int
    concurrent_jobs: int
    servers_in_active_jobs: int


class OptionsOverride(_Strict):
    """Options as given in a plan or an execution input: any subset, merged over the defaults."""

    PollIntervalSeconds: Annotated[int | None, Number] = Field(
        None, ge=5, le=600, description="Longest wait between checks of a running wave (default 30)."
    )
    MinPollIntervalSeconds: Annotated[int | None, Number] = Field(
        None, ge=1, le=300, description="Shortest wait between checks, used when a wave is due (default 5)."
    )
    WaveTimeoutMinutes: Annotated[int | None, Number] = Field(
        None, ge=1, le=1440, description="A wave still running after this long times out (default 120)."
    )
    ExpectedJobMinutes: Annotated[float | None, Number] = Field(
        None,
        gt=0,
        le=1440,
        description="How long a DRS job usually takes here (default 9 for a drill, 13 for a "
        "recovery); checks are spaced out until then and tighten after.",
    )
    MaxServersPerJob: Annotated[int | None, Number] = Field(
        None, ge=1, le=100, description="Servers per StartRecovery call (at most the DRS quota of 100, the default)."
    )
    MaxConcurrentJobs: Annotated[int | None, Number] = Field(
        None, ge=1, le=1000, description="The account's DRS quota of concurrent jobs per region (default 20)."
    )
    MaxServersInActiveJobs: Annotated[int | None, Number] = Field(
        None, ge=1, le=10000, description="The account's DRS quota of servers in all active jobs (default 500)."
    )
    Quotas: dict[AccountId, AccountQuotas] | None = Field(
        None,
        description="Per account (12 digits): its DRS job quotas where they differ from MaxServersPerJob, "
        "MaxConcurrentJobs and MaxServersInActiveJobs (quotas apply per account and Region).",
    )
    MaxSnapshotSkewMinutes: Annotated[float | None, Number] = Field(
        None,
        gt=0,
        le=10080,
        description="With PointInTime: the recovery snapshots chosen for the servers may be at most this many "
        "minutes apart (default 15); further apart, the execution is refused before anything launches.",
    )
    AllowUnhealthyReplication: Annotated[bool | None, Boolean] = Field(
        None,
        description="DRILL only: launch servers whose replication is STALLED, DISCONNECTED or PAUSED (from their "
        "last snapshot) instead of refusing the plan. A RECOVERY always launches them, with a warning.",
    )
    DrillCleanup: DrillCleanupOptions | None = Field(
        None,
        description="After a DRILL ends, wait AfterMinutes, then terminate the drill instances this execution "
        "launched. A RECOVERY never terminates anything.",
    )
    # Recovery objectives: only the report reads them (met or not, per wave and for the plan); nothing is enforced.
    RtoTargetMinutes: Annotated[float | None, Number] = Field(
        None,
        gt=0,
        le=10080,
        description="Recovery time objective: every wave launched within this many minutes of "
        "the start (the report says whether each wave and the plan met it).",
    )
    RpoTargetMinutes: Annotated[float | None, Number] = Field(
        None,
        gt=0,
        le=10080,
        description="Recovery point objective: each server recovered from a point in time at "
        "most this many minutes older than its StartRecovery (the report says whether it was met).",
    )
    DrillEveryDays: Annotated[int | None, Number] = Field(
        None,
        ge=1,
        le=3650,
        description="Readiness warns (DRILL_OVERDUE) when no drill of this plan version has COMPLETED within this "
        "many days (default 90).",
    )


class RunOptions(_Strict):
    """Options with every default filled in."""

    PollIntervalSeconds: int = 30
    MinPollIntervalSeconds: int = 5
    WaveTimeoutMinutes: int = 120
    ExpectedJobMinutes: float = 9.0
    MaxServersPerJob: int = 100
    MaxConcurrentJobs: int = 20
    MaxServersInActiveJobs: int = 500
    Quotas: dict[str, AccountQuotas] = Field(default_factory=dict)
    MaxSnapshotSkewMinutes: float = 15.0
    AllowUnhealthyReplication: bool = False
    DrillCleanup: DrillCleanupOptions | None = None
    RtoTargetMinutes: float | None = None
    RpoTargetMinutes: float | None = None
    DrillEveryDays: int = 90

    def quotas_for(self, account: str) -> JobQuotas:
        """The DRS job quotas of `account` (per Region): its Options.Quotas entry over the plan-wide ones."""
        own = self.Quotas.get(account) or AccountQuotas()
        return JobQuotas(
            servers_per_job=own.MaxServersPerJob or self.MaxServersPerJob,
            concurrent_jobs=own.MaxConcurrentJobs or self.MaxConcurrentJobs,
            servers_in_active_jobs=own.MaxServersInActiveJobs or self.MaxServersInActiveJobs,
        )

    @classmethod
    def resolve(cls, execution_type: ExecutionMode, *layers: OptionsOverride | None) -> RunOptions:
        """Defaults, then each layer in order (plan options, then execution options); Quotas merge per account."""
        merged: dict[str, object] = {}
        quotas: dict[str, dict[str, object]] = {}
        for layer in layers:
            if layer is not None:
                given = layer.model_dump(exclude_none=True)
                for account, override in (given.pop("Quotas", None) or {}).items():
                    quotas.setdefault(account, {}).update(override)
                merged.update(given)
        if quotas:
            merged["Quotas"] = quotas
        if "ExpectedJobMinutes" not in merged:  # the mode's typical job time, never past the plan's own wave timeout
            timeout = float(str(merged.get("WaveTimeoutMinutes", cls.model_fields["WaveTimeoutMinutes"].default)))
            merged["ExpectedJobMinutes"] = min(DEFAULT_EXPECTED_JOB_MINUTES[execution_type], timeout)
        options = cls.model_validate(merged)
        problems = []
        if options.MinPollIntervalSeconds > options.PollIntervalSeconds:
            problems.append(
                f"Options.MinPollIntervalSeconds ({options.MinPollIntervalSeconds}) is greater than "
                f"Options.PollIntervalSeconds ({options.PollIntervalSeconds}): lower the first or raise the second"
            )
        if options.ExpectedJobMinutes > options.WaveTimeoutMinutes:
            problems.append(
                f"Options.ExpectedJobMinutes ({options.ExpectedJobMinutes:g}) is greater than "
                f"Options.WaveTimeoutMinutes ({options.WaveTimeoutMinutes}): every wave would time out before its "
                "jobs are expected to end; raise WaveTimeoutMinutes or lower ExpectedJobMinutes"
            )
        if problems:
            raise PlanValidationError(problems)
        return options


class RecoveryPlan(_Strict):
    PlanId: str = Field(pattern=NAME_PATTERN, description="Unique ID of the plan; the RecoveryPlans key.")
    Name: str = Field(min_length=1, max_length=256)
    Description: str | None = Field(None, max_length=2048)
    ProtectionGroups: list[ProtectionGroup] = Field(min_length=1)
    Waves: list[Wave] = Field(min_length=1, description="Run in this order, one at a time.")
    Options: OptionsOverride | None = None
    Schedule: DrillSchedule | None = Field(
        None, description="Drill on a schedule (EventBridge Scheduler): drsctl plan load creates or updates it."
    )

    @model_validator(mode="after")
    def _consistent(self) -> RecoveryPlan:
        problems = self.static_problems()
        if problems:
            raise ValueError(PROBLEM_SEPARATOR.join(problems))
        return self

    def runbook_step_count(self) -> int:
        return sum(len(wave.Before) + len(wave.After) for wave in self.Waves)

    def health_check_count(self) -> int:
        """HealthCheck steps: each polls, so each costs more history events (polling.EVENTS_PER_HEALTH_STEP)."""
        return sum(step.HealthCheck is not None for wave in self.Waves for step in wave.After)

    def runbook_seconds(self) -> int:
        """The longest the plan's runbook steps can take, every one to its timeout."""
        return sum(step.timeout_seconds for wave in self.Waves for step in (*wave.Before, *wave.After))

    def group(self, group_id: str) -> ProtectionGroup:
        return next(g for g in self.ProtectionGroups if g.GroupId == group_id)

    def groups_of(self, wave: Wave) -> list[ProtectionGroup]:
        """The wave's protection groups (every one defined: the plan's checks say so)."""
        return [self.group(group_id) for group_id in wave.group_ids]

    def _explicit_servers(self, wave: Wave) -> list[str] | None:
        """The servers of the wave's groups when every one lists its servers (None when one selects them by tag)."""
        groups = self.groups_of(wave)
        if any(g.SourceServerIds is None for g in groups):
            return None
        return [s for g in groups for s in g.SourceServerIds or []]

    def _server_id_problems(self, wave: Wave, where: str, explicit: list[str] | None) -> list[str]:
        problems: list[str] = []
        if wave.ServerIds is not None and explicit is not None:
            groups = [repr(g.GroupId) for g in self.groups_of(wave)]
            named = f"protection group {groups[0]}" if len(groups) == 1 else f"protection groups {', '.join(groups)}"
            problems.extend(
                f"{where}: server {server} is not in {named}; add it to the SourceServerIds of "
                f"{'the group' if len(groups) == 1 else 'one of them'} or remove it from the wave"
                for server in wave.ServerIds
                if server not in explicit
            )
        if wave.ServerIds is not None and len(set(wave.ServerIds)) != len(wave.ServerIds):
            problems.append(f"{where}: ServerIds lists a server twice")
        return problems

    def static_problems(self) -> list[str]:
        """Everything wrong with the plan that can be seen without asking DRS."""
        problems: list[str] = []
        group_ids = [g.GroupId for g in self.ProtectionGroups]
        for duplicate in sorted({g for g in group_ids if group_ids.count(g) > 1}):
            problems.append(f"ProtectionGroups: GroupId {duplicate!r} is used twice; give each group its own ID")
        names = [w.WaveName for w in self.Waves]
        for duplicate in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"Waves: WaveName {duplicate!r} is used twice; wave names must be unique")
        placed: dict[str, str] = {}
        for number, wave in enumerate(self.Waves, start=1):
            where = f"wave {number} ({wave.WaveName!r})"
            field = "ProtectionGroupId" if wave.ProtectionGroupId is not None else "ProtectionGroupIds"
            undefined = [group_id for group_id in wave.group_ids if group_id not in group_ids]
            for group_id in undefined:
                problems.append(
                    f"{where}: {field} {group_id!r} is not defined; define it under ProtectionGroups or use one of "
                    f"{', '.join(group_ids)}"
                )
            if undefined:
                continue
            explicit = self._explicit_servers(wave)
            problems.extend(self._server_id_problems(wave, where, explicit))
            candidates = wave.ServerIds or explicit
            for server in wave.ServerImpact:
                if candidates is not None and server not in candidates:
                    problems.append(f"{where}: ServerImpact names {server}, which this wave does not launch; remove it")
            for server in candidates or []:
                if server in placed and placed[server] != where:
                    problems.append(
                        f"{where}: server {server} is already launched by {placed[server]}; a server may be in "
                        "one wave only"
                    )
                placed.setdefault(server, where)
        return problems


class ExecutionInput(_Strict):
    """What StartExecution is given (docs/plan-format.md, Execution input)."""

    PlanId: str | None = Field(None, pattern=NAME_PATTERN, description="Run the stored plan with this ID.")
    Plan: RecoveryPlan | None = Field(None, description="Or run this plan, given inline.")
    ExecutionType: ExecutionMode = Field(description="DRILL launches drill instances; RECOVERY fails over.")
    Options: OptionsOverride | None = None
    Confirm: str | None = Field(
        None, max_length=256, description='Required for RECOVERY: exactly "RECOVER <PlanId>". Ignored for DRILL.'
    )
    ResumeFrom: str | None = Field(
        None,
        pattern=EXECUTION_NAME_PATTERN,
        description="Resume an earlier execution of the same plan and mode that ended FAILED, TIMED_OUT, CANCELLED or "
        "PARTIAL (its name): waves it completed are skipped and servers it launched are not launched again.",
    )

    PointInTime: str | None = Field(
        None,
        description="Recover to this moment (ISO 8601, UTC, e.g. 2026-01-01T03:00:00Z): each server launches from "
        "its newest recovery snapshot taken at or before it, instead of its latest recovery point. A server without "
        "one, or snapshots further apart than Options.MaxSnapshotSkewMinutes, refuse the execution before anything "
        "launches.",
    )
    StartedBy: str | None = Field(
        None,
        pattern=PRINCIPAL_ARN_PATTERN,
        max_length=STARTED_BY_MAX,
        description="Who started it: the caller's AWS identity (an IAM or STS ARN, as sts:GetCallerIdentity returns "
        "it), which `drsctl run start` adds; written on the execution's record and shown in the report.",
    )
    Scheduled: Annotated[bool | None, Boolean] = Field(
        None,
        description="Set by the plan's schedule (drsctl plan load): a DRILL started by EventBridge Scheduler. It is "
        "refused (recorded FAILED, ScheduledDrillRefusedError) while another execution of the plan runs or while "
        "the plan's readiness is FAIL. A RECOVERY is never scheduled.",
    )

    @model_validator(mode="after")
    def _one_plan(self) -> ExecutionInput:
        if (self.PlanId is None) == (self.Plan is None):
            raise ValueError("give exactly one of PlanId (a stored plan) or Plan (an inline plan)")
        if self.Scheduled and self.ExecutionType != "DRILL":
            raise ValueError("Scheduled: a RECOVERY is never started by a schedule; only a DRILL can be scheduled")
        return self

    @field_validator("PointInTime")
    @classmethod
    def _utc_moment(cls, value: str | None) -> str | None:
        if value is not None:
            point_in_time_epoch(value)
        return value

    @property
    def plan_id(self) -> str:
        return self.PlanId if self.PlanId is not None else self.Plan.PlanId  # type: ignore[union-attr]

    @property
    def point_in_time(self) -> int | None:
        """PointInTime in epoch seconds."""
        return point_in_time_epoch(self.PointInTime) if self.PointInTime is not None else None

    def check_confirmation(self) -> None:
        """A RECOVERY fails over production: it runs only when the input says so in words that name the plan."""
        expected = recovery_confirmation(self.plan_id)
        if self.ExecutionType == "RECOVERY" and self.Confirm != expected:
            raise PlanValidationError(
                [
                    f"Confirm: a RECOVERY launches production recovery instances for plan {self.plan_id!r}. To "
                    f'proceed, add "Confirm": "{expected}" to the execution input; to rehearse safely, use '
                    '"ExecutionType": "DRILL"'
                ]
            )


def point_in_time_epoch(text: str) -> int:
    """An ISO 8601 moment in UTC (`Z` or `+00:00`, seconds or finer) as epoch seconds; ValueError naming the form
    otherwise (a time without its zone would be read in whatever zone the reader is in)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date and time; write it as 2026-01-01T03:00:00Z (UTC)") from None
    if moment.utcoffset() != timedelta(0):
        raise ValueError(f"{text!r} must be in UTC: end it with Z (e.g. 2026-01-01T03:00:00Z)")
    return int(moment.timestamp())


def recovery_confirmation(plan_id: str) -> str:
    return f"RECOVER {plan_id}"


def problems_from(error: ValidationError, prefix: str = "") -> list[str]:
    """Turn pydantic's errors into lines that name the field and say what is wrong."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(part) for part in problem["loc"])
        field = f"{prefix}{location}" if location else prefix.rstrip(":. ") or "(input)"
        for message in problem["msg"].removeprefix("Value error, ").split(PROBLEM_SEPARATOR):
            lines.append(f"{field}: {message}")
    return lines


def parse_execution_input(raw: object) -> ExecutionInput:
    try:
        return ExecutionInput.model_validate(raw)
    except ValidationError as error:
        raise PlanValidationError(problems_from(error)) from error


def parse_plan(raw: object, source: str = "") -> RecoveryPlan:
    if not isinstance(raw, dict):
        where = source or "the plan"
        kind = {list: "a list", str: "plain text", int: "a number", float: "a number", bool: "a boolean"}
        found = "empty" if raw is None else f"{kind.get(type(raw), type(raw).__name__)}, not a mapping of fields"
        raise PlanValidationError([f"{where} is {found}: a plan needs PlanId, Name, ProtectionGroups and Waves"])
    try:
        return RecoveryPlan.model_validate(raw)
    except ValidationError as error:
        raise PlanValidationError(problems_from(error, f"{source}: " if source else "")) from error
