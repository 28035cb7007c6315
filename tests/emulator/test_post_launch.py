"""postLaunch: DRS post-launch actions in DescribeJobs' launchActionsStatus, via plain boto3 on the virtual clock."""

from __future__ import annotations

import re

import botocore.session
import pytest

from drsctl.clock import parse_iso8601
from drsctl.emulator.validation import validate_input
from tests.conftest import drs_client, estate, server_id

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Exact times: every launch takes 100 s, no jitter.
EXACT = {"drill": {"snapshot": 0, "preparation": 0, "conversion": 0, "launch": 100}, "jitter": 0}


def _scenario(post_launch: dict | None = None, **more):
    scenario = estate(3, timing=EXACT)
    if post_launch is not None:
        scenario["servers"][0]["postLaunch"] = post_launch
    scenario["servers"][0].update(more)
    return scenario


def _participant(drs, job_id, n=0):
    listed = drs.describe_jobs(filters={"jobIDs": [job_id]})
    shape = botocore.session.get_session().get_service_model("drs").operation_model("DescribeJobs").output_shape
    validate_input(shape, {k: v for k, v in listed.items() if k != "ResponseMetadata"})  # sizes, patterns, enums
    [job] = listed["items"]
    return job, next(p for p in job["participatingServers"] if p["sourceServerID"] == server_id(n))


def _start(drs, *servers):
    return drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in servers], isDrill=True)["job"]


def test_a_post_launch_action_runs_after_the_launch_then_succeeds(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 300, "result": "SUCCEEDED"})).endpoint)
    t0 = clock.now()
    job = _start(drs, 0)
    _, pending = _participant(drs, job["jobID"])
    assert pending["launchActionsStatus"] == {"runs": []}  # nothing runs before there is an instance

    clock.advance_to(t0 + 100)  # launched
    described, launched = _participant(drs, job["jobID"])
    assert described["status"] == "COMPLETED"  # the job ends with the launch; the action runs on
    assert launched["launchStatus"] == "LAUNCHED"
    status = launched["launchActionsStatus"]
    assert parse_iso8601(status["ssmAgentDiscoveryDatetime"]) == t0 + 100
    [run] = status["runs"]
    assert run["status"] == "IN_PROGRESS"
    assert "failureReason" not in run
    assert UUID.match(run["runId"])
    action = run["action"]
    assert UUID.match(action["actionId"])
    assert (action["type"], action["category"], action["active"], action["optional"]) == (
        "SSM_COMMAND",
        "VALIDATION",
        True,
        False,
    )

    clock.advance_to(t0 + 399)
    assert _participant(drs, job["jobID"])[1]["launchActionsStatus"]["runs"][0]["status"] == "IN_PROGRESS"
    clock.advance_to(t0 + 400)
    [done] = _participant(drs, job["jobID"])[1]["launchActionsStatus"]["runs"]
    assert done["status"] == "SUCCEEDED"
    assert done["runId"] == run["runId"]
    assert "failureReason" not in done


def test_a_failing_post_launch_action_reports_failed_with_a_reason(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 60, "result": "FAILED"})).endpoint)
    t0 = clock.now()
    job = _start(drs, 0, 1)
    clock.advance_to(t0 + 159)
    assert _participant(drs, job["jobID"])[1]["launchActionsStatus"]["runs"][0]["status"] == "IN_PROGRESS"
    clock.advance_to(t0 + 160)
    described, failed = _participant(drs, job["jobID"])
    [run] = failed["launchActionsStatus"]["runs"]
    assert run["status"] == "FAILED"
    assert "postLaunch" in run["failureReason"]
    assert failed["launchStatus"] == "LAUNCHED"  # a failed post-launch action does not undo the launch
    assert described["status"] == "COMPLETED"
    other = next(p for p in described["participatingServers"] if p["sourceServerID"] == server_id(1))
    assert other["launchActionsStatus"] == {"runs": []}


def test_servers_without_post_launch_report_no_runs_as_drs_does(serve, clock):
    drs = drs_client(serve(_scenario()).endpoint)
    job = _start(drs, 0, 1, 2)
    for _ in range(3):
        clock.advance(60)
        [described] = drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
        assert all(p["launchActionsStatus"] == {"runs": []} for p in described["participatingServers"])


def test_a_zero_second_action_has_ended_when_the_launch_is_seen(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 0})).endpoint)  # result defaults to SUCCEEDED
    job = _start(drs, 0)
    clock.advance(100)
    assert _participant(drs, job["jobID"])[1]["launchActionsStatus"]["runs"][0]["status"] == "SUCCEEDED"


def test_no_post_launch_action_without_a_launched_instance(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 10}, faults=["launch_failure"])).endpoint)
    job = _start(drs, 0)
    clock.advance(500)
    _, failed = _participant(drs, job["jobID"])
    assert failed["launchStatus"] == "FAILED"
    assert failed["launchActionsStatus"] == {"runs": []}


def test_each_launch_runs_its_own_action(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 30})).endpoint)
    first = _start(drs, 0)
    clock.advance(200)
    second = _start(drs, 0)
    clock.advance(110)
    one = _participant(drs, first["jobID"])[1]["launchActionsStatus"]["runs"][0]
    two = _participant(drs, second["jobID"])[1]["launchActionsStatus"]["runs"][0]
    assert (one["status"], two["status"]) == ("SUCCEEDED", "IN_PROGRESS")
    assert one["runId"] != two["runId"]
    assert one["action"]["actionId"] == two["action"]["actionId"]  # the same configured action, run twice


# -- what is configured: ListLaunchActions ------------------------------------------------------------------------


def _listed(drs, server: str, **more):
    """Every page of ListLaunchActions for `server`, each checked against the model's output shape."""
    shape = botocore.session.get_session().get_service_model("drs").operation_model("ListLaunchActions").output_shape
    items = []
    for page in drs.get_paginator("list_launch_actions").paginate(resourceId=server, **more):
        validate_input(shape, {k: v for k, v in page.items() if k != "ResponseMetadata"})
        items.extend(page["items"])
    return items


def test_list_launch_actions_lists_the_action_that_runs_and_nothing_for_a_server_without_one(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 30})).endpoint)
    [configured] = _listed(drs, server_id(0))
    assert UUID.match(configured["actionId"])
    assert (configured["active"], configured["optional"], configured["order"]) == (True, False, 1001)
    assert _listed(drs, server_id(1)) == []  # no postLaunch: nothing configured
    job = _start(drs, 0)
    clock.advance(100)
    [run] = _participant(drs, job["jobID"])[1]["launchActionsStatus"]["runs"]
    assert run["action"] == configured  # the run names the configured action, field for field


def test_list_launch_actions_filters_by_action_id_and_pages(serve):
    drs = drs_client(serve(_scenario({"seconds": 30})).endpoint)
    [configured] = _listed(drs, server_id(0))
    assert _listed(drs, server_id(0), filters={"actionIds": [configured["actionId"]]}) == [configured]
    other = "00000000-0000-0000-0000-000000000000"
    assert _listed(drs, server_id(0), filters={"actionIds": [other]}) == []
    assert _listed(drs, server_id(0), PaginationConfig={"PageSize": 1}) == [configured]


def test_list_launch_actions_of_an_unknown_server_or_a_template_is_not_found(serve):
    drs = drs_client(serve(_scenario({"seconds": 30})).endpoint)
    for resource, kind in (("s-" + "9" * 17, "SOURCE_SERVER"), ("lct-" + "1" * 17, "LAUNCH_CONFIGURATION_TEMPLATE")):
        with pytest.raises(drs.exceptions.ResourceNotFoundException) as raised:
            drs.list_launch_actions(resourceId=resource)
        assert (raised.value.response["resourceId"], raised.value.response["resourceType"]) == (resource, kind)
    with pytest.raises(drs.exceptions.ValidationException) as invalid:
        drs.list_launch_actions(resourceId="i-0123456789abcdef0")  # neither a server nor a template ID
    assert invalid.value.response["fieldList"][0]["name"] == "resourceId"


def test_an_agent_never_discovered_leaves_the_configured_action_without_a_run(serve, clock):
    drs = drs_client(serve(_scenario({"seconds": 30, "result": "FAILED", "agentDiscovered": False})).endpoint)
    assert len(_listed(drs, server_id(0))) == 1  # configured all the same
    job = _start(drs, 0)
    for _ in range(5):
        clock.advance(3600)
        described, launched = _participant(drs, job["jobID"])
        assert (described["status"], launched["launchStatus"]) == ("COMPLETED", "LAUNCHED")
        # no ssmAgentDiscoveryDatetime and no run, ever: what DRS shows when it never finds the SSM agent
        assert launched["launchActionsStatus"] == {"runs": []}
