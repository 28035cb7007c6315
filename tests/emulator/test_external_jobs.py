"""externalJobs: launch jobs of another tool in the same account, holding the job quotas while they run."""

from __future__ import annotations

import re

import botocore.session
import pytest

from drsctl.clock import parse_iso8601
from drsctl.emulator.validation import validate_input
from tests.conftest import drs_client, estate, server_id

SOURCE_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")


def _assert_valid_output(operation, result):
    """What the emulator sent satisfies the output shape of botocore's model (sizes, patterns, enums)."""
    shape = botocore.session.get_session().get_service_model("drs").operation_model(operation).output_shape
    validate_input(shape, {k: v for k, v in result.items() if k != "ResponseMetadata"})


def test_an_external_job_appears_at_its_time_and_holds_the_concurrent_jobs_quota(serve, clock):
    external = [{"after": 100, "seconds": 300, "servers": 3}]
    drs = drs_client(serve(estate(2, quotas={"maxConcurrentJobs": 1}, externalJobs=external)).endpoint)
    t0 = clock.now()
    clock.advance_to(t0 + 99)
    assert drs.describe_jobs()["items"] == []

    clock.advance_to(t0 + 100)
    listed = drs.describe_jobs()
    _assert_valid_output("DescribeJobs", listed)
    [job] = listed["items"]
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_DRILL", "STARTED")
    assert parse_iso8601(job["creationDateTime"]) == t0 + 100
    assert job["tags"] == {"ManagedBy": "another-tool"}
    servers = [p["sourceServerID"] for p in job["participatingServers"]]
    assert len(set(servers)) == 3
    assert all(SOURCE_SERVER_ID.match(s) for s in servers)
    assert not {server_id(0), server_id(1)} & set(servers)
    assert {p["launchStatus"] for p in job["participatingServers"]} == {"IN_PROGRESS"}
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    assert raised.value.response["quotaCode"] == "MaxConcurrentJobs"

    clock.advance_to(t0 + 400)
    done = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})
    _assert_valid_output("DescribeJobs", done)
    [job] = done["items"]
    assert job["status"] == "COMPLETED"
    assert parse_iso8601(job["endDateTime"]) == t0 + 400
    assert {p["launchStatus"] for p in job["participatingServers"]} == {"LAUNCHED"}
    assert all("recoveryInstanceID" not in p for p in job["participatingServers"])
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    assert drs.describe_recovery_instances()["items"] == []  # another tool's launches leave no instances here


def test_external_servers_count_against_servers_in_active_jobs(serve):
    scenario = estate(4, quotas={"maxServersInActiveJobs": 10}, externalJobs=[{"servers": 8, "seconds": 600}])
    drs = drs_client(serve(scenario).endpoint)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)
    assert raised.value.response["quotaCode"] == "MaxServersInAllActiveJobs"
    assert "8 servers are in active jobs" in raised.value.response["Error"]["Message"]
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(2)], isDrill=True)


def test_a_clock_jump_past_an_external_job_still_shows_its_exact_times(serve, clock):
    external = [{"after": 600, "seconds": 120, "servers": 2, "tags": {"Owner": "ops"}}]
    drs = drs_client(serve(estate(1, externalJobs=external)).endpoint)
    t0 = clock.now()
    clock.advance(7200)
    [job] = drs.describe_jobs()["items"]
    assert job["status"] == "COMPLETED"
    assert job["tags"] == {"Owner": "ops"}
    assert parse_iso8601(job["creationDateTime"]) - t0 == 600
    assert parse_iso8601(job["endDateTime"]) - t0 == 720
    log = drs.describe_job_log_items(jobID=job["jobID"])["items"]
    assert [(i["event"], parse_iso8601(i["logDateTime"]) - t0) for i in log] == [("JOB_START", 600), ("JOB_END", 720)]
    assert drs.list_tags_for_resource(resourceArn=job["arn"])["tags"] == {"Owner": "ops"}


def test_external_jobs_live_in_their_region_and_do_not_change_our_ids(serve, clock):
    external = [{"region": "us-west-2", "seconds": 300}, {"after": 30, "seconds": 60, "servers": 5}]
    with_external = drs_client(serve(estate(2, externalJobs=external)).endpoint)
    without = drs_client(serve(estate(2)).endpoint)
    west = drs_client(with_external.meta.endpoint_url, "us-west-2")
    clock.advance(30)
    east_jobs = with_external.describe_jobs()["items"]
    west_jobs = west.describe_jobs()["items"]
    assert [len(j["participatingServers"]) for j in east_jobs] == [5]
    assert [len(j["participatingServers"]) for j in west_jobs] == [1]
    assert west_jobs[0]["arn"].startswith("arn:aws:drs:us-west-2:")
    west_servers = {p["sourceServerID"] for p in west_jobs[0]["participatingServers"]}
    assert not west_servers & {p["sourceServerID"] for p in east_jobs[0]["participatingServers"]}
    ours = with_external.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]
    same = without.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]
    assert ours["jobID"] == same["jobID"]  # external jobs draw their IDs from their own generator


def test_external_jobs_are_deterministic_and_their_servers_are_not_ours(serve, clock):
    def run():
        drs = drs_client(serve(estate(1, externalJobs=[{"servers": 4, "seconds": 60}])).endpoint)
        [job] = drs.describe_jobs()["items"]
        return drs, job["jobID"], [p["sourceServerID"] for p in job["participatingServers"]]

    drs, job_id, servers = run()
    assert run()[1:] == (job_id, servers)
    assert [s["sourceServerID"] for s in drs.describe_source_servers()["items"]] == [server_id(0)]
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.start_recovery(sourceServers=[{"sourceServerID": servers[0]}], isDrill=True)


def test_an_external_job_is_due_at_the_origin_and_is_a_scheduled_event(serve, clock):
    running = serve(estate(1, externalJobs=[{"after": 50, "seconds": 10}]))
    assert running.emulator.jobs == {}  # nothing happens until a call arrives (or the driver advances)
    assert running.emulator.next_event_at() == clock.now() + 50
