"""The evaluator the permission tests rely on: it allows only what a statement is shown to allow."""

from __future__ import annotations

import pytest

from tests.policy_evaluator import Request, allowed, statement_allows, wildcard_match

INSTANCE = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"
TERMINATE_THROUGH_DRS = {
    "Effect": "Allow",
    "Action": "ec2:TerminateInstances",
    "Resource": "arn:aws:ec2:*:123456789012:instance/*",
    "Condition": {
        "Null": {"aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "false"},
        "Bool": {"aws:ViaAWSService": "true"},
    },
}
VIA_DRS = {"aws:ViaAWSService": "true", "aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "drs.amazonaws.com"}


def test_wildcards_match_whole_values_only():
    assert wildcard_match("arn:aws:ec2:*:*:instance/*", INSTANCE)
    assert not wildcard_match("arn:aws:ec2:*:*:volume/*", INSTANCE)
    assert wildcard_match("drs:Describe*", "drs:DescribeJobs")
    assert not wildcard_match("drs:Describe", "drs:DescribeJobs")
    assert wildcard_match("i-?bc", "i-0bc") and not wildcard_match("i-?bc", "i-00bc")
    assert wildcard_match("a.b", "a.b") and not wildcard_match("a.b", "axb")  # regex characters are literal


def test_actions_match_without_case_resources_with_it():
    statement = {"Effect": "Allow", "Action": ["DRS:describe*"], "Resource": "arn:aws:drs:*:1:job/*"}
    assert statement_allows(statement, Request("drs:DescribeJobs", "arn:aws:drs:us-east-1:1:job/drsjob-1"))
    assert not statement_allows(statement, Request("drs:DescribeJobs", "arn:aws:drs:us-east-1:1:JOB/drsjob-1"))
    assert not statement_allows(statement, Request("drs:StartRecovery", "arn:aws:drs:us-east-1:1:job/drsjob-1"))


def test_conditions_hold_only_with_the_context_that_satisfies_them():
    assert allowed([TERMINATE_THROUGH_DRS], Request("ec2:TerminateInstances", INSTANCE, VIA_DRS))
    assert not allowed([TERMINATE_THROUGH_DRS], Request("ec2:TerminateInstances", INSTANCE))  # no context at all
    direct = {**VIA_DRS, "aws:ViaAWSService": "false"}
    assert not allowed([TERMINATE_THROUGH_DRS], Request("ec2:TerminateInstances", INSTANCE, direct))
    untagged = {"aws:ViaAWSService": "true"}
    assert not allowed([TERMINATE_THROUGH_DRS], Request("ec2:TerminateInstances", INSTANCE, untagged))
    other_account = INSTANCE.replace("123456789012", "999999999999")
    assert not allowed([TERMINATE_THROUGH_DRS], Request("ec2:TerminateInstances", other_account, VIA_DRS))


def test_for_any_value_variables_and_unknown_operators():
    called_via = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["drs.amazonaws.com"]}}
    statement = {"Effect": "Allow", "Action": "ec2:CreateFleet", "Resource": "*", "Condition": called_via}
    assert allowed([statement], Request("ec2:CreateFleet", "x", {"aws:CalledVia": ["drs.amazonaws.com"]}))
    assert not allowed(
        [statement], Request("ec2:CreateFleet", "x", {"aws:CalledVia": ["cloudformation.amazonaws.com"]})
    )
    own = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
    statement = {"Effect": "Allow", "Action": "ssm:PutParameter", "Resource": "*", "Condition": own}
    assert allowed(
        [statement], Request("ssm:PutParameter", "x", {"aws:ResourceAccount": "1", "aws:PrincipalAccount": "1"})
    )
    assert not allowed(
        [statement], Request("ssm:PutParameter", "x", {"aws:ResourceAccount": "1", "aws:PrincipalAccount": "2"})
    )
    assert not allowed([statement], Request("ssm:PutParameter", "x", {"aws:ResourceAccount": "1"}))  # variable unknown
    unknown = {"DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}}
    statement = {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": unknown}
    assert not allowed([statement], Request("s3:GetObject", "x", {"aws:CurrentTime": "2000-01-01T00:00:00Z"}))


def test_what_it_does_not_evaluate_is_refused_not_guessed():
    with pytest.raises(ValueError, match="NotAction"):
        statement_allows({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, Request("s3:GetObject", "x"))
    with pytest.raises(ValueError, match="Allow"):
        statement_allows({"Effect": "Deny", "Action": "*", "Resource": "*"}, Request("s3:GetObject", "x"))
    with pytest.raises(ValueError, match="intrinsics"):
        statement_allows({"Effect": "Allow", "Action": "*", "Resource": {"Ref": "X"}}, Request("s3:GetObject", "x"))
