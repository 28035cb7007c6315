"""The member accounts' side: MemberAccountStack (the member role) and what the orchestrator may assume.

The member role is checked against what the workflow really does in a member account: a rehearsal whose servers are
all in a member account (a point-in-time drill with a health gate and the drill cleanup) records, with a botocore
event hook, every call made with the member role's credentials; each must be an action the role allows. And the role
allows nothing the orchestrator's functions do not need (stacks/iam.py's lists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

from drsctl.emulator.protocol import request_access_key
from drsctl.local.engine import account_of_access_key
from lambdas.core.accounts import DEFAULT_MEMBER_ROLE_NAME
from stacks import iam as permissions
from stacks.functions import FUNCTIONS
from tests.conftest import server_id
from tests.infra.conftest import ROOT, _node_22, of_type
from tests.infra.test_iam import derived_actions, role_statements

MEMBER = "444455556666"
ORCHESTRATOR = "111122223333"
CONTEXT = {
    **json.loads((ROOT / "cdk.json").read_text())["context"],
    "aws:cdk:bundling-stacks": [],
    permissions.MEMBER_ACCOUNTS_CONTEXT: [MEMBER, "777788889999"],
    permissions.MEMBER_EXTERNAL_ID_CONTEXT: "shared-external-id",
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both stacks of app.py, with member accounts configured, and cdk-nag's findings on the member stack."""
    _node_22()
    import aws_cdk as cdk
    from aws_cdk.assertions import Annotations, Match, Template
    from cdk_nag import AwsSolutionsChecks

    from stacks.member_account import MemberAccountStack
    from stacks.nag import acknowledge_findings, acknowledge_member_findings
    from stacks.recovery_stack import DrsOrchestratorStack

    app = cdk.App(context=CONTEXT, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    orchestrator = DrsOrchestratorStack(app, "DrsOrchestrator")
    acknowledge_findings(orchestrator)
    member = MemberAccountStack(app, "DrsOrchestratorMember")
    acknowledge_member_findings(member)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))  # as app.py: both stacks, as cdk synth checks
    member_template = Template.from_stack(member)
    findings = Annotations.from_stack(member).find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
    path = tmp_path_factory.mktemp("member") / "DrsOrchestratorMember.template.json"
    path.write_text(json.dumps(member_template.to_json()))
    return {
        "member": member_template.to_json(),
        "member_path": path,
        "nag": findings,
        "orchestrator": Template.from_stack(orchestrator).to_json()["Resources"],
    }


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(template["Resources"], "AWS::IAM::ManagedPolicy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def member_actions(template: dict[str, Any]) -> set[str]:
    return {action for statement in _statements(template) for action in _listed(statement["Action"])}


def test_the_member_stack_passes_cdk_nag_and_cfn_lint(synthesized):
    from cfnlint.api import ManualArgs, lint_file

    assert synthesized["nag"] == []
    matches = lint_file(Path(synthesized["member_path"]), config=ManualArgs(ignore_checks=["W3005"]))
    assert [str(match) for match in matches] == []


def test_the_member_stack_needs_no_bootstrap_and_no_asset(synthesized):
    template = synthesized["member"]
    assert "BootstrapVersion" not in template.get("Parameters", {})  # StackSets deploy it where CDK never ran
    assert "Rules" not in template
    assert set(template["Parameters"]) == {"OrchestratorAccountId", "OrchestratorStackName", "ExternalId"}
    kinds = {resource["Type"] for resource in template["Resources"].values()}
    assert kinds <= {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy", "AWS::CDK::Metadata"}


def test_the_member_role_trusts_only_the_orchestrators_function_roles_with_the_external_id(synthesized):
    (role,) = of_type(synthesized["member"]["Resources"], "AWS::IAM::Role").values()
    assert role["Properties"]["RoleName"] == DEFAULT_MEMBER_ROLE_NAME
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole" and trust["Effect"] == "Allow"
    principal = json.dumps(trust["Principal"])
    assert '"Ref": "OrchestratorAccountId"' in principal and ":root" in principal
    assert trust["Condition"]["StringEquals"] == {"sts:ExternalId": {"Ref": "ExternalId"}}
    trusted = json.dumps(trust["Condition"]["ArnLike"]["aws:PrincipalArn"])
    assert f":role{permissions.FUNCTION_ROLE_PATH_PREFIX}" in trusted and '"Ref": "OrchestratorStackName"' in trusted


def test_the_member_role_allows_what_the_functions_call_and_nothing_else(synthesized):
    allowed = member_actions(synthesized["member"])
    called = {
        action
        for spec in FUNCTIONS.values()
        for action in derived_actions(spec.handler.rsplit(".", 1)[0])
        if action.startswith(("drs:", "ec2:"))
    }
    assert called <= allowed, f"calls a member account would refuse: {sorted(called - allowed)}"
    needed = (
        called
        | permissions.START_RECOVERY_DEPENDENCY_ACTIONS
        | permissions.TERMINATE_DEPENDENCY_ACTIONS
        | {action for actions in permissions.DRS_ACTIONS.values() for action in actions}
        | {action for actions in permissions.EC2_ACTIONS.values() for action in actions}
        | {action for grant in permissions.READINESS_ACCOUNT_READS for action in grant.actions}
    )
    assert allowed <= needed, f"granted in member accounts, needed by no function: {sorted(allowed - needed)}"


def test_the_orchestrators_functions_may_assume_only_the_member_roles(synthesized):
    resources = synthesized["orchestrator"]
    expected = sorted(
        (
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::{account}:role/{DEFAULT_MEMBER_ROLE_NAME}"]]}
            for account in (MEMBER, "777788889999")
        ),
        key=json.dumps,
    )
    for key in FUNCTIONS:
        assumed = [
            resource
            for statement in role_statements(resources, key)
            if "sts:AssumeRole" in _listed(statement["Action"])
            for resource in _listed(statement["Resource"])
        ]
        if key in permissions.REACHES_MEMBER_ACCOUNTS:
            assert sorted(assumed, key=json.dumps) == expected, key
        else:
            assert assumed == [], key
    for function in of_type(resources, "AWS::Lambda::Function").values():
        environment = function["Properties"]["Environment"]["Variables"]
        assert environment["MEMBER_EXTERNAL_ID"] == "shared-external-id"
        assert environment["MEMBER_ROLE_NAME"] == DEFAULT_MEMBER_ROLE_NAME
        assert environment["ORCHESTRATOR_ACCOUNT"] == {"Ref": "AWS::AccountId"}
    for role in of_type(resources, "AWS::IAM::Role").values():
        if role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"
        } and "drs-orchestrator" in str(role["Properties"].get("Description")):
            assert role["Properties"]["Path"] == f"{permissions.FUNCTION_ROLE_PATH_PREFIX}DrsOrchestrator/"


def test_member_accounts_without_an_external_id_are_refused_at_synth():
    _node_22()
    import aws_cdk as cdk

    from stacks.recovery_stack import DrsOrchestratorStack

    context = {**CONTEXT, permissions.MEMBER_EXTERNAL_ID_CONTEXT: None}
    with pytest.raises(ValueError, match="drs:memberExternalId"):
        DrsOrchestratorStack(cdk.App(context=context), "DrsOrchestrator")


# -- what a rehearsal over a member account calls there ----------------------------------------------------------


def _operation(request: Any) -> tuple[str, str] | None:
    """(service, operation) of a request signed for DRS or EC2 (the wire, as the emulator reads it)."""
    authorization = request.headers.get("Authorization", b"")
    text = authorization.decode() if isinstance(authorization, bytes) else str(authorization)
    if "/drs/aws4_request" in text:
        path = request.url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        return "drs", "ListTagsForResource" if path.startswith("tags/") else path
    if "/ec2/aws4_request" in text:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        return "ec2", parse_qs(body)["Action"][0]
    return None


def test_every_call_a_drill_makes_in_a_member_account_is_allowed_by_the_member_role(synthesized, stage):
    servers = [server_id(n, "m") for n in range(3)]
    scenario = {
        "seed": 4,
        "accounts": [{"id": MEMBER}],
        "timing": {"drill": {"snapshot": 1, "preparation": 10, "conversion": 20, "launch": 30}, "jitter": 0},
        "servers": [
            {"id": s, "hostname": f"m-{n}", "account": MEMBER, "postLaunch": {"seconds": 30}, "lagSeconds": 300}
            for n, s in enumerate(servers)
        ],
    }
    plan = {
        "PlanId": "member",
        "Name": "Member",
        "ProtectionGroups": [{"GroupId": "m", "Region": "us-east-1", "Account": MEMBER, "SourceServerIds": servers}],
        "Waves": [{"WaveName": "only", "ProtectionGroupId": "m", "After": [{"Name": "up", "HealthCheck": {}}]}],
        "Options": {"DrillCleanup": {"AfterMinutes": 1}},
    }
    called: set[str] = set()

    def record(request: Any, **_: Any) -> None:
        found = _operation(request)
        headers = {name: v.decode() if isinstance(v, bytes) else str(v) for name, v in request.headers.items()}
        key = request_access_key(headers)
        if found is not None and key is not None and account_of_access_key(key) == MEMBER:
            called.add(f"{found[0]}:{found[1]}")

    with stage(scenario) as aws:
        # moto's mock gives boto3 a default session of its own: the hook goes on that one, before any DRS or EC2
        # client exists (the stage forgets the clients of earlier stages)
        session = boto3._get_default_session()
        session.events.register("before-send", record)
        try:
            from lambdas.core.plan import parse_plan

            aws.load_plan(parse_plan(plan))
            arn = aws.start_execution(
                {"PlanId": "member", "ExecutionType": "DRILL", "PointInTime": "2025-12-31T23:50:00Z"}, "exec-1"
            )
            assert aws.wait(arn)["status"] == "SUCCEEDED"
            assert aws.record("exec-1", "member").Status == "COMPLETED"
            assert aws.record("exec-1", "member").Cleanup.Status == "COMPLETED"
        finally:
            session.events.unregister("before-send", record)
    # the drill's own calls there: listing, snapshots, launch, checks, health, cleanup
    assert {
        "drs:DescribeSourceServers",
        "drs:DescribeRecoverySnapshots",
        "drs:StartRecovery",
        "drs:DescribeJobs",
        "ec2:DescribeInstanceStatus",
        "drs:TerminateRecoveryInstances",
    } <= called
    allowed = member_actions(synthesized["member"])
    assert called <= allowed, f"the member role would refuse: {sorted(called - allowed)}"
