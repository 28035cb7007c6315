"""What a launch needs, as the emulator serves it to a real boto3 client: GetLaunchConfiguration (DRS), the launch
templates, subnets, security groups, instance types and their offerings, running instances (EC2), and the vCPU quota
(Service Quotas); each flag of a server's `launchTemplate` breaks exactly one thing, as drift does."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import ValidationError

from drsctl.emulator import Scenario
from drsctl.emulator.launch import DEFAULT_INSTANCE_PROFILE, vcpus_of
from tests.conftest import server_id

CLEAN, NO_SUBNET, NO_GROUP, NO_PROFILE, NOT_OFFERED = (server_id(n, "lt") for n in range(5))
SCENARIO: dict[str, Any] = {
    "region": "us-east-1",
    "seed": 11,
    "servers": [
        {"id": CLEAN, "hostname": "clean"},
        {"id": NO_SUBNET, "hostname": "no-subnet", "launchTemplate": {"subnetMissing": True}},
        {"id": NO_GROUP, "hostname": "no-group", "launchTemplate": {"securityGroupMissing": True}},
        {"id": NO_PROFILE, "hostname": "no-profile", "launchTemplate": {"instanceProfileMissing": True}},
        {
            "id": NOT_OFFERED,
            "hostname": "not-offered",
            "launchTemplate": {"instanceType": "c5.4xlarge", "instanceTypeNotOffered": True},
        },
    ],
    "capacity": {"us-east-1": {"vcpuLimit": 64, "vcpusInUse": 99}},
}


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 0, "mode": "standard"}),
    )


@pytest.fixture
def endpoint(serve):
    return serve(SCENARIO).endpoint


def _templates(endpoint: str) -> dict[str, dict[str, Any]]:
    """Server ID -> the data of its launch template's default version."""
    drs, ec2 = client("drs", endpoint), client("ec2", endpoint)
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        Versions=["$Default"], PaginationConfig={"PageSize": 2}
    )
    data = {v["LaunchTemplateId"]: v["LaunchTemplateData"] for page in pages for v in page["LaunchTemplateVersions"]}
    return {
        server: data[drs.get_launch_configuration(sourceServerID=server)["ec2LaunchTemplateID"]]
        for server in (CLEAN, NO_SUBNET, NO_GROUP, NO_PROFILE, NOT_OFFERED)
    }


def test_each_launch_template_flag_breaks_one_thing_and_a_clean_template_launches(endpoint):
    ec2 = client("ec2", endpoint)
    templates = _templates(endpoint)
    subnet_of = {server: t["NetworkInterfaces"][0]["SubnetId"] for server, t in templates.items()}
    group_of = {server: t["NetworkInterfaces"][0]["Groups"][0] for server, t in templates.items()}
    subnets = {
        s["SubnetId"]: s["AvailabilityZone"]
        for s in ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": list(subnet_of.values())}])["Subnets"]
    }
    groups = {
        g["GroupId"]
        for g in ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": list(group_of.values())}])[
            "SecurityGroups"
        ]
    }
    assert set(subnets) == {subnet_of[s] for s in (CLEAN, NO_GROUP, NO_PROFILE, NOT_OFFERED)}  # NO_SUBNET's is gone
    assert groups == {group_of[CLEAN]} and group_of[NO_GROUP] != group_of[CLEAN]  # one group, NO_GROUP's gone
    assert templates[CLEAN]["IamInstanceProfile"] == {"Name": DEFAULT_INSTANCE_PROFILE}
    assert templates[NO_PROFILE]["IamInstanceProfile"]["Name"] != DEFAULT_INSTANCE_PROFILE
    assert templates[CLEAN]["InstanceType"] == "m5.large"  # the default
    offered = {
        (o["InstanceType"], o["Location"])
        for o in ec2.describe_instance_type_offerings(
            LocationType="availability-zone",
            Filters=[
                {"Name": "location", "Values": sorted(set(subnets.values()))},
                {"Name": "instance-type", "Values": ["m5.large", "c5.4xlarge"]},
            ],
        )["InstanceTypeOfferings"]
    }
    assert ("c5.4xlarge", subnets[subnet_of[NOT_OFFERED]]) not in offered
    for server in (CLEAN, NO_GROUP, NO_PROFILE):
        assert (templates[server]["InstanceType"], subnets[subnet_of[server]]) in offered


def test_instance_types_running_instances_and_the_vcpu_quota(endpoint):
    ec2 = client("ec2", endpoint)
    types = {
        t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"]
        for t in ec2.describe_instance_types(Filters=[{"Name": "instance-type", "Values": ["c5.4xlarge", "t2.micro"]}])[
            "InstanceTypes"
        ]
    }
    assert types == {"c5.4xlarge": 16, "t2.micro": 1}
    with pytest.raises(ClientError) as unknown:
        ec2.describe_instance_types(InstanceTypes=["m5.nothing"])
    assert unknown.value.response["Error"]["Code"] == "InvalidInstanceType"
    running = [
        instance
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}], PaginationConfig={"PageSize": 5}
        )
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
    ]
    assert sum(vcpus_of(i["InstanceType"]) for i in running) == 99  # what the scenario says is in use
    quota = client("service-quotas", endpoint).get_service_quota(ServiceCode="ec2", QuotaCode="L-1216C47A")["Quota"]
    assert quota["Value"] == 64
    assert quota["UsageMetric"]["MetricDimensions"]["Resource"] == "vCPU"
    with pytest.raises(ClientError) as other:
        client("service-quotas", endpoint).get_service_quota(ServiceCode="ec2", QuotaCode="L-34B43A08")
    assert other.value.response["Error"]["Code"] == "NoSuchResourceException"


def test_unknown_filters_ids_and_servers_are_refused_as_aws_does(endpoint):
    ec2, drs = client("ec2", endpoint), client("drs", endpoint)
    with pytest.raises(ClientError) as bad_filter:
        ec2.describe_subnets(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert bad_filter.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as gone:
        ec2.describe_subnets(SubnetIds=["subnet-00000000000000000"])
    assert gone.value.response["Error"]["Code"] == "InvalidSubnetID.NotFound"
    with pytest.raises(ClientError) as no_template:
        ec2.describe_launch_template_versions(LaunchTemplateId="lt-00000000000000000")
    assert no_template.value.response["Error"]["Code"] == "InvalidLaunchTemplateId.NotFound"
    with pytest.raises(ClientError) as no_server:
        drs.get_launch_configuration(sourceServerID=server_id(99, "lt"))
    assert no_server.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_recovery_instance_counts_against_the_vcpus_in_use(serve, clock):
    running = serve(
        {
            "region": "us-east-1",
            "servers": [{"id": CLEAN, "hostname": "c", "launchTemplate": {"instanceType": "m5.2xlarge"}}],
        }
    )
    drs, ec2 = client("drs", running.endpoint), client("ec2", running.endpoint)

    def in_use() -> int:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )
        return sum(vcpus_of(i["InstanceType"]) for p in pages for r in p["Reservations"] for i in r["Instances"])

    assert in_use() == 0
    drs.start_recovery(sourceServers=[{"sourceServerID": CLEAN}], isDrill=True)
    clock.advance(3600)
    assert in_use() == 8  # the drill instance, of its template's type


def test_scenario_launch_templates_and_capacity_are_validated():
    with pytest.raises(ValidationError, match="instanceType"):
        Scenario.model_validate(
            {"servers": [{"id": CLEAN, "hostname": "x", "launchTemplate": {"instanceType": "big"}}]}
        )
    with pytest.raises(ValidationError, match="subnetMisssing"):
        Scenario.model_validate(
            {"servers": [{"id": CLEAN, "hostname": "x", "launchTemplate": {"subnetMisssing": True}}]}
        )
    with pytest.raises(ValidationError, match="vcpusInUse"):
        Scenario.model_validate({"capacity": {"us-east-1": {"vcpusInUse": -1}}})
    assert Scenario().capacity_of("eu-west-1").vcpuLimit >= 1000  # default: ample
