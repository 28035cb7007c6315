"""Member accounts: where DRS replicates servers beyond the orchestrator's own account (docs/accounts.md).

Two sides:

- `MemberAccountStack`, deployed in each member account (`make deploy-member`, or as a CloudFormation StackSet: it
  has no assets and no lookups, and synthesizes without the CDK bootstrap): the member role the workflow assumes,
  with exactly the DRS and EC2 actions of the orchestrator's functions (stacks/iam.py: launch, health, cleanup,
  readiness) and what DRS needs of the caller of StartRecovery and TerminateRecoveryInstances, in that account. It
  trusts only the orchestrator account's function roles (their IAM path names the orchestrator's stack), and only
  with the external ID both sides are deployed with.
- `allow_member_roles`, in the orchestrator's stack: the functions that call DRS or EC2 may assume those roles, and
  no other (the accounts of context drs:memberAccounts, or any account of the organization drs:memberOrganizationId).
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from lambdas.core.accounts import (
    DEFAULT_MEMBER_ROLE_NAME,
    MEMBER_EXTERNAL_ID,
    MEMBER_ROLE_NAME,
    ORCHESTRATOR_ACCOUNT,
    ORCHESTRATOR_PARTITION,
)
from stacks import grants
from stacks import iam as permissions

ACCOUNT_ID = re.compile(r"^\d{12}$")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")  # sts:AssumeRole ExternalId
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
DEFAULT_ORCHESTRATOR_STACK = "DrsOrchestrator"


def function_role_path(stack_name: str) -> str:
    """The IAM path of the orchestrator's function roles: the member roles trust exactly the roles on it."""
    return f"{permissions.FUNCTION_ROLE_PATH_PREFIX}{stack_name}/"


def member_role_name(scope: Construct) -> str:
    name = str(scope.node.try_get_context(permissions.MEMBER_ROLE_NAME_CONTEXT) or DEFAULT_MEMBER_ROLE_NAME)
    if not ROLE_NAME.match(name):
        raise ValueError(f"context {permissions.MEMBER_ROLE_NAME_CONTEXT}={name!r} is not an IAM role name")
    return name


def member_accounts(scope: Construct) -> list[str]:
    """Context drs:memberAccounts: a list, or (from `cdk -c`) a comma-separated string, of 12-digit accounts."""
    raw: Any = scope.node.try_get_context(permissions.MEMBER_ACCOUNTS_CONTEXT) or []
    listed = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else [str(part) for part in raw]
    accounts = [account for account in listed if account]
    wrong = [account for account in accounts if not ACCOUNT_ID.match(account)]
    if wrong:
        raise ValueError(
            f"context {permissions.MEMBER_ACCOUNTS_CONTEXT} lists {', '.join(wrong)}: give 12-digit account IDs, "
            'e.g. -c drs:memberAccounts=111122223333,444455556666 or "drs:memberAccounts": ["111122223333"]'
        )
    return sorted(set(accounts))


def member_organization(scope: Construct) -> str | None:
    organization = scope.node.try_get_context(permissions.MEMBER_ORGANIZATION_CONTEXT)
    if organization and not ORGANIZATION_ID.match(str(organization)):
        raise ValueError(
            f"context {permissions.MEMBER_ORGANIZATION_CONTEXT}={organization!r} is not an organization ID (o-...)"
        )
    return str(organization) if organization else None


def external_id(scope: Construct) -> str | None:
    value = scope.node.try_get_context(permissions.MEMBER_EXTERNAL_ID_CONTEXT)
    if value and not EXTERNAL_ID.match(str(value)):
        raise ValueError(
            f"context {permissions.MEMBER_EXTERNAL_ID_CONTEXT} must be 2 to 1,224 letters, digits or +=,.@:/-_"
        )
    return str(value) if value else None


def allow_member_roles(stack: cdk.Stack, functions: dict[str, lambda_.Function]) -> None:
    """Every function tells the member accounts' role apart from its own account (environment), and those that call
    DRS or EC2 may assume the member roles of the configured accounts (none configured: no member account)."""
    name = member_role_name(stack)
    accounts = member_accounts(stack)
    organization = member_organization(stack)
    external = external_id(stack)
    if (accounts or organization) and external is None:
        raise ValueError(
            f"member accounts are configured ({permissions.MEMBER_ACCOUNTS_CONTEXT} or "
            f"{permissions.MEMBER_ORGANIZATION_CONTEXT}) without an external ID: set -c "
            f"{permissions.MEMBER_EXTERNAL_ID_CONTEXT}=<the ExternalId parameter of the member stacks>"
        )
    for function in functions.values():
        function.add_environment(ORCHESTRATOR_ACCOUNT, stack.account)
        function.add_environment(ORCHESTRATOR_PARTITION, stack.partition)
        function.add_environment(MEMBER_ROLE_NAME, name)
        if external is not None:
            function.add_environment(MEMBER_EXTERNAL_ID, external)
    statements = []
    if accounts:
        statements.append(
            iam.PolicyStatement(
                actions=list(permissions.MEMBER_ROLE_ACTIONS),
                resources=[f"arn:{stack.partition}:iam::{account}:role/{name}" for account in accounts],
            )
        )
    if organization:
        statements.append(
            iam.PolicyStatement(
                actions=list(permissions.MEMBER_ROLE_ACTIONS),
                resources=[f"arn:{stack.partition}:iam::*:role/{name}"],
                conditions={"StringEquals": {"aws:ResourceOrgID": organization}},
            )
        )
        cdk.Validations.of(stack).acknowledge(
            cdk.Acknowledgment(
                id=f"AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::*:role/{name}]",
                reason="the member role, in any account of the organization drs:memberOrganizationId only "
                "(aws:ResourceOrgID)",
            )
        )
    for key in sorted(permissions.REACHES_MEMBER_ACCOUNTS):
        role = functions[key].role
        assert role is not None
        for statement in statements:
            role.add_to_principal_policy(statement)


class MemberAccountStack(cdk.Stack):
    """The member role of one member account. Parameters: the orchestrator's account, its stack's name and the
    external ID; context drs:memberRoleName names the role (default drs-orchestrator-member)."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("synthesizer", cdk.BootstraplessSynthesizer())  # no assets: deployable by StackSets
        super().__init__(scope, construct_id, **kwargs)
        orchestrator = cdk.CfnParameter(
            self,
            "OrchestratorAccountId",
            type="String",
            allowed_pattern=ACCOUNT_ID.pattern,
            description="The account of the drs-orchestrator stack whose functions may assume the member role",
        )
        stack_name = cdk.CfnParameter(
            self,
            "OrchestratorStackName",
            type="String",
            default=DEFAULT_ORCHESTRATOR_STACK,
            allowed_pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$",
            description="The name of that stack: only its function roles are trusted (their IAM path carries it)",
        )
        external = cdk.CfnParameter(
            self,
            "ExternalId",
            type="String",
            no_echo=True,
            min_length=2,
            max_length=1224,
            allowed_pattern=EXTERNAL_ID.pattern,
            description="The external ID the orchestrator passes to sts:AssumeRole (its context drs:memberExternalId)",
        )
        trusted = (
            f"arn:{self.partition}:iam::{orchestrator.value_as_string}:role"
            f"{permissions.FUNCTION_ROLE_PATH_PREFIX}{stack_name.value_as_string}/*"
        )
        self.role = iam.Role(
            self,
            "MemberRole",
            role_name=member_role_name(self),
            description="drs-orchestrator: what its functions do in this account (DRS launch, health, cleanup, "
            "readiness), assumed by them only",
            assumed_by=iam.AccountPrincipal(orchestrator.value_as_string).with_conditions(
                {
                    "StringEquals": {"sts:ExternalId": external.value_as_string},
                    "ArnLike": {"aws:PrincipalArn": trusted},
                }
            ),
            max_session_duration=cdk.Duration.hours(1),
        )
        # Managed policies (6,144 characters each), the grants packed into as few as hold them, each statement's
        # wildcards explained where it is added (stacks/grants.py: cdk-nag IAM5 acknowledged policy by policy).
        for number, part in enumerate(grants.packed(member_grants()), start=1):
            policy = iam.ManagedPolicy(
                self,
                f"MemberPolicy{number}",
                description=f"drs-orchestrator member role, part {number}",
                roles=[self.role],
            )
            for grant in part:
                grants.add(policy, grant)
        cdk.CfnOutput(self, "MemberRoleArn", value=self.role.role_arn)


def member_grants() -> list[permissions.Grant]:
    """What the member role allows, from stacks/iam.py's lists (never copied): the functions' DRS reads (Describe*
    take no resource), their DRS actions on the account's DRS resources, their EC2 reads, the dependencies of
    StartRecovery and TerminateRecoveryInstances, and readiness's reads of instance profiles and the vCPU quota."""
    drs = permissions.member_drs_actions()
    describe = tuple(action for action in drs if action.startswith(("drs:Describe", "drs:List", "drs:Get")))
    acting = tuple(action for action in drs if action not in describe)
    allowed = [permissions.Grant(describe)]
    if acting:
        allowed.append(permissions.Grant(acting, permissions.DRS_RESOURCES, why=permissions.DRS_WHY))
    if permissions.member_ec2_actions():
        allowed.append(permissions.Grant(permissions.member_ec2_actions()))
    if "drs:StartRecovery" in drs:
        allowed.extend(permissions.START_RECOVERY_DEPENDENCIES)
    if "drs:TerminateRecoveryInstances" in drs:
        allowed.extend(permissions.TERMINATE_DEPENDENCIES)
    allowed.extend(permissions.READINESS_ACCOUNT_READS)  # readiness's look at the account's profiles and quota
    return allowed
