"""The facts readiness checks read about one plan, gathered lazily: a fact is fetched the first time a check asks for
it, once, and shared by every check that reads it.

A fact that cannot be read (access denied, a Region DRS is not initialized in, a member account out of reach) raises
`FactUnavailable` to the check that asks, every time it is asked: the runner turns that into a finding of that check
saying what could not be read, so a missing permission is never read as "nothing wrong". Work is bounded whatever the
plan's size: one source server listing per (account, Region), launch settings per server on a few threads, every
EC2 describe batched (lambdas/core/readiness/reads.py).

History (the plan's executions) and locks come from the stack's tables when deployed; a plan file checked against
the emulator has none (`NO_HISTORY`, `NO_LOCKS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeVar

from lambdas.core import accounts, drs
from lambdas.core.aws_errors import classify
from lambdas.core.plan import ProtectionGroup, RecoveryPlan, RunOptions, Wave
from lambdas.core.plan_version import plan_version
from lambdas.core.readiness import reads
from lambdas.core.readiness.reads import Where

T = TypeVar("T")
PROFILE_ARN = re.compile(r"^arn:[^:]+:iam::\d{12}:instance-profile/(?:.*/)?([^/]+)$")
DURATION = re.compile(r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


class FactUnavailable(Exception):
    """A fact could not be read: `what` names it (the call and where), `reason` says why, `fix` what to do."""

    def __init__(self, what: str, reason: str, fix: str, where: Where | None = None) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.reason = reason
        self.fix = fix
        self.where = where


@dataclass(frozen=True)
class Drill:
    """An execution of the plan, as its ExecutionHistory record tells it."""

    execution_id: str
    execution_type: str
    status: str
    start_time: int
    end_time: int | None
    plan_version: str | None


@dataclass(frozen=True)
class HeldLock:
    lock_id: str
    execution_id: str
    plan_id: str
    holder_status: str  # how the holder ended (its record's status, or Step Functions')


class History(Protocol):
    def executions(self, plan_id: str, since: int) -> list[Drill]:
        """The plan's executions started since `since` (epoch seconds), newest first."""
        ...


class Locks(Protocol):
    def stale(self, lock_ids: list[str]) -> list[HeldLock]:
        """Those of the locks that are held by an execution that has ended."""
        ...


class _NoHistory:
    def executions(self, plan_id: str, since: int) -> list[Drill]:
        return []


class _NoLocks:
    def stale(self, lock_ids: list[str]) -> list[HeldLock]:
        return []


NO_HISTORY: History = _NoHistory()
NO_LOCKS: Locks = _NoLocks()


@dataclass
class PlanServer:
    """A server the plan launches: where, in which wave and group, and DRS's view of it (None: not found)."""

    wave_number: int
    wave_name: str
    group_id: str
    where: Where
    server_id: str
    server: dict[str, Any] | None

    @property
    def hostname(self) -> str | None:
        if self.server is None:
            return None
        hints = (self.server.get("sourceProperties") or {}).get("identificationHints") or {}
        name = hints.get("hostname") or hints.get("fqdn")
        return str(name) if name else None

    @property
    def place(self) -> str:
        return f"wave {self.wave_number} ({self.wave_name}), protection group {self.group_id}"


@dataclass(frozen=True)
class LaunchSettings:
    """What a server launches with: its DRS launch configuration and its EC2 launch template's default version."""

    template_id: str | None = None
    instance_type: str | None = None
    subnet_id: str | None = None
    security_group_ids: tuple[str, ...] = ()
    instance_profile: str | None = None  # the profile's name
    problem: str | None = None  # the settings themselves cannot be read: why


@dataclass
class Capacity:
    vcpu_limit: float
    vcpus_in_use: int


@dataclass
class Estate:
    """One plan and everything readiness reads about it. `now` is epoch seconds; `baseline` the number of servers
    each selector group matched when the plan version was first evaluated (None: not known); `predicted_makespan`
    a rehearsal's makespan of the plan, in seconds, when one was run (a plan file checked with --rehearse)."""

    plan: RecoveryPlan
    now: int
    history: History = NO_HISTORY
    locks: Locks = NO_LOCKS
    baseline: dict[str, int] | None = None
    predicted_makespan: float | None = None  # seconds, from a rehearsal of the plan (plan files only)
    _facts: dict[str, Any] = field(default_factory=dict, repr=False)
    _failures: dict[str, FactUnavailable] = field(default_factory=dict, repr=False)

    @property
    def history_known(self) -> bool:
        return self.history is not NO_HISTORY

    @cached_property
    def version(self) -> str:
        return plan_version(self.plan)

    @cached_property
    def options(self) -> RunOptions:
        return RunOptions.resolve("DRILL", self.plan.Options)

    # -- where the plan's servers are --------------------------------------------------------------------------

    def where_of(self, group: ProtectionGroup) -> Where:
        account = getattr(group, "Account", None) or accounts.home_account()
        return Where(str(account), group.Region)

    def groups_of(self, wave: Wave) -> list[ProtectionGroup]:
        ids = getattr(wave, "ProtectionGroupIds", None) or [wave.ProtectionGroupId]
        return [self.plan.group(group_id) for group_id in ids]

    @cached_property
    def targets(self) -> list[Where]:
        return sorted({self.where_of(group) for wave in self.plan.Waves for group in self.groups_of(wave)})

    def listings(self) -> dict[Where, dict[str, dict[str, Any]] | FactUnavailable]:
        """Every source server of each (account, Region) of the plan: one paginated DescribeSourceServers each."""
        if "listings" in self._facts:
            return self._facts["listings"]  # type: ignore[no-any-return]
        found: dict[Where, dict[str, dict[str, Any]] | FactUnavailable] = {}
        for where in self.targets:
            try:
                reads.reach(where)  # a member role that cannot be assumed is named as such, with its fix
                servers = drs.describe_source_servers(where)
                found[where] = {str(server["sourceServerID"]): server for server in servers}
            except Exception as error:  # noqa: BLE001 - any failure to list is a finding, not a crash
                found[where] = _unavailable(f"DescribeSourceServers in {where}", error, where)
        self._facts["listings"] = found
        return found

    def listing(self, where: Where) -> dict[str, dict[str, Any]]:
        listed = self.listings()[where]
        if isinstance(listed, FactUnavailable):
            raise listed
        return listed

    def servers(self) -> list[PlanServer]:
        """Every server the plan launches, wave by wave; an explicitly listed server DRS does not know has
        `server` None. The servers of a target whose listing failed are left out (SERVER_NOT_FOUND says why)."""
        if "servers" in self._facts:
            return self._facts["servers"]  # type: ignore[no-any-return]
        found: list[PlanServer] = []
        for number, wave in enumerate(self.plan.Waves, start=1):
            for group in self.groups_of(wave):
                where = self.where_of(group)
                listed = self.listings()[where]
                if isinstance(listed, FactUnavailable):
                    continue
                for server_id in self._wave_server_ids(wave, group, listed):
                    found.append(
                        PlanServer(number, wave.WaveName, group.GroupId, where, server_id, listed.get(server_id))
                    )
        self._facts["servers"] = found
        return found

    def _wave_server_ids(self, wave: Wave, group: ProtectionGroup, listed: dict[str, dict[str, Any]]) -> list[str]:
        if group.Selector is None:
            return list(wave.ServerIds or group.SourceServerIds or [])
        selected = self.selected(group, listed)
        return [s for s in wave.ServerIds if s in selected] if wave.ServerIds else selected

    @staticmethod
    def selected(group: ProtectionGroup, listed: dict[str, dict[str, Any]]) -> list[str]:
        """The servers a selector group's tags choose."""
        assert group.Selector is not None
        wanted = group.Selector.Tags
        return sorted(
            server_id
            for server_id, server in listed.items()
            if all((server.get("tags") or {}).get(key) == value for key, value in wanted.items())
        )

    def selector_counts(self) -> dict[str, int]:
        """How many servers each selector group of the plan matches now (groups whose listing failed: absent)."""
        counts: dict[str, int] = {}
        for group in {g.GroupId: g for w in self.plan.Waves for g in self.groups_of(w)}.values():
            listed = self.listings()[self.where_of(group)]
            if group.Selector is not None and not isinstance(listed, FactUnavailable):
                counts[group.GroupId] = len(self.selected(group, listed))
        return counts

    def found(self) -> list[PlanServer]:
        """The plan's servers DRS knows."""
        return [server for server in self.servers() if server.server is not None]

    def by_target(self) -> dict[Where, list[PlanServer]]:
        grouped: dict[Where, list[PlanServer]] = {}
        for server in self.found():
            grouped.setdefault(server.where, []).append(server)
        return grouped

    # -- launch settings ---------------------------------------------------------------------------------------

    def launch_settings_by_target(self) -> dict[Where, dict[str, LaunchSettings] | FactUnavailable]:
        """Each server's launch settings: GetLaunchConfiguration per server, the launch templates' default versions
        once per (account, Region)."""
        if "launch" in self._facts:
            return self._facts["launch"]  # type: ignore[no-any-return]
        settings: dict[Where, dict[str, LaunchSettings] | FactUnavailable] = {}
        for where, servers in self.by_target().items():
            try:
                configurations = reads.launch_configurations(where, [s.server_id for s in servers])
                templates = reads.default_template_versions(where)
            except Exception as error:  # noqa: BLE001 - reported by the checks that need it
                settings[where] = _unavailable(f"the launch settings in {where}", error, where)
                continue
            settings[where] = {
                server_id: _settings(configuration, templates) for server_id, configuration in configurations.items()
            }
        self._facts["launch"] = settings
        return settings

    def launch_settings(self, server: PlanServer) -> LaunchSettings:
        found = self.launch_settings_by_target()[server.where]
        if isinstance(found, FactUnavailable):
            raise found
        return found.get(server.server_id, LaunchSettings(problem="DRS has no launch configuration for it"))

    def subnets(self, where: Where) -> dict[str, str]:
        """Subnet ID -> Availability Zone, for the subnets the plan's launch templates in `where` name that exist."""
        wanted = [s.subnet_id for s in self._settings_in(where) if s.subnet_id]
        return self._fact(
            f"subnets:{where}", f"DescribeSubnets in {where}", where, lambda: reads.existing_subnets(where, wanted)
        )

    def security_groups(self, where: Where) -> set[str]:
        wanted = [group for s in self._settings_in(where) for group in s.security_group_ids]
        return self._fact(
            f"groups:{where}",
            f"DescribeSecurityGroups in {where}",
            where,
            lambda: reads.existing_security_groups(where, wanted),
        )

    def offered(self, where: Where) -> set[tuple[str, str]]:
        """(instance type, zone) pairs offered, for the plan's instance types and their subnets' zones."""
        zones = self.subnets(where).values()
        types = [s.instance_type for s in self._settings_in(where) if s.instance_type]
        return self._fact(
            f"offered:{where}",
            f"DescribeInstanceTypeOfferings in {where}",
            where,
            lambda: reads.offered_instance_types(where, zones, types),
        )

    def vcpus(self, where: Where, extra_types: tuple[str, ...] = ()) -> dict[str, int]:
        types = sorted({s.instance_type for s in self._settings_in(where) if s.instance_type} | set(extra_types))
        return self._fact(
            f"vcpus:{where}:{','.join(types)}",
            f"DescribeInstanceTypes in {where}",
            where,
            lambda: reads.instance_type_vcpus(where, types),
        )

    def profile_exists(self, where: Where, name: str) -> bool:
        """IAM is global: one look per account and profile name."""
        return self._fact(
            f"profile:{where.account}:{name}",
            f"GetInstanceProfile {name} in account {where.account}",
            where,
            lambda: reads.instance_profile_exists(where, name),
        )

    def capacity(self, where: Where) -> Capacity:
        """The vCPU quota of On-Demand standard instances and the vCPUs running now (EC2's view)."""

        def quota_and_usage() -> Capacity:
            limit = reads.vcpu_quota(where)
            running = reads.running_standard_types(where)
            vcpus = self.vcpus(where, tuple(running))
            return Capacity(limit, sum(vcpus.get(kind, 0) * count for kind, count in running.items()))

        return self._fact(f"capacity:{where}", f"the vCPU quota and usage in {where}", where, quota_and_usage)

    def snapshot_time(self, server: PlanServer) -> str | None:
        return self._fact(
            f"snapshot:{server.where}:{server.server_id}",
            f"DescribeRecoverySnapshots of {server.server_id} in {server.where}",
            server.where,
            lambda: reads.newest_snapshot_time(server.where, server.server_id),
        )

    def _settings_in(self, where: Where) -> list[LaunchSettings]:
        found = self.launch_settings_by_target().get(where)
        if found is None or isinstance(found, FactUnavailable):
            return []
        return list(found.values())

    def _fact(self, key: str, what: str, where: Where, fetch: Callable[[], T]) -> T:
        if key in self._failures:
            raise self._failures[key]
        if key not in self._facts:
            try:
                self._facts[key] = fetch()
            except FactUnavailable:
                raise
            except Exception as error:
                self._failures[key] = _unavailable(what, error, where)
                raise self._failures[key] from error
        value: T = self._facts[key]
        return value

    # -- history -----------------------------------------------------------------------------------------------

    def executions_since(self, since: int) -> list[Drill]:
        return self._fact(
            f"history:{since}",
            "the plan's executions (ExecutionHistory)",
            Where("", ""),
            lambda: self.history.executions(self.plan.PlanId, since),
        )


def _settings(configuration: dict[str, Any] | None, templates: dict[str, dict[str, Any]]) -> LaunchSettings:
    if configuration is None:
        return LaunchSettings(problem="DRS has no launch configuration for it (GetLaunchConfiguration: not found)")
    template_id = configuration.get("ec2LaunchTemplateID")
    if not template_id:
        return LaunchSettings(problem="its DRS launch configuration names no EC2 launch template")
    data = templates.get(str(template_id))
    if data is None:
        return LaunchSettings(
            template_id=str(template_id), problem=f"its EC2 launch template {template_id} no longer exists"
        )
    interfaces = sorted(data.get("NetworkInterfaces") or [], key=lambda i: int(i.get("DeviceIndex", 0) or 0))
    primary = interfaces[0] if interfaces else {}
    groups = primary.get("Groups") or data.get("SecurityGroupIds") or []
    profile = data.get("IamInstanceProfile") or {}
    name = profile.get("Name")
    if not name and profile.get("Arn"):
        matched = PROFILE_ARN.match(str(profile["Arn"]))
        name = matched.group(1) if matched else str(profile["Arn"])
    return LaunchSettings(
        template_id=str(template_id),
        instance_type=data.get("InstanceType"),
        subnet_id=primary.get("SubnetId"),
        security_group_ids=tuple(str(group) for group in groups),
        instance_profile=str(name) if name else None,
    )


def _unavailable(what: str, error: Exception, where: Where | None) -> FactUnavailable:
    if isinstance(error, reads.MemberAccountError):
        return FactUnavailable(what, error.reason, error.fix, where)
    failure = classify(error)
    if failure is None:
        return FactUnavailable(what, f"{type(error).__name__}: {error}", "look at the readiness function's logs", where)
    if failure.code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        fix = _access_fix(where)
    elif failure.code == "UninitializedAccountException":
        fix = "initialize DRS in that Region (DRS console: Settings), or fix the plan's Region"
    elif failure.kind == "transient":
        fix = "nothing if it passes: the next evaluation (every 30 minutes) reads it again"
    else:
        fix = "look at the error, fix the access or the plan, then evaluate again (drsctl plan readiness PLAN_ID --now)"
    return FactUnavailable(what, failure.short(), fix, where)


def _access_fix(where: Where | None) -> str:
    """What to do when AWS denies a read: the role that makes it is the member stack's, or the readiness
    function's, and each of this version grants every read readiness makes."""
    if where is not None and where.account and not accounts.is_home(where.account):
        return (
            f"deploy this version of the member stack in account {where.account} (make deploy-member, or the "
            "StackSet of docs/accounts.md): its role grants every read readiness makes; if an SCP or a permissions "
            "boundary denies it, allow it; then evaluate again"
        )
    return (
        "deploy this version of the stack (make deploy): the readiness function's role grants every read readiness "
        "makes (stacks/iam.py, stacks/readiness.py); if an SCP or a permissions boundary denies it, allow it; then "
        "evaluate again"
    )


def duration_seconds(text: str | None) -> float | None:
    """An ISO 8601 duration as DRS writes a lag (PT2H, PT1H30M, P1DT2H, PT45.5S) in seconds; None if unreadable."""
    if not text:
        return None
    matched = DURATION.match(text)
    if not matched or text in ("P", "PT"):
        return None
    days, hours, minutes, seconds = (float(part) if part else 0.0 for part in matched.groups())
    return days * 86_400 + hours * 3600 + minutes * 60 + seconds
