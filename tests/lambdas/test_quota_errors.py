"""How a ServiceQuotaExceededException is read (lambdas/core/quota_errors.py via aws_errors.classify), on the
emulator's real answers: its own quotas, and faults carrying any quotaCode or message a scenario gives."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.core.aws_errors import UNKNOWN_QUOTA, AwsFailure, classify
from lambdas.core.quota_errors import QUOTAS, drs_quota
from tests.conftest import drs_client, estate, server_id

QUOTA = "ServiceQuotaExceededException"
CONCURRENT, ALL_JOBS, PER_JOB = (
    "Concurrent jobs in progress",
    "Max source servers in all Jobs",
    "Max source servers in a single Job",
)


def refused(serve, scenario: dict[str, Any], servers: int = 1) -> ClientError:
    """The ClientError boto3 raises for one StartRecovery of the first `servers` servers."""
    drs = drs_client(serve(scenario).endpoint)
    with pytest.raises(ClientError) as raised:
        drs.start_recovery(sourceServers=[{"sourceServerID": server_id(n)} for n in range(servers)], isDrill=True)
    return raised.value


def injected(serve, quota_code: str | None, message: str | None) -> AwsFailure:
    fault: dict[str, Any] = {"operation": "StartRecovery", "error": QUOTA}
    fault |= {"quotaCode": quota_code} if quota_code else {}
    fault |= {"message": message} if message else {}
    failure = classify(refused(serve, estate(1, faults=[fault])))
    assert failure is not None and failure.code == QUOTA and failure.quota_code == quota_code
    return failure


@pytest.mark.parametrize(
    ("quota_code", "message", "kind", "quota"),
    [
        ("MaxConcurrentJobs", None, "capacity", CONCURRENT),
        ("L-D88FAC3A", None, "capacity", CONCURRENT),  # Service Quotas' code for the same quota
        ("l-05afa8c6", "Quota exceeded", "capacity", ALL_JOBS),  # codes compare without case
        ("MaxServersInAllActiveJobs", None, "capacity", ALL_JOBS),
        ("L-DD6D028C", None, "capacity", "Max concurrent Jobs per source server"),
        ("MaxServersPerJob", None, "chunk_too_large", PER_JOB),
        ("L-B827C881", "Quota exceeded", "chunk_too_large", PER_JOB),
        # a code we do not know, whose message names a capacity limit: read by its message
        ("L-0A1B2C3D", "Exceeded the number of concurrent jobs in progress for this account", "capacity", CONCURRENT),
        (None, "Too many servers in active jobs; retry later", "capacity", ALL_JOBS),
        (None, "A job can include at most 100 source servers; this request has 150", "chunk_too_large", PER_JOB),
        # account totals that no job's end frees: stop and say which quota to raise
        ("L-C1D14A2B", None, "permanent", "Max Total replicating source servers Per AWS Account"),
        (
            None,
            "You reached the maximum of 300 replicating source servers",
            "permanent",
            "Max Total replicating source servers Per AWS Account",
        ),
        ("L-E28BE5E0", None, "permanent", "Max Total source servers Per AWS Account"),
    ],
)
def test_a_quota_error_is_read_by_its_code_else_by_its_message(serve, quota_code, message, kind, quota):
    failure = injected(serve, quota_code, message)
    assert (failure.kind, failure.quota) == (kind, quota)
    assert failure.short().startswith(f"{QUOTA} [{quota_code or 'no quotaCode'} ({quota})]")


@pytest.mark.parametrize(
    ("quota_code", "message"),
    [("L-9Z9Z9Z9Z", "Quota exceeded for this resource"), (None, None), ("SomethingNew", "Please slow down")],
)
def test_a_quota_this_workflow_does_not_know_is_waited_for_and_named(serve, quota_code, message):
    failure = injected(serve, quota_code, message)
    assert (failure.kind, failure.quota) == ("capacity", None)
    label = f"{quota_code or 'no quotaCode'} ({UNKNOWN_QUOTA})"
    assert failure.quota_label == label and failure.short().startswith(f"{QUOTA} [{label}]: ")


def test_a_long_message_is_cut_after_the_quota_never_before_it(serve):
    failure = injected(serve, "L-9Z9Z9Z9Z", "x" * 400)
    short = failure.short()
    assert len(short) == 160 and short.endswith("…") and "L-9Z9Z9Z9Z (unknown quota" in short


def test_the_emulators_own_quota_answers_read_the_same_by_code_and_by_message_alone(serve):
    answers = {
        PER_JOB: refused(serve, estate(3, quotas={"maxServersPerJob": 2}), servers=3),
        CONCURRENT: refused(serve, estate(2, quotas={"maxConcurrentJobs": 1}, externalJobs=[{"seconds": 60}])),
        ALL_JOBS: refused(
            serve, estate(2, quotas={"maxServersInActiveJobs": 3}, externalJobs=[{"servers": 3, "seconds": 60}])
        ),
    }
    for quota, error in answers.items():
        by_code = classify(error)
        assert by_code is not None and by_code.quota == quota, error.response
        # the same answer without its quotaCode: its message alone says which quota it is
        by_message = injected(serve, None, error.response["Error"]["Message"])
        assert (by_message.kind, by_message.quota) == (by_code.kind, quota)


def test_each_quota_is_found_by_its_own_service_quotas_name_and_no_code_names_two():
    for quota in QUOTAS:
        assert drs_quota(None, f"Quota '{quota.name}' exceeded") is quota, quota.name
    codes = [code for quota in QUOTAS for code in quota.codes]
    assert len(codes) == len(set(codes))
