"""EC2's view of what a launch needs (drsctl/emulator/launch.py), served beside DRS: DescribeLaunchTemplateVersions,
DescribeSubnets, DescribeSecurityGroups, DescribeInstanceTypeOfferings, DescribeInstanceTypes and DescribeInstances.

Results use the member names of botocore's `ec2` model (query.py puts them on the wire) and page as its paginators
say. Filters follow EC2: every filter must match (AND), any of a filter's values (OR), with `*` and `?` wildcards;
a filter name an operation does not know is refused (InvalidParameterValue), as EC2 does.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from botocore import xform_name

from drsctl.emulator.launch import LaunchEstate
from drsctl.emulator.model import TERMINATED_VISIBLE_SECONDS, DrsEmulator, Ec2Fault
from drsctl.emulator.query import Ec2Error, Ec2Handler, paginate
from drsctl.emulator.scenario import EC2_FAULT_ERRORS

Values = Callable[[dict[str, Any]], list[str]]
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48}
RECOVERY_STATES = {"RUNNING": "running", "SHUTTING-DOWN": "shutting-down", "TERMINATED": "terminated"}


def _field(*path: str) -> Values:
    def values(item: dict[str, Any]) -> list[str]:
        value: Any = item
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            return []
        return (
            [str(v) for v in value]
            if isinstance(value, list)
            else [str(value).lower() if isinstance(value, bool) else str(value)]
        )

    return values


def _filtered(
    operation: str, items: list[dict[str, Any]], params: dict[str, Any], known: dict[str, Values]
) -> list[dict[str, Any]]:
    checked = []
    for item in params.get("Filters") or []:
        name = item.get("Name", "")
        if name not in known:
            raise Ec2Error("InvalidParameterValue", f"The filter '{name}' is invalid for {operation}")
        checked.append((known[name], list(item.get("Values") or [])))
    return [
        entry
        for entry in items
        if all(
            any(fnmatch.fnmatchcase(value, pattern) for value in values(entry) for pattern in patterns)
            for values, patterns in checked
        )
    ]


def _dry_run(params: dict[str, Any]) -> None:
    if params.get("DryRun"):
        raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", status=412)


class LaunchView:
    """The six operations, bound to one emulator (its scenario's launch estate and its recovery instances)."""

    def __init__(self, emulator: DrsEmulator) -> None:
        self.emulator = emulator
        self.estate: LaunchEstate = emulator.launch
        self.account = emulator.scenario.accountId

    def describe_launch_template_versions(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        templates = [t for t in self.estate.templates.values() if t.region == region]
        wanted_id, wanted_name = params.get("LaunchTemplateId"), params.get("LaunchTemplateName")
        versions = [str(v) for v in params.get("Versions") or []]
        if wanted_id or wanted_name:
            templates = [t for t in templates if t.id == wanted_id or t.name == wanted_name]
            if not templates:
                raise Ec2Error(
                    "InvalidLaunchTemplateId.NotFound" if wanted_id else "InvalidLaunchTemplateName.NotFoundException",
                    f"The specified launch template, with template {'ID' if wanted_id else 'name'} "
                    f"{wanted_id or wanted_name}, does not exist.",
                )
        elif any(v not in ("$Default", "$Latest") for v in versions) or not versions:
            raise Ec2Error(
                "MissingParameter",
                "The request must contain the parameter LaunchTemplateName or LaunchTemplateId, or Versions with "
                "$Latest or $Default only",
            )
        if versions and not {"$Default", "$Latest", "1"} & set(versions):
            raise Ec2Error(
                "InvalidLaunchTemplateId.VersionNotFound", f"Could not find launch template versions {versions}"
            )
        items = [
            {
                "LaunchTemplateId": t.id,
                "LaunchTemplateName": t.name,
                "VersionNumber": 1,
                "DefaultVersion": True,
                "CreatedBy": f"arn:aws:sts::{self.account}:assumed-role/AWSServiceRoleForElasticDisasterRecovery/drs",
                "LaunchTemplateData": t.data,
            }
            for t in templates
        ]
        items = _filtered(
            "DescribeLaunchTemplateVersions",
            items,
            params,
            {
                "is-default-version": _field("DefaultVersion"),
                "instance-type": _field("LaunchTemplateData", "InstanceType"),
            },
        )
        return paginate("DescribeLaunchTemplateVersions", params, {"LaunchTemplateVersions": items})

    def describe_subnets(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        estate = self.estate.regions.get(region)
        subnets: list[dict[str, Any]] = (
            [
                {
                    "SubnetId": subnet,
                    "AvailabilityZone": zone,
                    "VpcId": estate.vpc_id,
                    "State": "available",
                    "CidrBlock": f"10.0.{index}.0/24",
                    "AvailableIpAddressCount": 250,
                    "OwnerId": self.account,
                    "SubnetArn": f"arn:aws:ec2:{region}:{self.account}:subnet/{subnet}",
                }
                for index, (subnet, zone) in enumerate(sorted(estate.subnets.items(), key=lambda pair: pair[1]))
            ]
            if estate
            else []
        )
        _check_ids("InvalidSubnetID.NotFound", "subnet", params.get("SubnetIds"), {s["SubnetId"] for s in subnets})
        if params.get("SubnetIds"):
            subnets = [s for s in subnets if s["SubnetId"] in params["SubnetIds"]]
        known = {
            "subnet-id": _field("SubnetId"),
            "availability-zone": _field("AvailabilityZone"),
            "vpc-id": _field("VpcId"),
            "state": _field("State"),
        }
        return paginate("DescribeSubnets", params, {"Subnets": _filtered("DescribeSubnets", subnets, params, known)})

    def describe_security_groups(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        estate = self.estate.regions.get(region)
        groups = (
            [
                {
                    "GroupId": estate.security_group,
                    "GroupName": "drs-recovery",
                    "Description": "Recovery instances",
                    "VpcId": estate.vpc_id,
                    "OwnerId": self.account,
                }
            ]
            if estate
            else []
        )
        _check_ids("InvalidGroup.NotFound", "security group", params.get("GroupIds"), {g["GroupId"] for g in groups})
        if params.get("GroupIds"):
            groups = [g for g in groups if g["GroupId"] in params["GroupIds"]]
        known = {"group-id": _field("GroupId"), "group-name": _field("GroupName"), "vpc-id": _field("VpcId")}
        items = _filtered("DescribeSecurityGroups", groups, params, known)
        return paginate("DescribeSecurityGroups", params, {"SecurityGroups": items})

    def describe_instance_type_offerings(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        location_type = params.get("LocationType") or "region"
        if location_type == "availability-zone":
            offers = [
                {"InstanceType": kind, "LocationType": location_type, "Location": zone}
                for kind, zone in self.estate.offerings(region)
            ]
        elif location_type == "region":
            types = self.estate.instance_types(region) if region in self.estate.regions else {}
            offers = [{"InstanceType": kind, "LocationType": location_type, "Location": region} for kind in types]
        else:
            raise Ec2Error("InvalidParameterValue", f"The location type {location_type} is not supported here")
        known = {"location": _field("Location"), "instance-type": _field("InstanceType")}
        items = _filtered("DescribeInstanceTypeOfferings", offers, params, known)
        return paginate("DescribeInstanceTypeOfferings", params, {"InstanceTypeOfferings": items})

    def describe_instance_types(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        types = self.estate.instance_types(region)
        wanted = params.get("InstanceTypes") or []
        unknown = [kind for kind in wanted if kind not in types]
        if unknown:
            raise Ec2Error(
                "InvalidInstanceType", f"The following supplied instance types do not exist: [{', '.join(unknown)}]"
            )
        items = [
            {
                "InstanceType": kind,
                "CurrentGeneration": True,
                "VCpuInfo": {
                    "DefaultVCpus": vcpus,
                    "DefaultCores": max(1, vcpus // 2),
                    "DefaultThreadsPerCore": 2 if vcpus > 1 else 1,
                },
            }
            for kind, vcpus in types.items()
            if not wanted or kind in wanted
        ]
        known = {"instance-type": _field("InstanceType"), "vcpu-info.default-vcpus": _field("VCpuInfo", "DefaultVCpus")}
        return paginate(
            "DescribeInstanceTypes", params, {"InstanceTypes": _filtered("DescribeInstanceTypes", items, params, known)}
        )

    def describe_instances(
        self, region: str, params: dict[str, Any], now: float, recovery: list[Any]
    ) -> dict[str, Any]:
        instances: list[dict[str, Any]] = [
            {"InstanceId": instance_id, "InstanceType": kind, "State": {"Code": 16, "Name": "running"}}
            for instance_id, kind in self.estate.synthetic_instances(region)
        ]
        for instance in recovery:
            if instance.terminated_at is not None and now - instance.terminated_at >= TERMINATED_VISIBLE_SECONDS:
                continue  # EC2 stops listing a terminated instance after about an hour
            state = RECOVERY_STATES[instance.state]
            template = self.estate.template_of.get((instance.region, instance.source_server_id))
            instances.append(
                {
                    "InstanceId": instance.id,
                    "InstanceType": template.instance_type if template else "m5.large",
                    "State": {"Code": STATE_CODES[state], "Name": state},
                    "LaunchTime": instance.launched_at,
                }
            )
        wanted = params.get("InstanceIds") or []
        _check_ids("InvalidInstanceID.NotFound", "instance", wanted, {i["InstanceId"] for i in instances})
        if wanted:
            instances = [i for i in instances if i["InstanceId"] in wanted]
        known = {
            "instance-state-name": _field("State", "Name"),
            "instance-type": _field("InstanceType"),
            "instance-id": _field("InstanceId"),
        }
        chosen = _filtered("DescribeInstances", instances, params, known)
        reservations = [
            {"ReservationId": f"r-{i['InstanceId'][2:]}", "OwnerId": self.account, "Instances": [i]} for i in chosen
        ]
        return paginate("DescribeInstances", params, {"Reservations": reservations})


def _check_ids(code: str, what: str, wanted: list[str] | None, known: set[str]) -> None:
    missing = [item for item in dict.fromkeys(wanted or []) if item not in known]
    if missing:
        raise Ec2Error(code, f"The {what} ID '{', '.join(missing)}' does not exist")


def handlers(emulator: DrsEmulator) -> dict[str, Ec2Handler]:
    """The operations, each counted and open to scenario faults as DescribeInstanceStatus is."""
    view = LaunchView(emulator)

    def served(operation: str) -> Ec2Handler:
        def handle(region: str, params: dict[str, Any], caller: str | None = None) -> dict[str, Any]:
            _dry_run(params)
            try:
                # the recovery instances of the caller's account; launch templates, subnets, security groups and
                # the Region's capacity are the scenario's, the same for every account
                now, recovery = emulator.ec2_view(region, operation, caller)
            except Ec2Fault as fault:
                raise Ec2Error(fault.code, fault.message, status=EC2_FAULT_ERRORS[fault.code]) from fault
            if operation == "DescribeInstances":
                return view.describe_instances(region, params, now, recovery)
            method: Callable[[str, dict[str, Any]], dict[str, Any]] = getattr(view, _snake(operation))
            return method(region, params)

        return handle

    operations = (
        "DescribeLaunchTemplateVersions",
        "DescribeSubnets",
        "DescribeSecurityGroups",
        "DescribeInstanceTypeOfferings",
        "DescribeInstanceTypes",
        "DescribeInstances",
    )
    return {operation: served(operation) for operation in operations}


def _snake(name: str) -> str:
    return str(xform_name(name))
