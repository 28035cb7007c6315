"""Every call to Amazon EC2 goes through this module: the status checks of the recovery instances DRS launched.

Clients are cached per (region, endpoint) like the DRS ones (lambdas/core/drs.py), with the same read config, so a
call's worst case stays far inside the calling function's timeout; throttling that outlasts the SDK's own retries is
the workflow's to absorb (a missed health check), not the Lambda's to sleep through.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import boto3
from botocore.exceptions import ClientError

from lambdas.core.batches import batched
from lambdas.core.drs import READ_CONFIG

# DescribeInstanceStatus takes at most 100 InstanceIds per call (EC2 API reference: "Constraints: Maximum 100
# explicitly specified instance IDs").
INSTANCE_IDS_MAX = 100
NOT_FOUND = "InvalidInstanceID.NotFound"

_clients: dict[tuple[str, str | None], Any] = {}


def _client(region: str) -> Any:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_EC2")
    key = (region, endpoint)
    if key not in _clients:
        if any(known[-1] != endpoint for known in _clients):
            _clients.clear()  # a new endpoint: the old clients point at nothing (as in drs.py)
        _clients[key] = boto3.client("ec2", region_name=region, config=READ_CONFIG)
    return _clients[key]


def instance_statuses(region: str, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Instance ID -> its InstanceStatus item, for every given instance EC2 still knows (stopped and terminated ones
    included); an instance EC2 does not know is absent from the answer."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in batched(list(dict.fromkeys(instance_ids)), INSTANCE_IDS_MAX):
        try:
            found.update(_describe(region, chunk))
        except ClientError as error:
            # One unknown ID fails the whole call; ask for each of the chunk's instances alone to tell which.
            if error.response.get("Error", {}).get("Code") != NOT_FOUND:
                raise
            for instance_id in chunk:
                try:
                    found.update(_describe(region, [instance_id]))
                except ClientError as alone:
                    if alone.response.get("Error", {}).get("Code") != NOT_FOUND:
                        raise
    return found


def _describe(region: str, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    paginator = _client(region).get_paginator("describe_instance_status")
    return {
        item["InstanceId"]: item
        for page in paginator.paginate(InstanceIds=instance_ids, IncludeAllInstances=True)
        for item in page.get("InstanceStatuses", [])
    }
