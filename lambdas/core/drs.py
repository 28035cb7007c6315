"""Every call to AWS Elastic Disaster Recovery goes through this module.

Each call names where it goes: a Target, (account, Region). lambdas/core/accounts.py gives the clients, cached per
account, Region and endpoint for the life of the Lambda container, with a member account's role credentials. Reads
use botocore's standard retry mode (throttling and transient errors retried with backoff by the SDK). StartRecovery
is not idempotent, so its client never retries on its own: a retry that follows a lost response could launch the
servers twice. The state machine retries it instead, where the execution record tells what was already started.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config

from lambdas.core import accounts
from lambdas.core.accounts import Target
from lambdas.core.batches import batched

# One call's worst case must stay far inside the calling function's timeout (a test sums them per function):
# reads 2 x (2 + 8) s + about 1 s of backoff; StartRecovery once, 2 + 15 s. Throttling that outlasts the SDK's own
# retries is the workflow's to absorb (a missed check, a later start attempt), not the Lambda's to sleep through.
READ_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 2}, connect_timeout=2, read_timeout=8)
START_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2, read_timeout=15)

# The DRS model's list limits (botocore drs service-2.json).
SOURCE_SERVER_FILTER_MAX = 200
JOB_FILTER_MAX = 1000
LAUNCH_ACTIONS_PAGE_MAX = 1000  # ListLaunchActions maxResults


def _client(where: Target, purpose: str) -> Any:
    return accounts.client("drs", where, START_CONFIG if purpose == "start" else READ_CONFIG, purpose)


def describe_source_servers(where: Target, server_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The given source servers (or all of them) in `where`; unknown IDs are simply absent."""
    if server_ids is None:
        paginator = _client(where, "read").get_paginator("describe_source_servers")
        return [item for page in paginator.paginate(filters={}) for item in page["items"]]
    return _filtered(where, "describe_source_servers", "sourceServerIDs", server_ids, SOURCE_SERVER_FILTER_MAX)


def servers_with_tags(where: Target, tags: dict[str, str]) -> list[dict[str, Any]]:
    """Source servers whose tags include every key/value pair in `tags` (DRS has no server-side tag filter)."""
    return [
        server
        for server in describe_source_servers(where)
        if all(server.get("tags", {}).get(key) == value for key, value in tags.items())
    ]


def start_recovery(
    where: Target,
    server_ids: Sequence[str],
    is_drill: bool,
    tags: dict[str, str],
    snapshots: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One StartRecovery call for `server_ids` (at most the per-job quota). Returns the job. `snapshots`: the
    recovery snapshot to launch each server from (a point-in-time recovery); a server without one launches from its
    latest recovery point."""
    chosen = snapshots or {}
    response = _client(where, "start").start_recovery(
        sourceServers=[
            {"sourceServerID": server_id, **({"recoverySnapshotID": chosen[server_id]} if server_id in chosen else {})}
            for server_id in server_ids
        ],
        isDrill=is_drill,
        tags=tags,
    )
    job: dict[str, Any] = response["job"]
    return job


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jobs_since(where: Target, since: float) -> list[dict[str, Any]]:
    """Every job created in `where` since `since` (epoch seconds), by any tool, newest first."""
    paginator = _client(where, "read").get_paginator("describe_jobs")
    return [job for page in paginator.paginate(filters={"fromDate": _iso(since)}) for job in page["items"]]


def jobs_tagged(where: Target, tags: dict[str, str], since: float) -> list[dict[str, Any]]:
    """The jobs created since `since` that carry all of `tags`: how an execution finds every job it started, even
    one whose StartRecovery answer was lost. DescribeJobs cannot filter by tag, so this pages through the time
    window (newest first) and filters here."""
    return [
        job
        for job in jobs_since(where, since)
        if all(job.get("tags", {}).get(key) == value for key, value in tags.items())
    ]


def find_job(where: Target, tags: dict[str, str], since: float) -> dict[str, Any] | None:
    """The job created since `since` (epoch seconds) that carries all of `tags`, if DRS has one."""
    found = jobs_tagged(where, tags, since)
    return found[0] if found else None


def latest_snapshot_time(where: Target, server_id: str) -> str | None:
    """When the newest recovery snapshot of a server was taken (ISO 8601), or None if it has none."""
    response = _client(where, "read").describe_recovery_snapshots(sourceServerID=server_id, order="DESC", maxResults=1)
    items = response.get("items", [])
    return str(items[0].get("timestamp") or items[0].get("expectedTimestamp")) if items else None


def list_launch_actions(where: Target, resource_id: str) -> list[dict[str, Any]]:
    """Every post-launch action configured for a source server (or launch configuration template) in `where`:
    one page of up to the model's 1,000, more than the 200 actions DRS allows per resource."""
    paginator = _client(where, "read").get_paginator("list_launch_actions")
    pages = paginator.paginate(resourceId=resource_id, PaginationConfig={"PageSize": LAUNCH_ACTIONS_PAGE_MAX})
    return [action for page in pages for action in page["items"]]


def snapshot_at_or_before(where: Target, server_id: str, point_in_time: float) -> tuple[str, float] | None:
    """The newest recovery snapshot of a server taken at or before `point_in_time` (epoch seconds): (its ID, when
    it was taken), or None when it has none that old. One DescribeRecoverySnapshots call, newest first, ending at
    the point in time."""
    response = _client(where, "read").describe_recovery_snapshots(
        sourceServerID=server_id, filters={"toDateTime": _iso(point_in_time)}, order="DESC", maxResults=1
    )
    for item in response.get("items", []):
        taken = _epoch(str(item.get("timestamp") or item.get("expectedTimestamp")))
        if taken <= point_in_time:
            return str(item["snapshotID"]), taken
    return None


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def describe_jobs(where: Target, job_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The given jobs, in as few calls as the model allows (up to 1,000 IDs per call)."""
    return _filtered(where, "describe_jobs", "jobIDs", job_ids, JOB_FILTER_MAX)


def _filtered(where: Target, operation: str, key: str, ids: Sequence[str], most: int) -> list[dict[str, Any]]:
    """Every item of a paginated Describe* filtered by `key`, the IDs `most` per call."""
    paginator = _client(where, "read").get_paginator(operation)
    found: list[dict[str, Any]] = []
    for chunk in batched(ids, most):
        found.extend(item for page in paginator.paginate(filters={key: chunk}) for item in page["items"])
    return found


TERMINATE_MAX = 200  # recoveryInstanceIDs per TerminateRecoveryInstances (the DRS model's limit)


def describe_recovery_instances(where: Target, server_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The recovery instances of the given source servers in `where`."""
    return _filtered(where, "describe_recovery_instances", "sourceServerIDs", server_ids, SOURCE_SERVER_FILTER_MAX)


def terminate_recovery_instances(where: Target, instance_ids: Sequence[str]) -> dict[str, Any]:
    """One TerminateRecoveryInstances call (at most TERMINATE_MAX instances). Returns the TERMINATE job. Not retried
    by the SDK: the caller looks for the job it may have started before calling again."""
    response = _client(where, "start").terminate_recovery_instances(recoveryInstanceIDs=list(instance_ids))
    job: dict[str, Any] = response["job"]
    return job
