"""lambdas/core/accounts.py: the stack's own account with the function's credentials, a member account through its
role (external ID, cached credentials, assumed again when they expire), against moto's STS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from drsctl.local import engine
from lambdas.core import accounts, aws_errors, drs
from lambdas.core.accounts import Target

OWN, MEMBER = "111122223333", "444455556666"


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> Iterator[engine.EngineStats]:
    """moto's STS (AssumeRole recorded and refused as AWS refuses it), the environment the stack sets."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "own",
        "AWS_SECRET_ACCESS_KEY": "own",
        "AWS_REGION": "us-east-1",
        accounts.ORCHESTRATOR_ACCOUNT: OWN,
        accounts.ORCHESTRATOR_PARTITION: "aws-us-gov",
        accounts.MEMBER_ROLE_NAME: "dr-member",
        accounts.MEMBER_EXTERNAL_ID: "shared-id",
    }.items():
        monkeypatch.setenv(name, value)
    stats = engine.EngineStats(assumable=lambda account: account == MEMBER)
    accounts.reset()
    with mock_aws(), engine.member_roles(stats):
        yield stats
    accounts.reset()


def _key(client: Any) -> str:
    return str(client._request_signer._credentials.access_key)


def test_the_stacks_own_account_uses_the_functions_credentials_and_assumes_nothing(sts):
    client = accounts.client("drs", Target(OWN, "us-east-1"), drs.READ_CONFIG)
    assert _key(client) == os.environ["AWS_ACCESS_KEY_ID"]  # the function's own (moto's mock sets its own)
    assert accounts.client("drs", Target(OWN, "us-east-1"), drs.READ_CONFIG) is client
    assert sts.assumed_roles == []


def test_a_member_account_is_reached_through_its_role_with_the_external_id_and_cached_credentials(sts):
    first = accounts.client("drs", Target(MEMBER, "us-east-1"), drs.READ_CONFIG)
    second = accounts.client("ec2", Target(MEMBER, "eu-west-1"), drs.READ_CONFIG)
    assert _key(first) == _key(second) != os.environ["AWS_ACCESS_KEY_ID"]
    assert engine.account_of_access_key(_key(first)) == MEMBER
    assert sts.assumed_roles == [(f"arn:aws-us-gov:iam::{MEMBER}:role/dr-member", "shared-id", False)]


def test_credentials_that_expire_soon_or_are_answered_expired_are_assumed_again(sts, monkeypatch):
    where = Target(MEMBER, "us-east-1")
    client = accounts.client("drs", where, drs.READ_CONFIG)
    # DRS answers ExpiredToken: the handler registered on the client drops the account's credentials
    client.meta.events.emit(
        "after-call.drs.DescribeJobs", parsed={"Error": {"Code": "ExpiredToken"}}, context={}, http_response=None
    )
    fresh = accounts.client("drs", where, drs.READ_CONFIG)
    assert fresh is not client and _key(fresh) != _key(client)
    assert len(sts.assumed_roles) == 2
    failure = aws_errors.classify(ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "X"))
    assert failure is not None and failure.kind == "transient"  # the step tries again, with the new credentials
    monkeypatch.setattr(accounts, "REFRESH_MARGIN_SECONDS", 3601)  # an hour's credentials are now too old to use
    accounts.client("drs", where, drs.READ_CONFIG)
    assert len(sts.assumed_roles) == 3


def test_a_role_that_cannot_be_assumed_raises_the_sts_error_naming_the_role(sts):
    with pytest.raises(ClientError) as refused:
        accounts.check_role("777788889999")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "arn:aws-us-gov:iam::777788889999:role/dr-member" in str(refused.value)
    accounts.check_role(OWN)  # the stack's own account needs no role
    assert [refused for _, _, refused in sts.assumed_roles] == [True]


def test_without_the_stacks_environment_the_own_account_is_asked_of_sts_once(sts, monkeypatch):
    monkeypatch.delenv(accounts.ORCHESTRATOR_ACCOUNT)
    accounts.reset()
    assert accounts.home_account() == boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
