"""Operation faults in time windows, for every operation, with the message a scenario gives, and quota errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from drsctl.emulator import Scenario
from tests.conftest import drs_client, estate, server_id

DENIED = "User: arn:aws:sts::111122223333:assumed-role/x is not authorized to perform: drs:StartRecovery"


def _outcome(call):
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"


def test_a_window_fault_hits_every_call_whose_time_is_in_the_window(serve, clock):
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "after": 600, "seconds": 120}]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    t0 = clock.now()
    seen = []
    for offset in (0, 599, 600, 600, 600, 650, 719, 720, 721):
        clock.advance_to(t0 + offset)
        seen.append((offset, _outcome(drs.describe_jobs)))
    assert seen == [
        (0, "ok"),
        (599, "ok"),
        (600, "ThrottlingException"),
        (600, "ThrottlingException"),
        (600, "ThrottlingException"),
        (650, "ThrottlingException"),
        (719, "ThrottlingException"),
        (720, "ok"),  # the window is [600, 720)
        (721, "ok"),
    ]
    assert _outcome(drs.describe_source_servers) == "ok"  # other operations are untouched


def test_a_window_counts_from_the_emulators_start_and_a_clock_jump_can_skip_it(serve, clock):
    faults = [{"operation": "DescribeJobs", "error": "InternalServerException", "after": 60, "seconds": 30}]
    running = serve(estate(1, faults=faults))
    drs = drs_client(running.endpoint)
    assert running.emulator.origin == clock.now()
    clock.advance(1000)  # straight past the window: a window fault is about time, not about calls
    assert _outcome(drs.describe_jobs) == "ok"


def test_a_window_fault_defaults_to_opening_at_once_and_carries_its_message(serve, clock):
    faults = [{"operation": "StartRecovery", "error": "AccessDeniedException", "seconds": 60, "message": DENIED}]
    running = serve(estate(1, faults=faults))
    drs = drs_client(running.endpoint)
    with pytest.raises(drs.exceptions.AccessDeniedException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    assert raised.value.response["Error"]["Message"] == DENIED
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert running.emulator.jobs == {}  # an error fault means the operation did not run
    clock.advance(60)
    drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
    assert len(running.emulator.jobs) == 1


def test_a_count_fault_carries_its_message_too(serve):
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "message": "Rate exceeded"}]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    with pytest.raises(drs.exceptions.ThrottlingException) as raised:
        drs.describe_jobs()
    assert raised.value.response["Error"]["Message"] == "Rate exceeded"
    assert drs.describe_jobs()["items"] == []  # count defaults to 1


def test_the_default_message_names_the_error_and_the_operation(serve):
    faults = [{"operation": "*", "error": "InternalServerException", "seconds": 10}]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    with pytest.raises(drs.exceptions.InternalServerException) as raised:
        drs.describe_source_servers()
    message = raised.value.response["Error"]["Message"]
    assert message == "Injected fault: InternalServerException on DescribeSourceServers (scenario faults)"


def test_a_star_window_fails_every_operation(serve, clock):
    faults = [{"operation": "*", "error": "InternalServerException", "after": 10, "seconds": 5}]
    running = serve(estate(2, faults=faults))
    drs = drs_client(running.endpoint)
    job = drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]
    t0 = clock.now()
    calls = {
        "StartRecovery": lambda: drs.start_recovery(sourceServers=[{"sourceServerID": server_id(1)}], isDrill=True),
        "DescribeJobs": drs.describe_jobs,
        "DescribeSourceServers": drs.describe_source_servers,
        "DescribeRecoveryInstances": drs.describe_recovery_instances,
        "DescribeJobLogItems": lambda: drs.describe_job_log_items(jobID=job["jobID"]),
        "DescribeRecoverySnapshots": lambda: drs.describe_recovery_snapshots(sourceServerID=server_id(0)),
        "ListTagsForResource": lambda: drs.list_tags_for_resource(resourceArn=job["arn"]),
    }
    clock.advance_to(t0 + 10)
    assert {name: _outcome(call) for name, call in calls.items()} == dict.fromkeys(calls, "InternalServerException")
    assert len(running.emulator.jobs) == 1  # the StartRecovery in the window launched nothing
    clock.advance_to(t0 + 15)
    assert {name: _outcome(call) for name, call in calls.items()} == dict.fromkeys(calls, "ok")
    assert len(running.emulator.jobs) == 2


def test_window_faults_come_first_and_count_faults_wait_for_the_window_to_close(serve, clock):
    faults = [
        {"operation": "DescribeJobs", "error": "InternalServerException", "count": 2},
        {"operation": "DescribeJobs", "error": "ThrottlingException", "seconds": 30},
    ]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    t0 = clock.now()
    in_window = [_outcome(drs.describe_jobs) for _ in range(3)]
    clock.advance_to(t0 + 30)
    after_window = [_outcome(drs.describe_jobs) for _ in range(3)]
    assert in_window == ["ThrottlingException"] * 3
    assert after_window == ["InternalServerException", "InternalServerException", "ok"]


def test_a_star_count_fault_is_consumed_by_whichever_operation_comes_first(serve):
    faults = [
        {"operation": "*", "error": "ThrottlingException", "count": 2},
        {"operation": "DescribeJobs", "error": "InternalServerException"},
    ]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    seen = [_outcome(drs.describe_source_servers), _outcome(drs.describe_jobs), _outcome(drs.describe_jobs)]
    seen.append(_outcome(drs.describe_jobs))
    assert seen == ["ThrottlingException", "ThrottlingException", "InternalServerException", "ok"]


def test_count_defaults_to_one_only_when_no_window_is_given():
    scenario = Scenario.model_validate(
        {
            "faults": [
                {"operation": "DescribeJobs", "error": "ThrottlingException"},
                {"operation": "DescribeJobs", "error": "ThrottlingException", "seconds": 5},
            ]
        }
    )
    count_fault, window_fault = scenario.faults
    assert (count_fault.count, count_fault.window) == (1, None)
    assert (window_fault.count, window_fault.window) == (None, (0.0, 5.0))


# -- where a boto3 caller finds quotaCode ----------------------------------------------------------------------


def test_boto3_exposes_quota_code_at_the_top_level_of_the_error_response(serve):
    drs = drs_client(serve(estate(3, quotas={"maxServersPerJob": 2})).endpoint)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(3)], isDrill=True)
    response = raised.value.response
    # botocore merges the members of the modeled error shape into the top level of ClientError.response
    # (botocore.endpoint.Endpoint._add_modeled_error_fields); Error holds only Code and Message.
    assert response["quotaCode"] == "MaxServersPerJob"
    assert response["serviceCode"] == "drs"
    assert response["resourceType"] == "Job"
    assert response["code"] == "ServiceQuotaExceededException"
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert "quotaCode" not in response["Error"]
    assert isinstance(raised.value, ClientError)


def test_a_quota_fault_carries_the_quota_code_and_message_the_scenario_gives(serve):
    faults = [
        {
            "operation": "StartRecovery",
            "error": "ServiceQuotaExceededException",
            "quotaCode": "L-D88FAC3A",
            "message": "Concurrent jobs in progress exceeded",
        },
        {"operation": "StartRecovery", "error": "ServiceQuotaExceededException"},
    ]
    drs = drs_client(serve(estate(1, faults=faults)).endpoint)
    for quota_code, message in (("L-D88FAC3A", "Concurrent jobs in progress exceeded"), (None, "Injected fault")):
        with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as raised:
            drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)
        response = raised.value.response
        assert response.get("quotaCode") == quota_code and response["serviceCode"] == "drs"
        assert response["Error"]["Message"].startswith(message)
    assert drs.start_recovery(sourceServers=[{"sourceServerID": server_id(0)}], isDrill=True)["job"]  # faults spent


def test_a_quota_code_on_another_error_is_refused_naming_the_field():
    fault = {"operation": "StartRecovery", "error": "ThrottlingException", "quotaCode": "L-D88FAC3A"}
    with pytest.raises(ValidationError, match=r"quotaCode is a member of ServiceQuotaExceededException"):
        Scenario.model_validate({"faults": [fault]})
