"""Every AWS read readiness makes beyond the source server listing (lambdas/core/drs.py): DRS launch settings, the
EC2 things a launch needs (launch templates, subnets, security groups, instance type offerings and vCPUs, instances
running), IAM instance profiles and the Service Quotas vCPU quota.

Each call names where it goes, an account and a Region (`Where`), and gets its client from one function, `client`:
the stack's own account with the function's credentials, a member account with its member role's
(lambdas/core/accounts.py). The
calls are bounded for plans of 2,000 servers and more: one paginated listing per (account, Region) where the API
lists (launch template default versions, running instances), filters of at most FILTER_VALUES_MAX IDs per describe
(an unknown ID is then simply absent, where an ID parameter would fail the whole call), one GetLaunchConfiguration
per server (DRS has no batch form) on a few threads, one GetInstanceProfile per distinct profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas.core import accounts, explain
from lambdas.core.accounts import Target
from lambdas.core.aws_errors import classify
from lambdas.core.batches import batched

# Readiness runs on a schedule, not in a recovery's critical path: more attempts (adaptive: it slows down when
# throttled, as thousands of GetLaunchConfiguration calls may be), each still short.
CONFIG = Config(retries={"mode": "adaptive", "total_max_attempts": 6}, connect_timeout=2, read_timeout=10)
FILTER_VALUES_MAX = 100  # values per EC2 filter in one describe call
LAUNCH_CONFIG_THREADS = 8
VCPU_QUOTA_CODE = "L-1216C47A"  # Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances, in vCPUs
# The instance families that quota counts (the letters of an instance type before its generation digit).
STANDARD_FAMILIES = frozenset(["a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"])
NOT_FOUND_CODES = frozenset(["ResourceNotFoundException", "NoSuchEntity", "NoSuchResourceException"])


# An (account, Region): where a server, its launch settings and its capacity live.
Where = Target


def client(service: str, where: Where) -> Any:
    """A client of `service` in `where`'s Region with the credentials of `where`'s account: the stack's own, or its
    member role's (lambdas/core/accounts.py, cached per credentials and endpoint). A member role that cannot be
    assumed is a MemberAccountError naming the role and the fix."""
    reach(where)
    return accounts.client(service, where, CONFIG, purpose="readiness")


def reach(where: Where) -> None:
    """Assume `where`'s member role now (the stack's own account needs none): a role that cannot be assumed is a
    MemberAccountError naming the role and the fix; a transient STS error propagates."""
    try:
        accounts.check_role(where.account)
    except ClientError as error:
        failure = classify(error)
        if failure is None or failure.kind == "transient":
            raise
        raise MemberAccountError(where.account, failure.short()) from error


class MemberAccountError(Exception):
    """A member account cannot be reached from here: its role cannot be assumed. `reason` names the role and what
    STS answered, `fix` how to let the stack in."""

    def __init__(self, account: str, answer: str) -> None:
        self.reason = f"the member role {accounts.role_arn(account)} could not be assumed ({answer})"
        self.fix = explain.role_refused_fix(
            account, then="evaluate again (drsctl plan readiness PLAN_ID --now, or wait for the next evaluation)"
        )
        super().__init__(f"account {account}: {self.reason}")


def reset() -> None:
    """Forget the clients, credentials and the home account (a new emulator or a new moto was stood up)."""
    accounts.reset()


# -- DRS ---------------------------------------------------------------------------------------------------------


def launch_configurations(where: Where, server_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """Server ID -> its DRS launch configuration (GetLaunchConfiguration), None when DRS does not know the server.
    Other errors propagate."""
    drs = client("drs", where)

    def one(server_id: str) -> tuple[str, dict[str, Any] | None]:
        try:
            answer: dict[str, Any] = drs.get_launch_configuration(sourceServerID=server_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
                return server_id, None
            raise
        answer.pop("ResponseMetadata", None)
        return server_id, answer

    with ThreadPoolExecutor(max_workers=LAUNCH_CONFIG_THREADS) as pool:
        return dict(pool.map(one, list(dict.fromkeys(server_ids))))


def newest_snapshot_time(where: Where, server_id: str) -> str | None:
    """When the newest recovery snapshot of a server was taken (ISO 8601), or None if it has none."""
    answer = client("drs", where).describe_recovery_snapshots(sourceServerID=server_id, order="DESC", maxResults=1)
    items = answer.get("items", [])
    return str(items[0].get("timestamp") or items[0].get("expectedTimestamp")) if items else None


# -- EC2 ---------------------------------------------------------------------------------------------------------


def default_template_versions(where: Where) -> dict[str, dict[str, Any]]:
    """Launch template ID -> the data of its default version, for every launch template of the account and Region
    (one paginated listing: DRS launches from each server's template's default version)."""
    pages = client("ec2", where).get_paginator("describe_launch_template_versions").paginate(Versions=["$Default"])
    return {
        str(version["LaunchTemplateId"]): dict(version.get("LaunchTemplateData") or {})
        for page in pages
        for version in page.get("LaunchTemplateVersions", [])
    }


def existing_subnets(where: Where, subnet_ids: Iterable[str]) -> dict[str, str]:
    """Subnet ID -> its Availability Zone, for those of `subnet_ids` that exist."""
    found: dict[str, str] = {}
    paginator = client("ec2", where).get_paginator("describe_subnets")
    for chunk in batched(sorted(set(subnet_ids)), FILTER_VALUES_MAX):
        for page in paginator.paginate(Filters=[{"Name": "subnet-id", "Values": chunk}]):
            found.update({str(s["SubnetId"]): str(s["AvailabilityZone"]) for s in page.get("Subnets", [])})
    return found


def existing_security_groups(where: Where, group_ids: Iterable[str]) -> set[str]:
    """Those of `group_ids` that exist."""
    found: set[str] = set()
    paginator = client("ec2", where).get_paginator("describe_security_groups")
    for chunk in batched(sorted(set(group_ids)), FILTER_VALUES_MAX):
        for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": chunk}]):
            found.update(str(group["GroupId"]) for group in page.get("SecurityGroups", []))
    return found


def offered_instance_types(where: Where, zones: Iterable[str], types: Iterable[str]) -> set[tuple[str, str]]:
    """(instance type, Availability Zone) pairs EC2 offers, among the given zones and types."""
    zone_list, type_list = sorted(set(zones)), sorted(set(types))
    offered: set[tuple[str, str]] = set()
    if not zone_list or not type_list:
        return offered
    paginator = client("ec2", where).get_paginator("describe_instance_type_offerings")
    for zone_chunk in batched(zone_list, FILTER_VALUES_MAX):
        for type_chunk in batched(type_list, FILTER_VALUES_MAX):
            pages = paginator.paginate(
                LocationType="availability-zone",
                Filters=[{"Name": "location", "Values": zone_chunk}, {"Name": "instance-type", "Values": type_chunk}],
            )
            for page in pages:
                offered.update(
                    (str(item["InstanceType"]), str(item["Location"])) for item in page.get("InstanceTypeOfferings", [])
                )
    return offered


def instance_type_vcpus(where: Where, types: Iterable[str]) -> dict[str, int]:
    """Instance type -> its default vCPUs, for the given types EC2 knows in the Region."""
    found: dict[str, int] = {}
    paginator = client("ec2", where).get_paginator("describe_instance_types")
    for chunk in batched(sorted(set(types)), FILTER_VALUES_MAX):
        for page in paginator.paginate(Filters=[{"Name": "instance-type", "Values": chunk}]):
            for item in page.get("InstanceTypes", []):
                found[str(item["InstanceType"])] = int(item.get("VCpuInfo", {}).get("DefaultVCpus", 0))
    return found


def running_standard_types(where: Where) -> dict[str, int]:
    """Instance type -> how many On-Demand instances of the standard families are pending or running (what quota
    L-1216C47A counts, in vCPUs once each type's vCPUs are known): one paginated listing."""
    counts: dict[str, int] = {}
    pages = (
        client("ec2", where)
        .get_paginator("describe_instances")
        .paginate(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    )
    for page in pages:
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                kind = str(instance.get("InstanceType", ""))
                if instance.get("InstanceLifecycle") in ("spot", "capacity-block") or not is_standard(kind):
                    continue
                counts[kind] = counts.get(kind, 0) + 1
    return counts


def is_standard(instance_type: str) -> bool:
    family = instance_type.split(".", 1)[0]
    letters = family[: next((i for i, c in enumerate(family) if c.isdigit()), len(family))]
    return letters in STANDARD_FAMILIES


# -- IAM and Service Quotas --------------------------------------------------------------------------------------


def instance_profile_exists(where: Where, name: str) -> bool:
    """Whether the account has an instance profile of that name (IAM GetInstanceProfile)."""
    try:
        client("iam", where).get_instance_profile(InstanceProfileName=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND_CODES:
            return False
        raise
    return True


def vcpu_quota(where: Where) -> float:
    """The account's quota of vCPUs for running On-Demand standard instances in the Region (Service Quotas)."""
    answer = client("service-quotas", where).get_service_quota(ServiceCode="ec2", QuotaCode=VCPU_QUOTA_CODE)
    return float(answer["Quota"]["Value"])
