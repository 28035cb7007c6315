"""The point in time each launched server was recovered from, asked of DRS: the achieved RPO's other end.

DescribeRecoveryInstances gives each recovery instance's `pointInTimeSnapshotDateTime`. A drill's instances are gone
once cleaned up (TerminateRecoveryInstances): then the job's log says when the launch's own snapshot ended
(SNAPSHOT_END for the server), which is the point in time when DRS took a fresh snapshot (a replicating source).
When neither answers, the server's recovery point is unknown (null), never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from lambdas.core.accounts import Target
    from lambdas.core.records import WaveRecord

INSTANCE_FILTER_MAX = 200  # DescribeRecoveryInstances filters.recoveryInstanceIDs


@dataclass(frozen=True)
class Launched:
    """A server the execution launched: where (its account and Region), as which recovery instance, by which job."""

    target: Target
    source_server_id: str
    recovery_instance_id: str
    job_id: str | None


def launched(waves: list[WaveRecord]) -> list[Launched]:
    """The servers of these wave records that have a recovery instance."""
    return [
        Launched(wave.target_of(server), server.SourceServerId, server.InstanceId, server.RecoveryJobId)
        for wave in waves
        for server in wave.Servers
        if server.InstanceId
    ]


def iso8601(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat().replace("+00:00", "Z")


def epoch(value: Any) -> float | None:
    """DRS times are ISO 8601 strings on the wire (boto3 leaves them strings): epoch seconds, or None."""
    if isinstance(value, datetime):
        return value.timestamp()
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def recovery_points(
    launched: Iterable[Launched],
    drs_client: Callable[[Target], Any],
    unread: Callable[[Target, str, Exception], None] | None = None,
) -> dict[str, float]:
    """Source server ID -> epoch seconds of the point in time it was recovered from, for those DRS can tell; asked
    in each server's account and Region (`drs_client`). `unread`: told of each (account, Region) whose DRS could not
    be read (its servers' points stay unknown); without it, the error is raised."""
    by_target: dict[Target, list[Launched]] = {}
    for server in launched:
        by_target.setdefault(server.target, []).append(server)
    points: dict[str, float] = {}
    for target, servers in sorted(by_target.items()):
        try:
            client = drs_client(target)
            found = _from_instances(client, servers)
            missing = [server for server in servers if server.source_server_id not in found]
            found.update(_from_job_logs(client, missing))
        except (BotoCoreError, ClientError) as error:
            if unread is None:
                raise
            unread(target, "the servers' recovery points", error)
            continue
        points.update(found)
    return points


def _from_instances(client: Any, servers: list[Launched]) -> dict[str, float]:
    wanted = {server.recovery_instance_id: server.source_server_id for server in servers}
    ids = sorted(wanted)
    points: dict[str, float] = {}
    for start in range(0, len(ids), INSTANCE_FILTER_MAX):
        paginator = client.get_paginator("describe_recovery_instances")
        pages = paginator.paginate(filters={"recoveryInstanceIDs": ids[start : start + INSTANCE_FILTER_MAX]})
        for page in pages:
            for instance in page.get("items", []):
                point = epoch(instance.get("pointInTimeSnapshotDateTime"))
                server_id = wanted.get(instance.get("recoveryInstanceID", ""))
                if point is not None and server_id is not None:
                    points[server_id] = point
    return points


def _from_job_logs(client: Any, servers: list[Launched]) -> dict[str, float]:
    by_job: dict[str, set[str]] = {}
    for server in servers:
        if server.job_id:
            by_job.setdefault(server.job_id, set()).add(server.source_server_id)
    points: dict[str, float] = {}
    for job_id, server_ids in sorted(by_job.items()):
        for page in client.get_paginator("describe_job_log_items").paginate(jobID=job_id):
            for item in page.get("items", []):
                server_id = (item.get("eventData") or {}).get("sourceServerID")
                point = epoch(item.get("logDateTime"))
                if item.get("event") == "SNAPSHOT_END" and server_id in server_ids and point is not None:
                    points[server_id] = point
    return points
