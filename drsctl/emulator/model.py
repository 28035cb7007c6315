"""The behaviour of DRS, in memory, on an injected clock: source servers, jobs, recovery instances, quotas, faults.

Nothing here knows about HTTP. Every public operation takes plain request members (as the protocol layer parsed and
validated them) and returns plain response members. Time-driven changes (a snapshot ending, a launch finishing) are
scheduled events, applied in time order whenever anyone calls in, so the state a client sees is a pure function of
the scenario, the calls made and the clock: a rehearsal on a virtual clock replays identically.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
import string
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from botocore import xform_name

from drsctl.clock import Clock, iso8601, parse_iso8601
from drsctl.emulator.errors import (
    ERRORS_BY_NAME,
    ConflictException,
    DropResponse,
    DrsError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    UninitializedAccountException,
    ValidationException,
)
from drsctl.emulator.launch import LaunchEstate
from drsctl.emulator.scenario import (
    ANY_OPERATION,
    ConflictFault,
    ExternalJob,
    InstanceStatusSpec,
    OperationFault,
    PhaseTiming,
    PostLaunch,
    Scenario,
    ServerSpec,
)

ACTIVE = ("PENDING", "STARTED")
POST_LAUNCH_ACTION_CODE = "drs-rehearsal-post-launch"  # an SSM document name (SsmDocumentName pattern)
FINAL_LAUNCH_STATUSES = ("LAUNCHED", "FAILED", "TERMINATED")
SNAPSHOT_INTERVAL = 600  # seconds between recovery snapshots, on a grid aligned to the epoch
SNAPSHOT_RETENTION = 86_400  # how far back recovery snapshots are kept
TERMINATED_VISIBLE_SECONDS = 3600  # EC2 keeps listing a terminated instance for about an hour


class Rendered(Sequence[dict[str, Any]]):
    """Items of a Describe* answer, each rendered only when its page is served: the protocol slices one page out of
    the whole filtered list, and rendering every item for every page made listing 5,000 servers quadratic (50 pages
    x 5,000 renders, about 10 s). Rendering holds the emulator's lock, as the call did, so a page is consistent."""

    def __init__(self, items: Sequence[Any], render: Callable[[Any], dict[str, Any]], lock: threading.RLock) -> None:
        self._items = items
        self._render = render
        self._lock = lock

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: Any) -> Any:
        with self._lock:
            if isinstance(index, slice):
                return [self._render(item) for item in self._items[index]]
            return self._render(self._items[index])


@dataclass
class SourceServer:
    spec: ServerSpec
    region: str
    account: str
    arn: str
    added_at: float
    tags: dict[str, str]
    conflicts_left: int
    recovery_instance_id: str | None = None
    last_launch: dict[str, Any] | None = None
    last_launch_result: str = "NOT_STARTED"

    @property
    def id(self) -> str:
        return self.spec.id

    def describe(self, now: float) -> dict[str, Any]:
        life_cycle: dict[str, Any] = {
            "addedToServiceDateTime": iso8601(self.added_at),
            "firstByteDateTime": iso8601(self.added_at),
            "lastSeenByServiceDateTime": iso8601(now),
            "elapsedReplicationDuration": f"PT{int(now - self.added_at)}S",
        }
        if self.last_launch is not None:
            life_cycle["lastLaunch"] = self.last_launch
        return {
            "sourceServerID": self.id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "recoveryInstanceId": self.recovery_instance_id,
            "lastLaunchResult": self.last_launch_result,
            "dataReplicationInfo": {
                "dataReplicationState": self.spec.replication,
                "lagDuration": iso8601_duration(self.spec.lag),
                "replicatedDisks": [],
            },
            "lifeCycle": life_cycle,
            "sourceProperties": {
                "lastUpdatedDateTime": iso8601(self.added_at),
                "identificationHints": {
                    "hostname": self.spec.hostname,
                    "fqdn": f"{self.spec.hostname}.example",
                },
            },
            "sourceCloudProperties": {"originRegion": self.region, "originAccountID": self.account},
            "replicationDirection": "FAILOVER",
        }


def post_launch_action(action_id: str) -> dict[str, Any]:
    """The one post-launch action a server with `postLaunch` has configured, shaped as DRS's LaunchAction: what
    ListLaunchActions lists and what each of its runs in DescribeJobs names."""
    return {
        "actionId": action_id,
        "actionCode": POST_LAUNCH_ACTION_CODE,
        "type": "SSM_COMMAND",
        "name": "Rehearsal post-launch action",
        "active": True,
        "order": 1001,
        "actionVersion": "$DEFAULT",
        "optional": False,
        "parameters": {},
        "description": "Emulated post-launch action (scenario postLaunch)",
        "category": "VALIDATION",
    }


@dataclass
class LaunchActionRun:
    """One run of the emulated post-launch action (scenario `postLaunch`), shaped as DRS's LaunchActionRun."""

    action_id: str
    run_id: str
    discovered_at: float  # when the SSM agent was found on the instance: the launch itself, in the emulator
    status: str = "IN_PROGRESS"

    def describe(self) -> dict[str, Any]:
        run: dict[str, Any] = {
            "action": post_launch_action(self.action_id),
            "runId": self.run_id,
            "status": self.status,
        }
        if self.status == "FAILED":
            run["failureReason"] = "The SSM command failed on the recovery instance (scenario postLaunch: FAILED)"
        return {"ssmAgentDiscoveryDatetime": iso8601(self.discovered_at), "runs": [run]}


@dataclass
class Participant:
    source_server_id: str
    recovery_instance_id: str | None = None
    launch_status: str = "PENDING"
    ended_at: float | None = None  # when it reached a final launch status (for the rehearsal's figures)
    settled: bool = False  # job_ends_without_launch: not final, but no longer holding its job open
    post_launch: LaunchActionRun | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "sourceServerID": self.source_server_id,
            "recoveryInstanceID": self.recovery_instance_id,
            "launchStatus": self.launch_status,
            # What DRS answers for a server with no post-launch action configured: no runs, no SSM discovery time.
            "launchActionsStatus": self.post_launch.describe() if self.post_launch else {"runs": []},
        }


@dataclass
class Job:
    id: str
    arn: str
    region: str
    account: str
    type: str
    initiated_by: str
    created_at: float
    sequence: int
    tags: dict[str, str]
    participants: list[Participant]
    is_drill: bool | None = None
    status: str = "PENDING"
    ended_at: float | None = None
    log: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def participant(self, source_server_id: str) -> Participant:
        return next(p for p in self.participants if p.source_server_id == source_server_id)

    def describe(self) -> dict[str, Any]:
        return {
            "jobID": self.id,
            "arn": self.arn,
            "type": self.type,
            "initiatedBy": self.initiated_by,
            "creationDateTime": iso8601(self.created_at),
            "endDateTime": iso8601(self.ended_at) if self.ended_at is not None else None,
            "status": self.status,
            "participatingServers": [p.describe() for p in self.participants],
            "tags": dict(self.tags),
        }


@dataclass
class RecoveryInstance:
    id: str
    arn: str
    region: str
    account: str
    source_server_id: str
    job_id: str
    is_drill: bool
    snapshot_at: float
    launched_at: float
    instance_status: InstanceStatusSpec | None = None  # the server's EC2 status checks (scenario instanceStatus)
    tags: dict[str, str] = field(default_factory=dict)
    state: str = "RUNNING"
    terminated_at: float | None = None  # when its EC2 instance was terminated (cleanup, or a newer launch)

    def describe(self) -> dict[str, Any]:
        return {
            "recoveryInstanceID": self.id,
            "ec2InstanceID": self.id,  # DRS names a recovery instance after its EC2 instance
            "ec2InstanceState": self.state,
            "jobID": self.job_id,
            "sourceServerID": self.source_server_id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "isDrill": self.is_drill,
            "pointInTimeSnapshotDateTime": iso8601(self.snapshot_at),
            "originEnvironment": "AWS",
        }


@dataclass
class _PendingFault:
    operation: str  # an operation name or ANY_OPERATION
    error: str
    message: str | None
    quota_code: str | None  # ServiceQuotaExceededException's quotaCode, when the scenario gives one
    remaining: int  # calls left, for a count fault
    window: tuple[float, float] | None  # [start, end) in clock time, for a window fault
    account: str | None = None  # only calls in this account

    @classmethod
    def of(cls, fault: OperationFault, origin: float) -> _PendingFault:
        window = fault.window
        return cls(
            operation=fault.operation,
            error=fault.error,
            message=fault.message,
            quota_code=fault.quotaCode,
            remaining=fault.count or 0,
            window=None if window is None else (origin + window[0], origin + window[1]),
            account=fault.account,
        )

    def applies_to(self, operation: str, account: str) -> bool:
        return self.operation in (operation, ANY_OPERATION) and self.account in (None, account)


class Ec2Fault(Exception):
    """A scenario fault on an EC2 operation: `code` is EC2's error code (RequestLimitExceeded, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(order=True)
class _Event:
    at: float
    sequence: int
    action: Callable[[float], None] = field(compare=False)  # called with the time it was due


class DrsEmulator:
    """DRS in the scenario's accounts, every region. Thread-safe: one lock serialises every call and every scheduled
    change.

    Each call is answered in the account of its caller's credentials (`caller`: the access key ID of its
    signature): `resolve_caller` maps an access key to its account (the rehearsal maps the keys moto's STS
    AssumeRole issues to the role's account); a key it does not know is the scenario's own account. An account sees
    only its own servers, jobs and recovery instances; one the scenario does not know is not initialized for DRS.
    """

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.resolve_caller: Callable[[str], str | None] = lambda _key: None
        self._account = scenario.accountId  # the account of the call being answered (set under the lock)
        self._lock = threading.RLock()
        self._ids = random.Random(scenario.seed)
        self._request_ids = random.Random(f"{scenario.seed}:requests")  # apart: answers do not shift the IDs
        self._sequence = itertools.count()
        self._events: list[_Event] = []
        now = clock.now()
        self.origin = now  # time windows of faults and external jobs count from here
        self._faults = [_PendingFault.of(fault, now) for fault in scenario.faults]
        self.calls: Counter[str] = Counter()
        self.servers: dict[tuple[str, str], SourceServer] = {}
        self.launch = LaunchEstate(scenario)  # each server's launch template, the subnets, groups and capacity
        self.jobs: dict[str, Job] = {}
        self.instances: dict[str, RecoveryInstance] = {}  # what DescribeRecoveryInstances lists
        self.ec2_instances: dict[str, RecoveryInstance] = {}  # every instance ever launched, terminated ones too
        self.ec2_calls: Counter[str] = Counter()  # EC2 operations, apart from `calls` (DRS operations)
        self.other_calls: Counter[str] = Counter()  # other services' operations (Service Quotas)
        self._synthetic_ids: set[str] = set()
        for spec in scenario.servers:
            region = scenario.region_of(spec)
            account = scenario.account_of(spec)
            conflicts = sum(f.conflict for f in spec.faults if isinstance(f, ConflictFault))
            self.servers[(region, spec.id)] = SourceServer(
                spec=spec,
                region=region,
                account=account,
                arn=self._arn(region, "source-server", spec.id, account),
                added_at=now - 30 * 86_400,
                tags=dict(spec.tags),
                conflicts_left=conflicts,
            )
        for index, external in enumerate(scenario.externalJobs):
            self._at(now + external.after, partial(self._external_job_started, index, external))

    # -- entry point --------------------------------------------------------------------------------------------

    def account_for(self, caller: str | None) -> str:
        """The account a caller's access key belongs to (the scenario's own when the key is not a member role's)."""
        return (self.resolve_caller(caller) if caller else None) or self.scenario.accountId

    def invoke(self, operation: str, region: str, params: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
        """Run one operation in the caller's account: apply due events, inject any scheduled fault, then do the
        work."""
        with self._lock:
            self.calls[operation] += 1
            self._account = self.account_for(caller)
            self.advance()
            if self._account not in self.scenario.known_accounts():
                raise UninitializedAccountException(
                    f"Account {self._account} is not initialized for AWS Elastic Disaster Recovery in {region}"
                )
            fault = self._take_fault(operation, self.clock.now())
            if fault is not None and fault.error != "drop_response":
                raise _fault_error(fault.error, operation, fault.message, fault.quota_code)
            handler: Callable[..., dict[str, Any]] = getattr(self, xform_name(operation))
            result = handler(region, **params)
            if fault is not None:
                raise DropResponse(operation)
            return result

    def repair_servers(self) -> list[str]:
        """The team fixed what made launches fail: every server's scenario faults (launch_failure, stuck, ...) are
        cleared for launches from now on. Returns the servers repaired (a rehearsed resume starts from here)."""
        with self._lock:
            repaired = []
            for server in self.servers.values():
                if server.spec.faults:
                    server.spec = server.spec.model_copy(update={"faults": []})
                    server.conflicts_left = 0
                    repaired.append(server.id)
            return repaired

    def advance(self) -> None:
        """Apply every scheduled change that is due at the clock's current time, in time order."""
        with self._lock:
            now = self.clock.now()
            while self._events and self._events[0].at <= now:
                event = heapq.heappop(self._events)
                event.action(event.at)

    def ec2_view(self, region: str, operation: str, caller: str | None = None) -> tuple[float, list[RecoveryInstance]]:
        """For the EC2 side (`ec2.py`): the time and a copy of every EC2 instance DRS launched in `region` of the
        caller's account, oldest first, terminated ones included, after applying every due change. A scenario fault
        on the operation is raised as Ec2Fault (the protocol layer answers it in EC2's shape)."""
        with self._lock:
            account = self.account_for(caller)
            self.ec2_calls[operation] += 1
            self.advance()
            fault = self._take_fault(operation, self.clock.now(), exact=True, account=account)
            if fault is not None:
                raise Ec2Fault(fault.error, fault.message or f"Injected fault: {fault.error} on {operation}")
            instances = [replace(i) for i in self.ec2_instances.values() if i.region == region and i.account == account]
            return self.clock.now(), instances

    def count_call(self, operation: str) -> None:
        """Count a call of another service the emulator serves (Service Quotas)."""
        with self._lock:
            self.other_calls[operation] += 1

    def next_event_at(self) -> float | None:
        """When the next scheduled change happens (None when nothing is pending): lets a driver skip idle time."""
        with self._lock:
            return self._events[0].at if self._events else None

    # -- operations ---------------------------------------------------------------------------------------------

    def start_recovery(
        self, region: str, sourceServers: list[dict[str, Any]], isDrill: bool = False, tags: Any = None
    ) -> dict[str, Any]:
        ids = [item["sourceServerID"] for item in sourceServers]
        duplicates = sorted({server_id for server_id in ids if ids.count(server_id) > 1})
        if duplicates:
            raise ValidationException(
                f"sourceServers names {', '.join(duplicates)} more than once",
                fields=[{"name": "sourceServers", "message": f"duplicate sourceServerID {duplicates[0]}"}],
            )
        quotas = self.scenario.quotas_of(self._account)
        if len(ids) > quotas.maxServersPerJob:
            raise ServiceQuotaExceededException(
                f"A job can include at most {quotas.maxServersPerJob} source servers; this request has {len(ids)}",
                resourceType="Job",
                serviceCode="drs",
                quotaCode="MaxServersPerJob",
            )
        servers = [self._server(region, server_id) for server_id in ids]
        chosen = {
            item["sourceServerID"]: self._snapshot_time(server, item["recoverySnapshotID"])
            for item, server in zip(sourceServers, servers, strict=True)
            if item.get("recoverySnapshotID")
        }
        for server in servers:
            self._check_not_busy(server)
        self._check_job_quotas(region, len(servers))
        kind = "START_DRILL" if isDrill else "START_RECOVERY"
        job = self._new_job(region, "LAUNCH", kind, [Participant(s.id) for s in servers], dict(tags or {}))
        # The recovery point: the recovery snapshot the request names (a point-in-time recovery); else, with
        # replication lag, the newest recovery snapshot at the job's creation; without, the snapshot the job itself
        # takes (None here: its time is known when SNAPSHOT_END happens).
        recovery_points = {
            s.id: self._newest_snapshot_at(s, job.created_at) if s.spec.lag > 0 else None for s in servers
        }
        recovery_points.update(chosen)
        job.is_drill = isDrill
        for server in servers:
            server.last_launch = {
                "initiated": {
                    "apiCallDateTime": iso8601(job.created_at),
                    "jobID": job.id,
                    "type": "DRILL" if isDrill else "RECOVERY",
                },
                "status": "PENDING",
            }
            server.last_launch_result = "PENDING"
            self._schedule_launch(job, server, recovery_points[server.id])
        return {"job": job.describe()}

    def terminate_recovery_instances(self, region: str, recoveryInstanceIDs: list[str]) -> dict[str, Any]:
        instances = []
        for instance_id in recoveryInstanceIDs:
            instance = self.instances.get(instance_id)
            if instance is None or instance.region != region or instance.account != self._account:
                raise ResourceNotFoundException(
                    f"Recovery instance {instance_id} not found in {region}",
                    resourceId=instance_id,
                    resourceType="RECOVERY_INSTANCE",
                )
            if instance.state == "SHUTTING-DOWN":
                raise ConflictException(
                    f"Recovery instance {instance_id} is already being terminated",
                    resourceId=instance_id,
                    resourceType="RECOVERY_INSTANCE",
                )
            instances.append(instance)
        self._check_job_quotas(region, 0)
        participants = [Participant(i.source_server_id, recovery_instance_id=i.id) for i in instances]
        job = self._new_job(region, "TERMINATE", "TERMINATE_RECOVERY_INSTANCES", participants, {})
        rng = random.Random(f"{self.scenario.seed}:{job.id}")
        self._at(job.created_at, lambda at: self._mark_started(job))
        for instance in instances:
            instance.state = "SHUTTING-DOWN"
            self._log(job, job.created_at, "CLEANUP_START", instance.source_server_id, targetInstanceID=instance.id)
            done = job.created_at + self._jittered(self.scenario.timing.terminate, rng)
            self._at(done, lambda at, instance=instance: self._terminated(job, instance, at))  # type: ignore[misc]
        return {"job": job.describe()}

    def describe_jobs(self, region: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        filters = filters or {}
        wanted = set(filters.get("jobIDs") or [])
        start = parse_iso8601(filters["fromDate"]) if filters.get("fromDate") else None
        end = parse_iso8601(filters["toDate"]) if filters.get("toDate") else None
        jobs = [
            job
            for job in self.jobs.values()
            if job.region == region
            and job.account == self._account
            and (not wanted or job.id in wanted)
            and (start is None or job.created_at >= start)
            and (end is None or job.created_at <= end)
        ]
        jobs.sort(key=lambda job: (job.created_at, job.sequence), reverse=True)  # newest first, as DRS does
        return {"items": Rendered(jobs, Job.describe, self._lock)}

    def describe_source_servers(self, region: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        filters = filters or {}
        wanted = set(filters.get("sourceServerIDs") or [])
        hardware = filters.get("hardwareId")
        now = self.clock.now()
        servers = [
            server
            for (server_region, server_id), server in sorted(self.servers.items())
            if server_region == region
            and server.account == self._account
            and (not wanted or server_id in wanted)
            and (hardware is None or hardware == server.spec.hostname)
        ]
        return {"items": Rendered(servers, lambda server: server.describe(now), self._lock)}

    def describe_recovery_instances(self, region: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        filters = filters or {}
        wanted = set(filters.get("recoveryInstanceIDs") or [])
        sources = set(filters.get("sourceServerIDs") or [])
        instances = [
            instance
            for instance in sorted(self.instances.values(), key=lambda i: i.id)
            if instance.region == region
            and instance.account == self._account
            and (not wanted or instance.id in wanted)
            and (not sources or instance.source_server_id in sources)
        ]
        return {"items": [instance.describe() for instance in instances]}

    def describe_recovery_snapshots(
        self,
        region: str,
        sourceServerID: str,
        filters: dict[str, Any] | None = None,
        order: str = "ASC",
    ) -> dict[str, Any]:
        """Point-in-time snapshots, computed on demand: one every 10 minutes of the last 24 h up to now - lag."""
        server = self._server(region, sourceServerID)
        filters = filters or {}
        start = parse_iso8601(filters["fromDateTime"]) if filters.get("fromDateTime") else None
        end = parse_iso8601(filters["toDateTime"]) if filters.get("toDateTime") else None
        times = [
            at
            for at in self._snapshot_times(server, self.clock.now())
            if (start is None or at >= start) and (end is None or at <= end)
        ]
        if order == "DESC":
            times.reverse()
        return {"items": [self._snapshot(server, at) for at in times]}

    def get_launch_configuration(self, region: str, sourceServerID: str) -> dict[str, Any]:
        """The server's launch settings: its EC2 launch template (drsctl/emulator/launch.py) and DRS's defaults."""
        server = self._server(region, sourceServerID)
        template = self.launch.template_of[(region, server.id)]
        return {
            "sourceServerID": server.id,
            "name": server.spec.hostname,
            "ec2LaunchTemplateID": template.id,
            "launchDisposition": "STARTED",
            "targetInstanceTypeRightSizingMethod": "NONE",
            "copyPrivateIp": False,
            "copyTags": False,
            "licensing": {"osByol": False},
            "postLaunchEnabled": server.spec.postLaunch is not None,
        }

    def list_launch_actions(
        self, region: str, resourceId: str, filters: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The post-launch actions configured for a source server: one for a server with `postLaunch` (whether or
        not DRS will ever discover its SSM agent), none otherwise."""
        if resourceId.startswith("lct-"):
            raise ResourceNotFoundException(
                f"Launch configuration template {resourceId} not found in {region} (the emulator has none: list a "
                "source server's actions instead)",
                resourceId=resourceId,
                resourceType="LAUNCH_CONFIGURATION_TEMPLATE",
            )
        server = self._server(region, resourceId)
        actions = [post_launch_action(self._post_launch_action_id())] if server.spec.postLaunch is not None else []
        wanted = set((filters or {}).get("actionIds") or [])
        return {"items": [action for action in actions if not wanted or action["actionId"] in wanted]}

    def describe_job_log_items(self, region: str, jobID: str) -> dict[str, Any]:
        job = self.jobs.get(jobID)
        # The model lists no ResourceNotFoundException here: an unknown job has no log items.
        items = job.log if job is not None and job.region == region and job.account == self._account else []
        return {"items": [dict(item) for item in items]}

    def tag_resource(self, region: str, resourceArn: str, tags: dict[str, str]) -> dict[str, Any]:
        self._tags_of(resourceArn).update(tags)
        return {}

    def untag_resource(self, region: str, resourceArn: str, tagKeys: list[str]) -> dict[str, Any]:
        resource_tags = self._tags_of(resourceArn)
        for key in tagKeys:
            resource_tags.pop(key, None)
        return {}

    def list_tags_for_resource(self, region: str, resourceArn: str) -> dict[str, Any]:
        return {"tags": dict(self._tags_of(resourceArn))}

    # -- the launch lifecycle -----------------------------------------------------------------------------------

    def _schedule_launch(self, job: Job, server: SourceServer, recovery_point: float | None) -> None:
        """Lay out one server's launch on the clock: snapshot, preparation, conversion, launch."""
        timing = self._timing(server, bool(job.is_drill))
        rng = random.Random(f"{self.scenario.seed}:{job.id}:{server.id}")
        snapshot_end = job.created_at + self._jittered(timing.snapshot, rng)
        conversion_start = snapshot_end + self._jittered(timing.preparation, rng)
        conversion_end = conversion_start + self._jittered(timing.conversion, rng)
        launch_end = conversion_end + self._jittered(timing.launch, rng)
        conversion_server = self._instance_id()
        self._log(job, job.created_at, "SNAPSHOT_START", server.id)
        self._at(snapshot_end, lambda at: self._snapshot_taken(job, server, at))
        self._at(
            conversion_start,
            lambda at: self._log(job, at, "CONVERSION_START", server.id, conversionServerID=conversion_server),
        )
        self._at(conversion_end, lambda at: self._launch_started(job, server, at))
        if "stuck" in server.spec.faults:
            return  # never leaves IN_PROGRESS, so the job never completes: the case a wave timeout exists for
        if "job_ends_without_launch" in server.spec.faults:
            self._at(launch_end, lambda at: self._launch_abandoned(job, server, at))
        elif "launch_failure" in server.spec.faults:
            self._at(launch_end, lambda at: self._launch_failed(job, server, at))
        else:
            point_in_time = snapshot_end if recovery_point is None else recovery_point
            self._at(launch_end, lambda at: self._launched(job, server, point_in_time, at))

    def _snapshot_taken(self, job: Job, server: SourceServer, at: float) -> None:
        self._log(job, at, "SNAPSHOT_END", server.id)
        self._mark_started(job)

    def _launch_started(self, job: Job, server: SourceServer, at: float) -> None:
        self._log(job, at, "CONVERSION_END", server.id)
        self._log(job, at, "LAUNCH_START", server.id)
        job.participant(server.id).launch_status = "IN_PROGRESS"
        self._set_last_launch_status(server, job, "IN_PROGRESS")

    def _launched(self, job: Job, server: SourceServer, snapshot_at: float, at: float) -> None:
        instance_id = self._instance_id()
        previous = self.instances.pop(server.recovery_instance_id or "", None)
        if previous is not None:
            previous.state = "TERMINATED"  # a new launch replaces the server's previous recovery instance
            previous.terminated_at = at
        instance = RecoveryInstance(
            id=instance_id,
            arn=self._arn(job.region, "recovery-instance", instance_id, job.account),
            region=job.region,
            account=job.account,
            source_server_id=server.id,
            job_id=job.id,
            is_drill=bool(job.is_drill),
            snapshot_at=snapshot_at,
            launched_at=at,
            instance_status=server.spec.instanceStatus,
        )
        self.instances[instance_id] = instance
        self.ec2_instances[instance_id] = instance
        participant = job.participant(server.id)
        if server.spec.postLaunch is not None and server.spec.postLaunch.agentDiscovered:
            # agentDiscovered false: configured, but DRS never finds the SSM agent, so it never runs the action
            self._start_post_launch(job, participant, server.spec.postLaunch, at)
        participant.launch_status = "LAUNCHED"
        participant.ended_at = at
        participant.recovery_instance_id = instance_id
        server.recovery_instance_id = instance_id
        server.last_launch_result = "SUCCEEDED"
        self._set_last_launch_status(server, job, "LAUNCHED")
        self._finish_if_done(job, at)

    def _start_post_launch(self, job: Job, participant: Participant, spec: PostLaunch, at: float) -> None:
        """postLaunch: the action runs from the launch for `spec.seconds`, then ends with `spec.result`."""
        seed = f"{self.scenario.seed}:{job.id}:{participant.source_server_id}"
        run = LaunchActionRun(
            action_id=self._post_launch_action_id(),
            run_id=str(uuid.UUID(hashlib.md5(seed.encode()).hexdigest())),  # noqa: S324 - an ID, not security
            discovered_at=at,
        )
        participant.post_launch = run

        def finish(_: float) -> None:
            run.status = spec.result

        self._at(at + spec.seconds, finish)

    def _post_launch_action_id(self) -> str:
        """The configured action's ID: one per scenario (every server with postLaunch has the same action)."""
        return str(uuid.UUID(hashlib.md5(f"{self.scenario.seed}:action".encode()).hexdigest()))  # noqa: S324

    def _launch_failed(self, job: Job, server: SourceServer, at: float) -> None:
        self._log(job, at, "LAUNCH_FAILED", server.id, rawError="Failed to launch recovery instance")
        job.participant(server.id).launch_status = "FAILED"
        job.participant(server.id).ended_at = at
        server.last_launch_result = "FAILED"
        self._set_last_launch_status(server, job, "FAILED")
        self._finish_if_done(job, at)

    def _launch_abandoned(self, job: Job, server: SourceServer, at: float) -> None:
        """job_ends_without_launch: the launch stays IN_PROGRESS, but it no longer keeps its job from completing."""
        job.participant(server.id).settled = True
        self._finish_if_done(job, at)

    def _terminated(self, job: Job, instance: RecoveryInstance, at: float) -> None:
        self._log(job, at, "CLEANUP_END", instance.source_server_id, targetInstanceID=instance.id)
        instance.state = "TERMINATED"
        instance.terminated_at = at
        self.instances.pop(instance.id, None)
        job.participant(instance.source_server_id).launch_status = "TERMINATED"
        job.participant(instance.source_server_id).ended_at = at
        server = self.servers.get((instance.region, instance.source_server_id))
        if server is not None and server.recovery_instance_id == instance.id:
            server.recovery_instance_id = None
            if server.last_launch is not None:
                server.last_launch["status"] = "TERMINATED"
        self._finish_if_done(job, at)

    def _mark_started(self, job: Job) -> None:
        if job.status == "PENDING":
            job.status = "STARTED"

    def _finish_if_done(self, job: Job, at: float) -> None:
        if job.active and all(p.launch_status in FINAL_LAUNCH_STATUSES or p.settled for p in job.participants):
            job.status = "COMPLETED"
            job.ended_at = at
            self._log(job, job.ended_at, "JOB_END")

    def _set_last_launch_status(self, server: SourceServer, job: Job, status: str) -> None:
        if server.last_launch is not None and server.last_launch["initiated"]["jobID"] == job.id:
            server.last_launch["status"] = status

    # -- other tools' jobs --------------------------------------------------------------------------------------

    def _external_job_started(self, index: int, spec: ExternalJob, at: float) -> None:
        """externalJobs: another tool's drill, already launching, on servers that are none of the scenario's."""
        rng = random.Random(f"{self.scenario.seed}:external:{index}")  # its own IDs: ours stay as without it
        participants = [Participant(server_id, launch_status="IN_PROGRESS") for server_id in self._synthetic(rng, spec)]
        job_id = "drsjob-" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(17))
        job = self._new_job(
            self.scenario.region_of(spec),
            "LAUNCH",
            "START_DRILL",
            participants,
            dict(spec.tags),
            at=at,
            job_id=job_id,
            account=self.scenario.account_of(spec),
        )
        job.is_drill = True
        job.status = "STARTED"
        self._at(at + spec.seconds, partial(self._external_job_ended, job))

    def _external_job_ended(self, job: Job, at: float) -> None:
        for participant in job.participants:
            participant.launch_status = "LAUNCHED"
            participant.ended_at = at
        self._finish_if_done(job, at)

    def _synthetic(self, rng: random.Random, spec: ExternalJob) -> list[str]:
        """Valid source server IDs that no scenario server (in any region) and no other external job uses."""
        taken = {server_id for (_, server_id) in self.servers} | self._synthetic_ids
        ids: list[str] = []
        while len(ids) < spec.servers:
            candidate = "s-" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(17))
            if candidate not in taken:
                taken.add(candidate)
                ids.append(candidate)
        self._synthetic_ids.update(ids)
        return ids

    # -- recovery snapshots -------------------------------------------------------------------------------------

    def _snapshot_times(self, server: SourceServer, now: float) -> list[float]:
        """Every 10 minutes on the epoch grid, newer than 24 h ago, up to now - lag, oldest first."""
        newest = math.floor((now - server.spec.lag) / SNAPSHOT_INTERVAL)
        oldest = max(
            math.floor((now - SNAPSHOT_RETENTION) / SNAPSHOT_INTERVAL) + 1,
            math.ceil(server.added_at / SNAPSHOT_INTERVAL),
        )
        return [float(step * SNAPSHOT_INTERVAL) for step in range(oldest, newest + 1)]

    def _snapshot_time(self, server: SourceServer, snapshot_id: str) -> float:
        """When the server's recovery snapshot `snapshot_id` was taken (one it still keeps), else
        ResourceNotFoundException."""
        for at in self._snapshot_times(server, self.clock.now()):
            if self._snapshot(server, at)["snapshotID"] == snapshot_id:
                return at
        raise ResourceNotFoundException(
            f"Recovery snapshot {snapshot_id} of source server {server.id} not found",
            resourceId=snapshot_id,
            resourceType="RECOVERY_SNAPSHOT",
        )

    def _newest_snapshot_at(self, server: SourceServer, now: float) -> float:
        return float(math.floor((now - server.spec.lag) / SNAPSHOT_INTERVAL) * SNAPSHOT_INTERVAL)

    def _snapshot(self, server: SourceServer, at: float) -> dict[str, Any]:
        """One recovery snapshot; its IDs derive from the seed, the server and the time, so they are stable."""
        digest = hashlib.sha256(f"{self.scenario.seed}:{server.region}:{server.id}:{int(at)}".encode()).hexdigest()
        return {
            "snapshotID": "pit-" + digest[:17],
            "sourceServerID": server.id,
            "expectedTimestamp": iso8601(at),
            "timestamp": iso8601(at),
            "ebsSnapshots": ["snap-" + digest[17:34]],
        }

    # -- checks -------------------------------------------------------------------------------------------------

    def _server(self, region: str, server_id: str) -> SourceServer:
        """A source server of the calling account (another account's servers are not there for it)."""
        server = self.servers.get((region, server_id))
        if server is not None and server.account != self._account:
            server = None
        if server is None:
            elsewhere = sorted(
                r for (r, s), found in self.servers.items() if s == server_id and found.account == self._account
            )
            hint = f" (it is in {', '.join(elsewhere)})" if elsewhere else ""
            raise ResourceNotFoundException(
                f"Source server {server_id} not found in {region}{hint}",
                resourceId=server_id,
                resourceType="SOURCE_SERVER",
            )
        return server

    def _check_not_busy(self, server: SourceServer) -> None:
        if server.conflicts_left > 0:
            server.conflicts_left -= 1
            raise ConflictException(
                f"Source server {server.id} is being processed by another operation",
                resourceId=server.id,
                resourceType="SOURCE_SERVER",
            )
        for job in self.jobs.values():
            launching = (
                job.active and job.region == server.region and job.account == server.account and job.type == "LAUNCH"
            )
            if launching and any(p.source_server_id == server.id for p in job.participants):
                raise ConflictException(
                    f"Source server {server.id} is already part of active job {job.id}",
                    resourceId=server.id,
                    resourceType="SOURCE_SERVER",
                )

    def _check_job_quotas(self, region: str, new_servers: int) -> None:
        """The calling account's job quotas in `region`."""
        quotas = self.scenario.quotas_of(self._account)
        active = [
            job for job in self.jobs.values() if job.active and job.region == region and job.account == self._account
        ]
        if len(active) >= quotas.maxConcurrentJobs:
            raise ServiceQuotaExceededException(
                f"{len(active)} jobs are active in {region}; the quota is {quotas.maxConcurrentJobs} concurrent jobs",
                resourceType="Job",
                serviceCode="drs",
                quotaCode="MaxConcurrentJobs",
            )
        busy = sum(len(job.participants) for job in active if job.type == "LAUNCH")
        if busy + new_servers > quotas.maxServersInActiveJobs:
            raise ServiceQuotaExceededException(
                f"{busy} servers are in active jobs in {region}; {new_servers} more would exceed the quota of "
                f"{quotas.maxServersInActiveJobs}",
                resourceType="Job",
                serviceCode="drs",
                quotaCode="MaxServersInAllActiveJobs",
            )

    def _take_fault(
        self, operation: str, now: float, *, exact: bool = False, account: str | None = None
    ) -> _PendingFault | None:
        """Window faults first (the first whose window holds `now`), then count faults in list order. `exact`: only
        faults naming the operation (`*` stands for DRS operations, not EC2's). Only faults of the calling account
        (or of every account) apply."""
        account = account or self._account
        for fault in self._faults:
            applies = (
                (fault.operation == operation and fault.account in (None, account))
                if exact
                else (fault.applies_to(operation, account))
            )
            if fault.window is not None and applies and fault.window[0] <= now < fault.window[1]:
                return fault
        for fault in self._faults:
            applies = (
                (fault.operation == operation and fault.account in (None, account))
                if exact
                else (fault.applies_to(operation, account))
            )
            if fault.window is None and applies and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None

    def _tags_of(self, arn: str) -> dict[str, str]:
        resources: list[Any] = [*self.jobs.values(), *self.servers.values(), *self.instances.values()]
        for resource in resources:
            if resource.arn == arn and resource.account == self._account:
                tags: dict[str, str] = resource.tags
                return tags
        raise ResourceNotFoundException(f"No DRS resource with ARN {arn}", resourceId=arn)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _new_job(
        self,
        region: str,
        job_type: str,
        initiated_by: str,
        participants: list[Participant],
        tags: dict[str, str],
        *,
        at: float | None = None,
        job_id: str | None = None,
        account: str | None = None,
    ) -> Job:
        job_id = job_id or "drsjob-" + self._random_chars(string.ascii_letters + string.digits, 17)
        account = account or self._account
        job = Job(
            id=job_id,
            arn=self._arn(region, "job", job_id, account),
            region=region,
            account=account,
            type=job_type,
            initiated_by=initiated_by,
            created_at=self.clock.now() if at is None else at,
            sequence=next(self._sequence),
            tags=tags,
            participants=participants,
        )
        self.jobs[job_id] = job
        self._log(job, job.created_at, "JOB_START")
        return job

    def _timing(self, server: SourceServer, is_drill: bool) -> PhaseTiming:
        base = self.scenario.timing.drill if is_drill else self.scenario.timing.recovery
        return base.merged(server.spec.timing)

    def _jittered(self, seconds: float, rng: random.Random) -> float:
        spread = self.scenario.timing.jitter
        return seconds * rng.uniform(1 - spread, 1 + spread)

    def _at(self, when: float, action: Callable[[float], None]) -> None:
        heapq.heappush(self._events, _Event(when, next(self._sequence), action))

    def _log(self, job: Job, at: float, event: str, source_server_id: str | None = None, **data: str) -> None:
        event_data = {"sourceServerID": source_server_id, **data} if source_server_id else dict(data)
        item: dict[str, Any] = {"logDateTime": iso8601(at), "event": event}
        if event_data:
            item["eventData"] = event_data
        job.log.append(item)

    def request_id(self) -> str:
        """The RequestId of one answer, from the scenario's seed."""
        with self._lock:
            return str(uuid.UUID(int=self._request_ids.getrandbits(128), version=4))

    def _instance_id(self) -> str:
        return "i-" + self._random_chars("0123456789abcdef", 17)

    def _random_chars(self, alphabet: str, length: int) -> str:
        return "".join(self._ids.choice(alphabet) for _ in range(length))

    def _arn(self, region: str, kind: str, resource_id: str, account: str) -> str:
        return f"arn:aws:drs:{region}:{account}:{kind}/{resource_id}"


def _fault_error(
    error_name: str, operation: str, message: str | None = None, quota_code: str | None = None
) -> DrsError:
    message = message or f"Injected fault: {error_name} on {operation} (scenario faults)"
    if error_name == "ThrottlingException":
        return ThrottlingException(message, retryAfterSeconds="1", serviceCode="drs")
    if error_name == "ServiceQuotaExceededException":
        return ServiceQuotaExceededException(message, serviceCode="drs", quotaCode=quota_code)
    return ERRORS_BY_NAME[error_name](message)


def iso8601_duration(seconds: float) -> str:
    """An ISO-8601 duration in the form java.time.Duration prints: PT0S, PT45S, PT1H30M, PT26H3M4.25S.

    Hours are not folded into days (a day is not always 24 h), zero parts are left out, seconds keep milliseconds.
    """
    millis = round(seconds * 1000)
    if millis <= 0:
        return "PT0S"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    parts = []
    if hours:
        parts.append(f"{hours}H")
    if minutes:
        parts.append(f"{minutes}M")
    if millis:
        whole, fraction = divmod(millis, 1000)
        parts.append(f"{whole}.{fraction:03d}".rstrip("0") + "S" if fraction else f"{whole}S")
    return "PT" + "".join(parts)
