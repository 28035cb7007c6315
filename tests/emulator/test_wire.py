"""Raw HTTP against the emulator: the wire details botocore hides (status codes, headers, error bodies)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import quote, urlsplit

import pytest

from tests.conftest import estate, server_id

SIGNED_WEST = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-west-2/drs/aws4_request, SignedHeaders=host"


def request(endpoint, method, path, body=None, headers=None):
    url = urlsplit(endpoint)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    payload = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
    connection.request(method, path, body=payload, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data) if data else None


@pytest.fixture
def endpoint(serve):
    scenario = estate(3)
    scenario["servers"][2]["region"] = "us-west-2"
    return serve(scenario).endpoint


def test_start_recovery_is_202_with_a_request_id(endpoint):
    status, headers, body = request(
        endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(0)}]}
    )
    assert status == 202
    assert headers["content-type"] == "application/json"
    assert len(headers["x-amzn-requestid"]) == 36
    assert body["job"]["status"] == "PENDING"


def test_malformed_json_is_cannot_parse(endpoint):
    status, headers, body = request(endpoint, "POST", "/DescribeJobs", b"{not json")
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationException"
    assert body["reason"] == "cannotParse"
    assert body["code"] == "ValidationException"
    assert "JSON" in body["message"]


def test_a_json_body_that_is_not_an_object_is_cannot_parse(endpoint):
    status, _, body = request(endpoint, "POST", "/DescribeJobs", [1, 2])
    assert status == 400
    assert body["reason"] == "cannotParse"


def test_wrong_types_list_every_field(endpoint):
    status, headers, body = request(
        endpoint, "POST", "/StartRecovery", {"sourceServers": "s-1", "isDrill": 1, "tags": {"k": 5}}
    )
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationException"
    assert body["reason"] == "fieldValidationFailed"
    assert {field["name"] for field in body["fieldList"]} == {"sourceServers", "isDrill", "tags.k"}


def test_throttling_is_429_with_retry_after(serve):
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 1}]
    running = serve(estate(1, faults=faults))
    status, headers, body = request(running.endpoint, "POST", "/DescribeJobs", {})
    assert status == 429
    assert headers["x-amzn-errortype"] == "ThrottlingException"
    assert headers["retry-after"] == "1"
    assert body["message"].startswith("Injected fault: ThrottlingException")
    assert "code" not in body  # the ThrottlingException shape has no code member
    assert request(running.endpoint, "POST", "/DescribeJobs", {})[0] == 200


def test_conflict_body_carries_code_and_resource(endpoint):
    request(endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(1)}]})
    status, headers, body = request(
        endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(1)}]}
    )
    assert status == 409
    assert headers["x-amzn-errortype"] == "ConflictException"
    assert body["code"] == "ConflictException"
    assert body["resourceId"] == server_id(1)
    assert body["resourceType"] == "SOURCE_SERVER"


def test_region_comes_from_the_signing_scope(endpoint):
    _, _, east = request(endpoint, "POST", "/DescribeSourceServers", {})
    _, _, west = request(endpoint, "POST", "/DescribeSourceServers", {}, {"Authorization": SIGNED_WEST})
    assert [s["sourceServerID"] for s in east["items"]] == [server_id(0), server_id(1)]
    assert [s["sourceServerID"] for s in west["items"]] == [server_id(2)]


def test_region_comes_from_the_host_when_unsigned(endpoint):
    _, _, west = request(endpoint, "POST", "/DescribeSourceServers", {}, {"Host": "drs.us-west-2.amazonaws.com"})
    assert [s["sourceServerID"] for s in west["items"]] == [server_id(2)]


def test_tag_routes_take_the_percent_encoded_arn(endpoint):
    _, _, body = request(endpoint, "POST", "/DescribeSourceServers", {})
    arn = body["items"][0]["arn"]
    path = "/tags/" + quote(arn, safe="")
    assert request(endpoint, "POST", path, {"tags": {"a": "1", "b": "2"}})[0] == 200
    assert request(endpoint, "DELETE", path + "?tagKeys=a")[0] == 200
    status, _, tags = request(endpoint, "GET", path)
    assert status == 200
    assert tags == {"tags": {"Tier": "app", "b": "2"}}


def test_unknown_operation(endpoint):
    status, headers, body = request(endpoint, "POST", "/CreateRecoveryPlan", {})
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationException"
    assert body["reason"] == "unknownOperation"


def test_a_bad_pagination_token_names_the_field(endpoint):
    status, _, body = request(endpoint, "POST", "/DescribeJobs", {"nextToken": "garbage"})
    assert status == 400
    assert body["fieldList"][0]["name"] == "nextToken"


def test_dropped_response_closes_the_connection_after_the_job_exists(serve):
    faults = [{"operation": "StartRecovery", "error": "drop_response", "count": 1}]
    running = serve(estate(1, faults=faults))
    with pytest.raises(http.client.RemoteDisconnected):
        request(running.endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(0)}]})
    _, _, jobs = request(running.endpoint, "POST", "/DescribeJobs", {})
    assert len(jobs["items"]) == 1


def test_a_quota_error_body_carries_quota_code_and_service_code(serve):
    running = serve(estate(2, quotas={"maxConcurrentJobs": 1}))
    request(running.endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(0)}]})
    status, headers, body = request(
        running.endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(1)}]}
    )
    assert status == 402
    assert headers["x-amzn-errortype"] == "ServiceQuotaExceededException"
    assert body["quotaCode"] == "MaxConcurrentJobs"
    assert body["serviceCode"] == "drs"
    assert body["code"] == "ServiceQuotaExceededException"


def test_a_fault_message_goes_into_the_body(serve):
    message = "User: arn:aws:sts::111122223333:assumed-role/x is not authorized to perform: drs:DescribeJobs"
    faults = [{"operation": "DescribeJobs", "error": "AccessDeniedException", "seconds": 5, "message": message}]
    running = serve(estate(1, faults=faults))
    status, headers, body = request(running.endpoint, "POST", "/DescribeJobs", {})
    assert (status, headers["x-amzn-errortype"], body["message"]) == (403, "AccessDeniedException", message)


def test_a_drop_response_window_drops_every_call_in_it_but_each_takes_effect(serve, clock):
    faults = [{"operation": "StartRecovery", "error": "drop_response", "seconds": 60}]
    running = serve(estate(2, faults=faults))
    for n in range(2):
        with pytest.raises(http.client.RemoteDisconnected):
            request(running.endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(n)}]})
    assert len(running.emulator.jobs) == 2
    clock.advance(60)  # the window is over: answered again, and the dropped call's job holds the server
    status, headers, _ = request(
        running.endpoint, "POST", "/StartRecovery", {"sourceServers": [{"sourceServerID": server_id(0)}]}
    )
    assert (status, headers["x-amzn-errortype"]) == (409, "ConflictException")
