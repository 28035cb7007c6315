"""The behaviour of DRS, in memory, on an injected clock: source servers, jobs, recovery instances, quotas, faults.

Nothing here knows about HTTP. Every public operation takes plain request members (as the protocol layer parsed and
validated them) and returns plain response members. Time-driven changes (a snapshot ending, a launch finishing) are
scheduled events, applied in time order whenever anyone calls in, so the state a client sees is a pure function of
the scenario, the calls made and the clock: a rehearsal on a virtual clock replays identically.
"""

from __future__ import annotations

import heapq
import itertools
import random
import string
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
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
    ValidationException,
)
from drsctl.emulator.scenario import ConflictFault, PhaseTiming, Scenario, ServerSpec

ACTIVE = ("PENDING", "STARTED")
FINAL_LAUNCH_STATUSES = ("LAUNCHED", "FAILED", "TERMINATED")


@dataclass
class SourceServer:
    spec: ServerSpec
    region: str
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

    def describe(self, now: float, account_id: str) -> dict[str, Any]:
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
                "lagDuration": "PT0S" if self.spec.replication == "CONTINUOUS" else "PT1H",
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
            "sourceCloudProperties": {"originRegion": self.region, "originAccountID": account_id},
            "replicationDirection": "FAILOVER",
        }


@dataclass
class Participant:
    source_server_id: str
    recovery_instance_id: str | None = None
    launch_status: str = "PENDING"
    ended_at: float | None = None  # when it reached a final launch status (for the rehearsal's figures)

    def describe(self) -> dict[str, Any]:
        return {
            "sourceServerID": self.source_server_id,
            "recoveryInstanceID": self.recovery_instance_id,
            "launchStatus": self.launch_status,
            "launchActionsStatus": {"runs": []},
        }


@dataclass
class Job:
    id: str
    arn: str
    region: str
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
    source_server_id: str
    job_id: str
    is_drill: bool
    snapshot_at: float
    tags: dict[str, str] = field(default_factory=dict)
    state: str = "RUNNING"

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
    operation: str
    error: str
    remaining: int


@dataclass(order=True)
class _Event:
    at: float
    sequence: int
    action: Callable[[float], None] = field(compare=False)  # called with the time it was due


class DrsEmulator:
    """One DRS account, every region. Thread-safe: one lock serialises every call and every scheduled change."""

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self._lock = threading.RLock()
        self._ids = random.Random(scenario.seed)
        self._sequence = itertools.count()
        self._events: list[_Event] = []
        self._faults = [_PendingFault(fault.operation, fault.error, fault.count) for fault in scenario.faults]
        self.calls: Counter[str] = Counter()
        self.servers: dict[tuple[str, str], SourceServer] = {}
        self.jobs: dict[str, Job] = {}
        self.instances: dict[str, RecoveryInstance] = {}
        now = clock.now()
        for spec in scenario.servers:
            region = scenario.region_of(spec)
            conflicts = sum(f.conflict for f in spec.faults if isinstance(f, ConflictFault))
            self.servers[(region, spec.id)] = SourceServer(
                spec=spec,
                region=region,
                arn=self._arn(region, "source-server", spec.id),
                added_at=now - 30 * 86_400,
                tags=dict(spec.tags),
                conflicts_left=conflicts,
            )

    # -- entry point --------------------------------------------------------------------------------------------

    def invoke(self, operation: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one operation: apply due events, inject any scheduled fault, then do the work."""
        with self._lock:
            self.calls[operation] += 1
            self.advance()
            fault = self._take_fault(operation)
            if fault is not None and fault != "drop_response":
                raise _fault_error(fault, operation)
            handler: Callable[..., dict[str, Any]] = getattr(self, xform_name(operation))
            result = handler(region, **params)
            if fault == "drop_response":
                raise DropResponse(operation)
            return result

    def advance(self) -> None:
        """Apply every scheduled change that is due at the clock's current time, in time order."""
        with self._lock:
            now = self.clock.now()
            while self._events and self._events[0].at <= now:
                event = heapq.heappop(self._events)
                event.action(event.at)

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
        quotas = self.scenario.quotas
        if len(ids) > quotas.maxServersPerJob:
            raise ServiceQuotaExceededException(
                f"A job can include at most {quotas.maxServersPerJob} source servers; this request has {len(ids)}",
                resourceType="Job",
                serviceCode="drs",
                quotaCode="MaxServersPerJob",
            )
        servers = [self._server(region, server_id) for server_id in ids]
        for server in servers:
            self._check_not_busy(server)
        self._check_job_quotas(region, len(servers))
        kind = "START_DRILL" if isDrill else "START_RECOVERY"
        job = self._new_job(region, "LAUNCH", kind, [Participant(s.id) for s in servers], dict(tags or {}))
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
            self._schedule_launch(job, server)
        return {"job": job.describe()}

    def terminate_recovery_instances(self, region: str, recoveryInstanceIDs: list[str]) -> dict[str, Any]:
        instances = []
        for instance_id in recoveryInstanceIDs:
            instance = self.instances.get(instance_id)
            if instance is None or instance.region != region:
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
            and (not wanted or job.id in wanted)
            and (start is None or job.created_at >= start)
            and (end is None or job.created_at <= end)
        ]
        jobs.sort(key=lambda job: (job.created_at, job.sequence), reverse=True)  # newest first, as DRS does
        return {"items": [job.describe() for job in jobs]}

    def describe_source_servers(self, region: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        filters = filters or {}
        wanted = set(filters.get("sourceServerIDs") or [])
        hardware = filters.get("hardwareId")
        now = self.clock.now()
        servers = [
            server
            for (server_region, server_id), server in sorted(self.servers.items())
            if server_region == region
            and (not wanted or server_id in wanted)
            and (hardware is None or hardware == server.spec.hostname)
        ]
        return {"items": [server.describe(now, self.scenario.accountId) for server in servers]}

    def describe_recovery_instances(self, region: str, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        filters = filters or {}
        wanted = set(filters.get("recoveryInstanceIDs") or [])
        sources = set(filters.get("sourceServerIDs") or [])
        instances = [
            instance
            for instance in sorted(self.instances.values(), key=lambda i: i.id)
            if instance.region == region
            and (not wanted or instance.id in wanted)
            and (not sources or instance.source_server_id in sources)
        ]
        return {"items": [instance.describe() for instance in instances]}

    def describe_job_log_items(self, region: str, jobID: str) -> dict[str, Any]:
        job = self.jobs.get(jobID)
        # The model lists no ResourceNotFoundException here: an unknown job has no log items.
        items = job.log if job is not None and job.region == region else []
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

    def _schedule_launch(self, job: Job, server: SourceServer) -> None:
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
        if "launch_failure" in server.spec.faults:
            self._at(launch_end, lambda at: self._launch_failed(job, server, at))
        else:
            self._at(launch_end, lambda at: self._launched(job, server, snapshot_end, at))

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
        self.instances[instance_id] = RecoveryInstance(
            id=instance_id,
            arn=self._arn(job.region, "recovery-instance", instance_id),
            region=job.region,
            source_server_id=server.id,
            job_id=job.id,
            is_drill=bool(job.is_drill),
            snapshot_at=snapshot_at,
        )
        participant = job.participant(server.id)
        participant.launch_status = "LAUNCHED"
        participant.ended_at = at
        participant.recovery_instance_id = instance_id
        server.recovery_instance_id = instance_id
        server.last_launch_result = "SUCCEEDED"
        self._set_last_launch_status(server, job, "LAUNCHED")
        self._finish_if_done(job, at)

    def _launch_failed(self, job: Job, server: SourceServer, at: float) -> None:
        self._log(job, at, "LAUNCH_FAILED", server.id, rawError="Failed to launch recovery instance")
        job.participant(server.id).launch_status = "FAILED"
        job.participant(server.id).ended_at = at
        server.last_launch_result = "FAILED"
        self._set_last_launch_status(server, job, "FAILED")
        self._finish_if_done(job, at)

    def _terminated(self, job: Job, instance: RecoveryInstance, at: float) -> None:
        self._log(job, at, "CLEANUP_END", instance.source_server_id, targetInstanceID=instance.id)
        instance.state = "TERMINATED"
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
        if all(p.launch_status in FINAL_LAUNCH_STATUSES for p in job.participants):
            job.status = "COMPLETED"
            job.ended_at = at
            self._log(job, job.ended_at, "JOB_END")

    def _set_last_launch_status(self, server: SourceServer, job: Job, status: str) -> None:
        if server.last_launch is not None and server.last_launch["initiated"]["jobID"] == job.id:
            server.last_launch["status"] = status

    # -- checks -------------------------------------------------------------------------------------------------

    def _server(self, region: str, server_id: str) -> SourceServer:
        server = self.servers.get((region, server_id))
        if server is None:
            elsewhere = sorted(r for (r, s) in self.servers if s == server_id)
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
            launching = job.active and job.region == server.region and job.type == "LAUNCH"
            if launching and any(p.source_server_id == server.id for p in job.participants):
                raise ConflictException(
                    f"Source server {server.id} is already part of active job {job.id}",
                    resourceId=server.id,
                    resourceType="SOURCE_SERVER",
                )

    def _check_job_quotas(self, region: str, new_servers: int) -> None:
        quotas = self.scenario.quotas
        active = [job for job in self.jobs.values() if job.active and job.region == region]
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

    def _take_fault(self, operation: str) -> str | None:
        for fault in self._faults:
            if fault.operation == operation and fault.remaining > 0:
                fault.remaining -= 1
                return fault.error
        return None

    def _tags_of(self, arn: str) -> dict[str, str]:
        resources: list[Any] = [*self.jobs.values(), *self.servers.values(), *self.instances.values()]
        for resource in resources:
            if resource.arn == arn:
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
    ) -> Job:
        job_id = "drsjob-" + self._random_chars(string.ascii_letters + string.digits, 17)
        job = Job(
            id=job_id,
            arn=self._arn(region, "job", job_id),
            region=region,
            type=job_type,
            initiated_by=initiated_by,
            created_at=self.clock.now(),
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

    def _instance_id(self) -> str:
        return "i-" + self._random_chars("0123456789abcdef", 17)

    def _random_chars(self, alphabet: str, length: int) -> str:
        return "".join(self._ids.choice(alphabet) for _ in range(length))

    def _arn(self, region: str, kind: str, resource_id: str) -> str:
        return f"arn:aws:drs:{region}:{self.scenario.accountId}:{kind}/{resource_id}"


def _fault_error(error_name: str, operation: str) -> DrsError:
    message = f"Injected fault: {error_name} on {operation} (scenario faults)"
    if error_name == "ThrottlingException":
        return ThrottlingException(message, retryAfterSeconds="1", serviceCode="drs")
    return ERRORS_BY_NAME[error_name](message)
