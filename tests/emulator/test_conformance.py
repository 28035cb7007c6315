"""Every implemented operation, driven through plain boto3 against the served emulator: results and errors."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from tests.conftest import drs_client, estate, server_id

JOB_ID = re.compile(r"^drsjob-[0-9a-zA-Z]{17}$")
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{17}$")


@pytest.fixture
def drs(serve):
    return drs_client(serve(estate(12)).endpoint)


def _launch_all(drs, clock, ids, is_drill=True):
    job = drs.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=is_drill)["job"]
    clock.advance(3600)
    return job


def test_start_recovery_returns_a_pending_launch_job_with_tags(drs):
    response = drs.start_recovery(
        sourceServers=[{"sourceServerID": server_id(0)}, {"sourceServerID": server_id(1)}],
        isDrill=True,
        tags={"ExecutionId": "exec-1", "ManagedBy": "DRS-Orchestration"},
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = response["job"]
    assert JOB_ID.match(job["jobID"])
    assert job["arn"] == f"arn:aws:drs:us-east-1:111122223333:job/{job['jobID']}"
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_DRILL", "PENDING")
    assert job["tags"] == {"ExecutionId": "exec-1", "ManagedBy": "DRS-Orchestration"}
    assert [p["sourceServerID"] for p in job["participatingServers"]] == [server_id(0), server_id(1)]
    assert {p["launchStatus"] for p in job["participatingServers"]} == {"PENDING"}


def test_recovery_jobs_are_initiated_by_start_recovery(drs):
    job = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=False)["job"]
    assert job["initiatedBy"] == "START_RECOVERY"


def test_describe_jobs_filters_by_id_and_lists_newest_first(drs, clock):
    first = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]
    clock.advance(10)
    second = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}], isDrill=True)["job"]
    listed = drs.describe_jobs()["items"]
    assert [j["jobID"] for j in listed] == [second["jobID"], first["jobID"]]
    only = drs.describe_jobs(filters={"jobIDs": [first["jobID"]]})["items"]
    assert [j["jobID"] for j in only] == [first["jobID"]]
    after = drs.describe_jobs(filters={"fromDate": second["creationDateTime"]})["items"]
    assert [j["jobID"] for j in after] == [second["jobID"]]


def test_describe_source_servers_reports_replication_hostname_and_last_launch(drs, clock):
    job = _launch_all(drs, clock, [server_id(2)])
    servers = drs.describe_source_servers(filters={"sourceServerIDs": [server_id(2)]})["items"]
    assert len(servers) == 1
    server = servers[0]
    assert server["dataReplicationInfo"]["dataReplicationState"] == "CONTINUOUS"
    assert server["sourceProperties"]["identificationHints"]["hostname"] == "host-2"
    assert server["lifeCycle"]["lastLaunch"]["initiated"]["jobID"] == job["jobID"]
    assert server["lifeCycle"]["lastLaunch"]["initiated"]["type"] == "DRILL"
    assert server["lifeCycle"]["lastLaunch"]["status"] == "LAUNCHED"
    assert server["lastLaunchResult"] == "SUCCEEDED"
    assert INSTANCE_ID.match(server["recoveryInstanceId"])


def test_describe_recovery_instances_and_terminate(drs, clock):
    _launch_all(drs, clock, [server_id(3), server_id(4)])
    instances = drs.describe_recovery_instances()["items"]
    assert {i["sourceServerID"] for i in instances} == {server_id(3), server_id(4)}
    assert all(i["isDrill"] and i["ec2InstanceState"] == "RUNNING" for i in instances)
    assert all(i["ec2InstanceID"] == i["recoveryInstanceID"] for i in instances)
    by_source = drs.describe_recovery_instances(filters={"sourceServerIDs": [server_id(3)]})["items"]
    assert [i["sourceServerID"] for i in by_source] == [server_id(3)]

    terminate = drs.terminate_recovery_instances(recoveryInstanceIDs=[i["recoveryInstanceID"] for i in instances])
    job = terminate["job"]
    assert (job["type"], job["initiatedBy"]) == ("TERMINATE", "TERMINATE_RECOVERY_INSTANCES")
    shutting = drs.describe_recovery_instances()["items"]
    assert {i["ec2InstanceState"] for i in shutting} == {"SHUTTING-DOWN"}
    clock.advance(600)
    assert drs.describe_recovery_instances()["items"] == []
    done = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"][0]
    assert done["status"] == "COMPLETED"
    assert {p["launchStatus"] for p in done["participatingServers"]} == {"TERMINATED"}
    server = drs.describe_source_servers(filters={"sourceServerIDs": [server_id(3)]})["items"][0]
    assert "recoveryInstanceId" not in server
    assert server["lifeCycle"]["lastLaunch"]["status"] == "TERMINATED"
    events = [item["event"] for item in drs.describe_job_log_items(jobID=job["jobID"])["items"]]
    assert events == ["JOB_START", "CLEANUP_START", "CLEANUP_START", "CLEANUP_END", "CLEANUP_END", "JOB_END"]


def test_job_log_items_follow_the_launch(drs, clock):
    job = _launch_all(drs, clock, [server_id(5)])
    items = drs.describe_job_log_items(jobID=job["jobID"])["items"]
    assert [item["event"] for item in items] == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
        "CONVERSION_END",
        "LAUNCH_START",
        "JOB_END",
    ]
    times = [item["logDateTime"] for item in items]
    assert times == sorted(times)
    assert items[1]["eventData"]["sourceServerID"] == server_id(5)


def test_tags_on_jobs_servers_and_instances(drs, clock):
    job = _launch_all(drs, clock, [server_id(6)])
    server_arn = drs.describe_source_servers(filters={"sourceServerIDs": [server_id(6)]})["items"][0]["arn"]
    instance_arn = drs.describe_recovery_instances()["items"][0]["arn"]
    for arn in (job["arn"], server_arn, instance_arn):
        drs.tag_resource(resourceArn=arn, tags={"Owner": "platform", "Env": "dr"})
        drs.untag_resource(resourceArn=arn, tagKeys=["Env"])
        assert drs.list_tags_for_resource(resourceArn=arn)["tags"]["Owner"] == "platform"
        assert "Env" not in drs.list_tags_for_resource(resourceArn=arn)["tags"]
    assert drs.list_tags_for_resource(resourceArn=server_arn)["tags"] == {"Tier": "app", "Owner": "platform"}


@pytest.mark.parametrize("operation", ["describe_jobs", "describe_source_servers", "describe_recovery_instances"])
def test_paginators_walk_every_page(drs, clock, operation):
    for n in range(7):
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)}], isDrill=True)
    clock.advance(3600)
    pages = list(drs.get_paginator(operation).paginate(PaginationConfig={"PageSize": 3}))
    items = [item for page in pages for item in page["items"]]
    assert len(pages) >= 3
    assert all(len(page["items"]) <= 3 for page in pages)
    assert len(items) == len({str(sorted(i.items())) for i in items}) >= 7
    assert items == drs.__getattribute__(operation)(maxResults=1000)["items"]


def test_job_log_paginator(drs, clock):
    job = _launch_all(drs, clock, [server_id(n) for n in range(4)])
    pages = list(
        drs.get_paginator("describe_job_log_items").paginate(jobID=job["jobID"], PaginationConfig={"PageSize": 5})
    )
    events = [item["event"] for page in pages for item in page["items"]]
    assert len(pages) == 5  # 1 JOB_START + 4 x 5 per-server events + 1 JOB_END = 22 items
    assert len(events) == 22
    assert events[0] == "JOB_START" and events[-1] == "JOB_END"


# -- errors, each as a typed exception ---------------------------------------------------------------------------


def test_conflict_when_server_is_in_an_active_job(drs):
    first = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]
    with pytest.raises(drs.exceptions.ConflictException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    error = raised.value.response
    assert error["Error"]["Code"] == "ConflictException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error["resourceId"] == server_id(0)
    assert error["resourceType"] == "SOURCE_SERVER"
    assert first["jobID"] in error["Error"]["Message"]


def test_unknown_source_server_is_resource_not_found_naming_it(drs):
    with pytest.raises(drs.exceptions.ResourceNotFoundException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(99, "x")}])
    assert raised.value.response["resourceId"] == server_id(99, "x")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_pattern_violation_is_a_validation_exception_with_field_list(drs):
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": "s-NOT_A_VALID_ID!!!"}])
    response = raised.value.response
    assert response["reason"] == "fieldValidationFailed"
    assert response["fieldList"][0]["name"] == "sourceServers[0].sourceServerID"
    assert "pattern" in response["fieldList"][0]["message"]


def test_maximum_sizes_are_enforced_by_the_service_not_the_client(drs):
    too_many = [{"sourceServerID": server_id(n)} for n in range(201)]
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.start_recovery(sourceServers=too_many)
    assert raised.value.response["fieldList"][0]["name"] == "sourceServers"
    assert "less than or equal to 200" in raised.value.response["fieldList"][0]["message"]


def test_ranges_and_types_are_checked_server_side(serve):
    drs = drs_client(serve(estate(1)).endpoint, validate_params=False)
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.describe_jobs(maxResults=0)
    assert raised.value.response["fieldList"] == [
        {"name": "maxResults", "message": "Member must have value greater than or equal to 1 (got 0)"}
    ]
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill="yes")
    assert raised.value.response["fieldList"] == [{"name": "isDrill", "message": "expected a boolean, got str"}]
    with pytest.raises(drs.exceptions.ValidationException) as raised:
        drs.start_recovery(sourceServers=[{}])
    assert raised.value.response["fieldList"] == [
        {"name": "sourceServers[0].sourceServerID", "message": "Member must not be null"}
    ]


def test_quota_servers_per_job(serve):
    drs = drs_client(serve(estate(6, quotas={"maxServersPerJob": 5})).endpoint)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(6)])
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert raised.value.response["quotaCode"] == "MaxServersPerJob"


def test_quota_concurrent_jobs(serve, clock):
    drs = drs_client(serve(estate(4, quotas={"maxConcurrentJobs": 3})).endpoint)
    for n in range(3):
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)}], isDrill=True)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(3)}], isDrill=True)
    assert raised.value.response["quotaCode"] == "MaxConcurrentJobs"
    clock.advance(3600)  # the three jobs complete, freeing the quota
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(3)}], isDrill=True)


def test_quota_servers_in_active_jobs(serve):
    drs = drs_client(serve(estate(10, quotas={"maxServersInActiveJobs": 8})).endpoint)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(5)], isDrill=True)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(5, 9)], isDrill=True)
    assert raised.value.response["quotaCode"] == "MaxServersInAllActiveJobs"
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(5, 8)], isDrill=True)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("ThrottlingException", 429),
        ("InternalServerException", 500),
        ("AccessDeniedException", 403),
        ("UninitializedAccountException", 400),
    ],
)
def test_injected_operation_faults_have_the_model_status(serve, error, status):
    faults = [{"operation": "DescribeSourceServers", "error": error, "count": 1}]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    with pytest.raises(ClientError) as raised:
        drs.describe_source_servers()
    assert raised.value.response["Error"]["Code"] == error
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert isinstance(raised.value, getattr(drs.exceptions, error))
    assert len(drs.describe_source_servers()["items"]) == 1  # count 1: the next call succeeds


def test_tagging_an_unknown_arn_is_resource_not_found(drs):
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.list_tags_for_resource(resourceArn="arn:aws:drs:us-east-1:111122223333:job/drsjob-00000000000000000")


def test_throttling_is_retried_by_botocore_itself(serve):
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 2}]
    running = serve(estate(1, faults=faults))
    drs = drs_client(running.endpoint, retries=3)
    assert drs.describe_jobs()["items"] == []
    assert running.emulator.calls["DescribeJobs"] == 3


def test_one_emulator_serves_every_region(serve):
    scenario = estate(2)
    scenario["servers"][1]["region"] = "eu-west-1"
    running = serve(scenario)
    east, west = drs_client(running.endpoint, "us-east-1"), drs_client(running.endpoint, "eu-west-1")
    assert [s["sourceServerID"] for s in east.describe_source_servers()["items"]] == [server_id(0)]
    assert [s["sourceServerID"] for s in west.describe_source_servers()["items"]] == [server_id(1)]
    with pytest.raises(east.exceptions.ResourceNotFoundException) as raised:
        east.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}])
    assert "eu-west-1" in raised.value.response["Error"]["Message"]
    job = west.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}], isDrill=True)["job"]
    assert job["arn"].startswith("arn:aws:drs:eu-west-1:")
    assert east.describe_jobs()["items"] == []
