"""Every call to Amazon EC2 goes through this module: the status checks of the recovery instances DRS launched.

Clients come from lambdas/core/accounts.py like the DRS ones (lambdas/core/drs.py), with the same read config, so a
call's worst case stays far inside the calling function's timeout; throttling that outlasts the SDK's own retries is
the workflow's to absorb (a missed health check), not the Lambda's to sleep through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdas.core import accounts
from lambdas.core.accounts import Target
from lambdas.core.batches import batched
from lambdas.core.drs import READ_CONFIG

# DescribeInstanceStatus takes at most 100 InstanceIds per call (EC2 API reference: "Constraints: Maximum 100
# explicitly specified instance IDs").
INSTANCE_IDS_MAX = 100
NOT_FOUND = "InvalidInstanceID.NotFound"


def _client(where: Target) -> Any:
    return accounts.client("ec2", where, READ_CONFIG)


def instance_statuses(where: Target, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Instance ID -> its InstanceStatus item, for every given instance EC2 still knows (stopped and terminated ones
    included); an instance EC2 does not know is absent from the answer."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in batched(list(dict.fromkeys(instance_ids)), INSTANCE_IDS_MAX):
        try:
            found.update(_describe(where, chunk))
        except ClientError as error:
            # One unknown ID fails the whole call; ask for each of the chunk's instances alone to tell which.
            if error.response.get("Error", {}).get("Code") != NOT_FOUND:
                raise
            for instance_id in chunk:
                try:
                    found.update(_describe(where, [instance_id]))
                except ClientError as alone:
                    if alone.response.get("Error", {}).get("Code") != NOT_FOUND:
                        raise
    return found


def _describe(where: Target, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    paginator = _client(where).get_paginator("describe_instance_status")
    return {
        item["InstanceId"]: item
        for page in paginator.paginate(InstanceIds=instance_ids, IncludeAllInstances=True)
        for item in page.get("InstanceStatuses", [])
    }
