"""What a launch needs besides DRS, as the scenario describes it: each server's EC2 launch template, the subnets,
security groups, instance types and their offerings, instance profiles and the vCPU capacity of each Region.

Everything here is a pure function of the scenario, so the same scenario always shows the same estate (IDs come from
a hash of the seed, the Region and the server). Per Region there is one VPC with a subnet in each of the zones a, b
and c (every server's template uses one of them, by a hash of its ID) and one in zone d (the subnet of the servers
whose `launchTemplate.instanceTypeNotOffered` is set: zone d does not offer their instance types), and one security
group. Every template gives the recovery instance the instance profile DRS creates
(`AWSElasticDisasterRecoveryRecoveryInstanceRole`); `instanceProfileMissing` names one that does not exist,
`subnetMissing` and `securityGroupMissing` a subnet or group that does not.

Running instances (what the vCPU quota counts) are the Region's `capacity.vcpusInUse`, as synthetic instances
(m5.24xlarge, m5.large and t2.micro, as few as add up to it), and the recovery instances DRS launched and has not
terminated, of their template's instance type.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from drsctl.emulator.scenario import DEFAULT_INSTANCE_TYPE, Scenario, ServerSpec

DEFAULT_INSTANCE_PROFILE = "AWSElasticDisasterRecoveryRecoveryInstanceRole"  # the profile DRS creates for launches
ZONES = ("a", "b", "c")
NOT_OFFERING_ZONE = "d"  # the zone of servers whose instance type is not offered there
# Types every Region offers (beside those the scenario's templates name), with DescribeInstanceTypes' vCPUs.
CATALOG = (
    "t2.micro", "t2.small", "t2.medium", "t2.large", "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge",
    "m5.large", "m5.xlarge", "m5.2xlarge", "m5.4xlarge", "m5.8xlarge", "m5.12xlarge", "m5.24xlarge",
    "m6i.large", "m6i.xlarge", "m6i.2xlarge", "c5.large", "c5.xlarge", "c5.2xlarge", "c5.4xlarge",
    "r5.large", "r5.xlarge", "r5.2xlarge", "r5.4xlarge",
)  # fmt: skip
# What the synthetic running instances are made of, largest first: vcpusInUse is the sum of their vCPUs.
IN_USE_TYPES = ("m5.24xlarge", "m5.large", "t2.micro")
SIZE = re.compile(r"^(?P<count>[1-9][0-9]*)?xlarge$")


def vcpus_of(instance_type: str) -> int:
    """Default vCPUs of an instance type, from its size: up to large 2 (t2's nano, micro and small 1), xlarge 4,
    Nxlarge 4N, metal 96."""
    family, _, size = instance_type.partition(".")
    if size in ("nano", "micro", "small") and family == "t2":
        return 1
    if size in ("nano", "micro", "small", "medium", "large"):
        return 2
    if size == "metal":
        return 96
    matched = SIZE.match(size)
    if matched is None:
        raise ValueError(f"{instance_type!r} is not an instance type")
    return 4 * int(matched.group("count") or 1)


def _hex(*parts: object, length: int = 17) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    server_id: str
    region: str
    data: dict[str, Any]

    @property
    def instance_type(self) -> str:
        return str(self.data["InstanceType"])


@dataclass
class RegionEstate:
    region: str
    vpc_id: str
    subnets: dict[str, str]  # subnet ID -> zone
    security_group: str
    not_offered: set[str] = field(default_factory=set)  # instance types zone d does not offer

    def zone_subnet(self, letter: str) -> str:
        return next(subnet for subnet, zone in self.subnets.items() if zone == self.region + letter)


class LaunchEstate:
    """The launch side of one scenario (one account)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    @cached_property
    def regions(self) -> dict[str, RegionEstate]:
        names = {self.scenario.region, *(self.scenario.region_of(s) for s in self.scenario.servers)}
        names |= set(self.scenario.capacity)
        regions = {}
        for region in sorted(names):
            seed = self.scenario.seed
            subnets = {f"subnet-{_hex(seed, region, zone)}": region + zone for zone in (*ZONES, NOT_OFFERING_ZONE)}
            regions[region] = RegionEstate(
                region=region,
                vpc_id=f"vpc-{_hex(seed, region, 'vpc')}",
                subnets=subnets,
                security_group=f"sg-{_hex(seed, region, 'sg')}",
            )
        for server in self.scenario.servers:
            if server.launchTemplate.instanceTypeNotOffered:
                regions[self.scenario.region_of(server)].not_offered.add(_instance_type(server))
        return regions

    @cached_property
    def templates(self) -> dict[str, Template]:
        """Launch template ID -> its template (version 1, the default), one per server."""
        found = {}
        for server in self.scenario.servers:
            template = self._template(server)
            found[template.id] = template
        return found

    @cached_property
    def template_of(self) -> dict[tuple[str, str], Template]:
        """(Region, server ID) -> its launch template."""
        return {(t.region, t.server_id): t for t in self.templates.values()}

    @cached_property
    def instance_profiles(self) -> set[str]:
        """The instance profiles that exist in the account (IAM is global)."""
        return {DEFAULT_INSTANCE_PROFILE}

    def _template(self, server: ServerSpec) -> Template:
        region = self.scenario.region_of(server)
        estate = self.regions[region]
        spec = server.launchTemplate
        seed = self.scenario.seed
        if spec.subnetMissing:
            subnet = f"subnet-{_hex(seed, region, server.id, 'gone')}"
        elif spec.instanceTypeNotOffered:
            subnet = estate.zone_subnet(NOT_OFFERING_ZONE)
        else:
            subnet = estate.zone_subnet(ZONES[int(_hex(server.id, length=8), 16) % len(ZONES)])
        group = f"sg-{_hex(seed, region, server.id, 'gone')}" if spec.securityGroupMissing else estate.security_group
        profile = (
            f"{_slug(server.hostname)}-recovery-profile" if spec.instanceProfileMissing else DEFAULT_INSTANCE_PROFILE
        )
        template_id = f"lt-{_hex(seed, region, server.id, 'template')}"
        return Template(
            id=template_id,
            name=f"drs-launch-template-{server.id}",
            server_id=server.id,
            region=region,
            data={
                "InstanceType": _instance_type(server),
                "IamInstanceProfile": {"Name": profile},
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
            },
        )

    def instance_types(self, region: str) -> dict[str, int]:
        """Instance type -> vCPUs, for every type the Region knows."""
        types = {*CATALOG, *IN_USE_TYPES, *(t.instance_type for t in self.templates.values() if t.region == region)}
        return {name: vcpus_of(name) for name in sorted(types)}

    def offerings(self, region: str) -> list[tuple[str, str]]:
        """(instance type, zone) pairs the Region offers: every type in zones a, b and c; in zone d all but those of
        the servers whose type is not offered there."""
        estate = self.regions.get(region)
        if estate is None:
            return []
        types = self.instance_types(region)
        pairs = [(name, region + zone) for name in types for zone in ZONES]
        pairs += [(name, region + NOT_OFFERING_ZONE) for name in types if name not in estate.not_offered]
        return sorted(pairs, key=lambda pair: (pair[1], pair[0]))

    def synthetic_instances(self, region: str) -> list[tuple[str, str]]:
        """(instance ID, type) of the running instances that make up the Region's vcpusInUse."""
        left = self.scenario.capacity_of(region).vcpusInUse
        found: list[tuple[str, str]] = []
        for kind in IN_USE_TYPES:
            size = vcpus_of(kind)
            while left >= size:
                found.append((f"i-{_hex(self.scenario.seed, region, 'in-use', len(found))}", kind))
                left -= size
        return found


def _instance_type(server: ServerSpec) -> str:
    return server.launchTemplate.instanceType or DEFAULT_INSTANCE_TYPE


def _slug(hostname: str) -> str:
    return re.sub(r"[^A-Za-z0-9+=,.@_-]", "-", hostname)[:40]


def create_instance_profiles(estate: LaunchEstate, iam: Any) -> None:
    """Create the scenario's instance profiles in an IAM (moto's, in a rehearsal, the sandbox and `drsctl plan
    readiness --scenario`): what GetInstanceProfile then finds. IAM is not the emulator's: moto serves it."""
    for name in sorted(estate.instance_profiles):
        try:
            iam.create_instance_profile(InstanceProfileName=name)
        except iam.exceptions.EntityAlreadyExistsException:
            continue
