"""LAUNCH_CONFIG_INVALID: a server's launch settings name something that no longer exists or cannot launch: its
EC2 launch template, subnet, security group or instance profile, or an instance type its subnet's Availability Zone
does not offer. DRS finds out only at launch, minutes into a drill, as a server LAUNCH_FAILED."""

from __future__ import annotations

from collections.abc import Iterator

from lambdas.core.readiness.estate import Estate, FactUnavailable, LaunchSettings, PlanServer
from lambdas.core.readiness.model import Check, Finding, Severity

EDIT = "edit the server's EC2 launch template in DRS (Source servers > Launch settings > EC2 launch template)"


def run(estate: Estate) -> Iterator[Finding]:
    for where, servers in estate.by_target().items():
        try:
            settings = {server.server_id: estate.launch_settings(server) for server in servers}
            subnets = estate.subnets(where)
            groups = estate.security_groups(where)
            offered = estate.offered(where)
        except FactUnavailable as missing:
            yield CHECK.finding(
                "WARN",
                f"the launch settings of {len(servers)} server(s) in {where} could not be checked: {missing}",
                missing.fix,
                account=where.account,
                region=where.region,
            )
            continue
        for server in servers:
            launch = settings[server.server_id]
            for severity, detail, fix in _problems(estate, server, launch, subnets, groups, offered):
                yield CHECK.finding(
                    severity,
                    f"server {server.server_id} ({server.place}): {detail}",
                    fix,
                    account=where.account,
                    region=where.region,
                    server_id=server.server_id,
                    hostname=server.hostname,
                )


def _problems(  # noqa: PLR0917 - the facts of one account and Region, read once for all its servers
    estate: Estate,
    server: PlanServer,
    launch: LaunchSettings,
    subnets: dict[str, str],
    groups: set[str],
    offered: set[tuple[str, str]],
) -> Iterator[tuple[Severity, str, str]]:
    """(severity, what was seen, the fix) of each thing wrong with the server's launch settings: FAIL for what would
    fail its launch, WARN for what could not be read (never "nothing wrong" where it could not look)."""
    if launch.problem is not None:
        yield (
            "FAIL",
            launch.problem,
            "set the server's launch settings in DRS (a default EC2 launch template), then check again",
        )
        return
    template = launch.template_id
    if launch.subnet_id and launch.subnet_id not in subnets:
        yield (
            "FAIL",
            f"its launch template {template} names subnet {launch.subnet_id}, which no longer exists",
            f"{EDIT}: choose an existing subnet of the recovery VPC",
        )
    for group in launch.security_group_ids:
        if group not in groups:
            yield (
                "FAIL",
                f"its launch template {template} names security group {group}, which no longer exists",
                f"{EDIT}: replace the security group with an existing one",
            )
    zone = subnets.get(launch.subnet_id or "")
    if launch.instance_type and zone and (launch.instance_type, zone) not in offered:
        yield (
            "FAIL",
            f"its instance type {launch.instance_type} is not offered in {zone}, the Availability Zone of its subnet "
            f"{launch.subnet_id}",
            f"{EDIT}: choose an instance type offered in {zone} (aws ec2 describe-instance-type-offerings "
            f"--location-type availability-zone --filters Name=location,Values={zone}), or a subnet in another zone",
        )
    if launch.instance_profile:
        try:
            exists = estate.profile_exists(server.where, launch.instance_profile)
        except FactUnavailable as missing:
            yield "WARN", f"its instance profile {launch.instance_profile} could not be checked: {missing}", missing.fix
            return
        if not exists:
            yield (
                "FAIL",
                f"its launch template {template} gives the recovery instance the instance profile "
                f"{launch.instance_profile}, which no longer exists",
                f"create the instance profile again, or {EDIT} and choose an existing one",
            )


CHECK = Check(
    code="LAUNCH_CONFIG_INVALID",
    severity="FAIL or WARN",
    title="A server's launch settings name a subnet, security group or instance profile that no longer exists, or "
    "an instance type its subnet's Availability Zone does not offer (FAIL); a setting that could not be read (WARN)",
    reads=(
        "DRS GetLaunchConfiguration (per server): its EC2 launch template",
        "EC2 DescribeLaunchTemplateVersions ($Default, one listing per account and Region)",
        "EC2 DescribeSubnets, DescribeSecurityGroups (batched by ID)",
        "EC2 DescribeInstanceTypeOfferings (availability-zone)",
        "IAM GetInstanceProfile (per distinct profile)",
    ),
    remediation="Edit the server's EC2 launch template (the default version DRS launches from): an existing subnet "
    "and security groups, an instance type offered in the subnet's zone, an existing instance profile.",
    link="https://docs.aws.amazon.com/drs/latest/APIReference/API_GetLaunchConfiguration.html",
    run=run,
)
