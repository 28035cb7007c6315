"""EC2 DescribeInstanceStatus for recovery instances, served on the DRS endpoint: plain boto3, the AWS CLI, raw HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlencode
from xml.etree import ElementTree

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from drsctl.emulator.validation import validate_input
from tests.conftest import drs_client, estate, server_id

BIN = Path(sys.executable).parent
EXACT = {"drill": {"snapshot": 0, "preparation": 0, "conversion": 0, "launch": 100}, "terminate": 60, "jitter": 0}
LAUNCH = 100  # seconds from StartRecovery to LAUNCHED with EXACT timing


def ec2_client(endpoint, region="us-east-1"):
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 0, "mode": "standard"}),
    )


def _describe(ec2, **kwargs):
    result = ec2.describe_instance_status(**kwargs)
    shape = botocore.session.get_session().get_service_model("ec2").operation_model("DescribeInstanceStatus")
    validate_input(shape.output_shape, {k: v for k, v in result.items() if k != "ResponseMetadata"})  # enums
    return result


def _statuses(ec2, **kwargs):
    return {item["InstanceId"]: item for item in _describe(ec2, **kwargs)["InstanceStatuses"]}


def _launched(serve, clock, count=3, **servers):
    """Serve an estate (per-server keys by index), launch every server, return (drs, ec2, ids, launch time)."""
    scenario = estate(count, timing=EXACT)
    for n, keys in servers.items():
        scenario["servers"][int(n.removeprefix("s"))].update(keys)
    endpoint = serve(scenario).endpoint
    drs, ec2 = drs_client(endpoint), ec2_client(endpoint)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(count)], isDrill=True)
    clock.advance(LAUNCH)
    launched_at = clock.now()
    instances = drs.describe_recovery_instances()["items"]
    ids = {i["sourceServerID"]: i["ec2InstanceID"] for i in instances}
    return drs, ec2, [ids[server_id(n)] for n in range(count)], launched_at


def test_status_checks_initialize_then_pass_by_default_after_120_seconds(serve, clock):
    _, ec2, ids, launched_at = _launched(serve, clock, count=1)
    [item] = _describe(ec2)["InstanceStatuses"]
    assert item["InstanceId"] == ids[0]
    assert item["InstanceState"] == {"Code": 16, "Name": "running"}
    assert item["AvailabilityZone"] in {"us-east-1a", "us-east-1b", "us-east-1c"}
    initializing = {"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]}
    assert item["InstanceStatus"] == initializing
    assert item["SystemStatus"] == initializing
    clock.advance_to(launched_at + 119)
    assert _statuses(ec2)[ids[0]]["InstanceStatus"]["Status"] == "initializing"
    clock.advance_to(launched_at + 120)
    passed = {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}
    item = _statuses(ec2)[ids[0]]
    assert (item["InstanceStatus"], item["SystemStatus"], item["AttachedEbsStatus"]) == (passed, passed, passed)


def test_scenario_instance_status_decides_when_and_how_the_checks_end(serve, clock):
    servers = {
        "s0": {"instanceStatus": {"seconds": 30, "result": "ok"}},
        "s1": {"instanceStatus": {"seconds": 600, "result": "impaired"}},
    }
    _, ec2, ids, launched_at = _launched(serve, clock, **servers)
    clock.advance_to(launched_at + 30)
    now = _statuses(ec2)
    assert [now[i]["InstanceStatus"]["Status"] for i in ids] == ["ok", "initializing", "initializing"]
    clock.advance_to(launched_at + 600)
    impaired = _statuses(ec2)[ids[1]]
    for summary in (impaired["InstanceStatus"], impaired["SystemStatus"]):
        assert summary["Status"] == "impaired"
        [detail] = summary["Details"]
        assert (detail["Name"], detail["Status"]) == ("reachability", "failed")
        assert detail["ImpairedSince"].timestamp() == launched_at + 600
    assert impaired["InstanceState"]["Name"] == "running"  # impaired, yet running


def test_filters_select_by_status_and_state_with_wildcards(serve, clock):
    _, ec2, ids, launched_at = _launched(serve, clock, s1={"instanceStatus": {"seconds": 0, "result": "impaired"}})
    clock.advance_to(launched_at + 120)
    impaired = _statuses(ec2, Filters=[{"Name": "instance-status.status", "Values": ["impaired"]}])
    assert list(impaired) == [ids[1]]
    failing = _statuses(ec2, Filters=[{"Name": "system-status.reachability", "Values": ["failed"]}])
    assert list(failing) == [ids[1]]
    both = _statuses(
        ec2,
        Filters=[
            {"Name": "instance-state-name", "Values": ["run*"]},
            {"Name": "instance-status.status", "Values": ["ok", "impaired"]},
        ],
    )
    assert sorted(both) == sorted(ids)
    assert _statuses(ec2, Filters=[{"Name": "event.code", "Values": ["*"]}]) == {}  # no scheduled events
    with pytest.raises(ClientError) as raised:
        ec2.describe_instance_status(Filters=[{"Name": "instance-colour", "Values": ["red"]}])
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "instance-colour" in raised.value.response["Error"]["Message"]


def test_unknown_and_malformed_instance_ids_are_refused_as_ec2_does(serve, clock):
    _, ec2, ids, _ = _launched(serve, clock, count=1)
    assert list(_statuses(ec2, InstanceIds=[ids[0]])) == [ids[0]]
    with pytest.raises(ClientError) as one:
        ec2.describe_instance_status(InstanceIds=[ids[0], "i-0123456789abcdef0"])
    error = one.value.response["Error"]
    assert (error["Code"], one.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
        "InvalidInstanceID.NotFound",
        400,
    )
    assert error["Message"] == "The instance ID 'i-0123456789abcdef0' does not exist"
    with pytest.raises(ClientError) as two:
        ec2.describe_instance_status(InstanceIds=["i-0123456789abcdef0", "i-0123456789abcdef1"])
    assert "i-0123456789abcdef0, i-0123456789abcdef1" in two.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as malformed:
        ec2.describe_instance_status(InstanceIds=["server-1"])
    assert malformed.value.response["Error"]["Code"] == "InvalidInstanceID.Malformed"
    with pytest.raises(ClientError) as elsewhere:  # instances belong to the region they were launched in
        ec2_client(ec2.meta.endpoint_url, region="us-west-2").describe_instance_status(InstanceIds=[ids[0]])
    assert elsewhere.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_pagination_with_max_results_and_next_token(serve, clock):
    _, ec2, ids, _ = _launched(serve, clock, count=12)
    pages = ec2.get_paginator("describe_instance_status").paginate(PaginationConfig={"PageSize": 5})
    seen = [[item["InstanceId"] for item in page["InstanceStatuses"]] for page in pages]
    assert [len(page) for page in seen] == [5, 5, 2]
    assert sorted(i for page in seen for i in page) == sorted(ids)
    first = ec2.describe_instance_status(MaxResults=5)
    assert len(first["InstanceStatuses"]) == 5
    assert first["NextToken"]
    assert len(ec2.describe_instance_status()["InstanceStatuses"]) == 12  # no MaxResults: everything
    refusals = [
        ({"MaxResults": 4}, "InvalidParameterValue"),
        ({"MaxResults": 5, "InstanceIds": [ids[0]]}, "InvalidParameterCombination"),
        ({"MaxResults": 5, "NextToken": "not-a-token"}, "InvalidPaginationToken"),
    ]
    for kwargs, code in refusals:
        with pytest.raises(ClientError) as raised:
            ec2.describe_instance_status(**kwargs)
        assert raised.value.response["Error"]["Code"] == code, kwargs


def test_terminated_recovery_instances_leave_drs_and_stay_terminated_in_ec2_for_an_hour(serve, clock):
    drs, ec2, ids, _ = _launched(serve, clock, count=3)
    job = drs.terminate_recovery_instances(recoveryInstanceIDs=ids[:2])["job"]
    shutting = _statuses(ec2, IncludeAllInstances=True)
    assert [shutting[i]["InstanceState"] for i in ids] == [
        {"Code": 32, "Name": "shutting-down"},
        {"Code": 32, "Name": "shutting-down"},
        {"Code": 16, "Name": "running"},
    ]
    assert shutting[ids[0]]["InstanceStatus"] == {"Status": "not-applicable"}
    assert list(_statuses(ec2)) == [ids[2]]  # without IncludeAllInstances: running instances only

    clock.advance(60)  # the TERMINATE job ends
    [done] = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert done["status"] == "COMPLETED"
    listed = drs.describe_recovery_instances()["items"]
    assert [i["recoveryInstanceID"] for i in listed] == [ids[2]]
    assert drs.describe_recovery_instances(filters={"recoveryInstanceIDs": ids[:2]})["items"] == []
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.terminate_recovery_instances(recoveryInstanceIDs=[ids[0]])
    terminated = _statuses(ec2, IncludeAllInstances=True, InstanceIds=ids[:2])
    assert [terminated[i]["InstanceState"] for i in ids[:2]] == [{"Code": 48, "Name": "terminated"}] * 2
    assert terminated[ids[0]]["SystemStatus"] == {"Status": "not-applicable"}
    assert _statuses(ec2, InstanceIds=ids[:2]) == {}  # asked by ID, not running, no IncludeAllInstances: no error

    clock.advance(3600)  # EC2 forgets terminated instances after about an hour
    assert list(_statuses(ec2, IncludeAllInstances=True)) == [ids[2]]
    with pytest.raises(ClientError) as raised:
        ec2.describe_instance_status(InstanceIds=[ids[0]], IncludeAllInstances=True)
    assert raised.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_a_new_launch_terminates_the_previous_instance_in_ec2_too(serve, clock):
    drs, ec2, ids, _ = _launched(serve, clock, count=1)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    clock.advance(LAUNCH)
    [newer] = drs.describe_recovery_instances()["items"]
    assert newer["ec2InstanceID"] != ids[0]
    states = {i: s["InstanceState"]["Name"] for i, s in _statuses(ec2, IncludeAllInstances=True).items()}
    assert states == {ids[0]: "terminated", newer["ec2InstanceID"]: "running"}


def test_raw_form_posts_reach_ec2_and_json_posts_reach_drs_on_one_endpoint(serve, clock):
    drs, _, ids, _ = _launched(serve, clock, count=1)
    endpoint = drs.meta.endpoint_url

    def post(form):
        request = urllib.request.Request(
            endpoint + "/",
            data=urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, ElementTree.fromstring(response.read())
        except urllib.error.HTTPError as error:
            return error.code, ElementTree.fromstring(error.read())

    namespace = "{http://ec2.amazonaws.com/doc/2016-11-15/}"
    status, root = post({"Action": "DescribeInstanceStatus", "Version": "2016-11-15", "InstanceId.1": ids[0]})
    assert (status, root.tag) == (200, f"{namespace}DescribeInstanceStatusResponse")
    assert root.findtext(f"{namespace}requestId")
    item = root.find(f"{namespace}instanceStatusSet/{namespace}item")
    assert item is not None
    assert item.findtext(f"{namespace}instanceId") == ids[0]
    assert item.findtext(f"{namespace}instanceState/{namespace}name") == "running"

    status, root = post({"Action": "RunInstances", "Version": "2016-11-15"})
    assert (status, root.findtext("Errors/Error/Code")) == (400, "InvalidAction")
    assert root.findtext("RequestID")
    status, root = post({"Action": "DescribeInstanceStatus", "Version": "2016-11-15", "Colour": "red"})
    assert (status, root.findtext("Errors/Error/Code")) == (400, "UnknownParameter")
    assert drs.describe_recovery_instances()["items"][0]["ec2InstanceID"] == ids[0]  # DRS unaffected


def _cli(endpoint, *args):
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_EC2": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_MAX_ATTEMPTS": "1",
    }
    command = [BIN / "aws", "ec2", *args, "--output", "json"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.mark.awscli
def test_aws_cli_reads_instance_status(serve, clock):
    drs, _, ids, _ = _launched(serve, clock, count=2, s1={"instanceStatus": {"seconds": 0, "result": "impaired"}})
    clock.advance(120)
    listed = _cli(drs.meta.endpoint_url, "describe-instance-status", "--include-all-instances")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)["InstanceStatuses"]
    assert {s["InstanceId"]: s["InstanceStatus"]["Status"] for s in items} == {ids[0]: "ok", ids[1]: "impaired"}
    paged = _cli(drs.meta.endpoint_url, "describe-instance-status", "--page-size", "5")
    assert len(json.loads(paged.stdout)["InstanceStatuses"]) == 2
    missing = _cli(drs.meta.endpoint_url, "describe-instance-status", "--instance-ids", "i-0123456789abcdef0")
    assert missing.returncode == 255  # AWS CLI v1: a service error
    assert "InvalidInstanceID.NotFound" in missing.stderr
