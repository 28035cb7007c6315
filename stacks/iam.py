"""Every IAM action the Lambdas and the operators need, in one place.

A test (tests/infra/test_iam.py) derives the AWS calls each handler's code makes (DRS, DynamoDB per table and index,
Step Functions) and checks the policies grant exactly those, plus what DRS needs of the caller of StartRecovery and
TerminateRecoveryInstances: DRS launches and terminates recovery instances with the caller's credentials (a forward
access session: the EC2, IAM, KMS and SSM requests DRS makes for the caller carry `aws:ViaAWSService: true` and
`aws:CalledVia: drs.amazonaws.com`), so a missing permission shows up only as a server LAUNCH FAILED (or a
post-launch action that never runs) minutes later, and no code of ours makes those calls for a test to find.

Those dependencies mirror AWS's own managed policies statement by statement (`Grant.mirrors`: policy, version, Sid):
AWSElasticDisasterRecoveryConsoleFullAccess_v2 for launching and terminating, AWSElasticDisasterRecoveryLaunchActions
Policy for post-launch actions. Each grant is at most what its statement grants (fewer actions, this account's
resources) under at least its conditions; where we add a condition (`Grant.stricter` says which and why) it is
because only DRS, never our code, makes that request. Every mutating EC2 action is allowed only through DRS
(`aws:ViaAWSService` or `aws:CalledVia`) and, as AWS grants it, only on resources DRS tagged
`AWSElasticDisasterRecoveryManaged`; iam:PassRole only for DRS's own service roles and the roles named at deploy
(context `drs:recoveryInstanceRoles`). tests/infra/managed_policies/ keeps a copy of those policies' statements
and a test compares every grant with its statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lambdas.core.readiness.reads import VCPU_QUOTA_CODE

# The principal's own account and partition, filled in by stacks/functions.py.
ACCOUNT = "{account}"
PARTITION = "{partition}"


@dataclass(frozen=True)
class Mirror:
    """The AWS managed policy statement a grant mirrors."""

    policy: str
    version: str
    sid: str


CONSOLE_FULL_ACCESS = ("AWSElasticDisasterRecoveryConsoleFullAccess_v2", "v9")
LAUNCH_ACTIONS = ("AWSElasticDisasterRecoveryLaunchActionsPolicy", "v6")


def console(number: int) -> Mirror:
    return Mirror(*CONSOLE_FULL_ACCESS, f"ConsoleFullAccess{number}")


def launch_actions(number: int) -> Mirror:
    return Mirror(*LAUNCH_ACTIONS, f"LaunchActionsPolicy{number}")


@dataclass(frozen=True)
class Grant:
    """Actions on resources (ARN templates with {partition} and {account}), under an optional condition.

    `mirrors`: the managed policy statement it is at most; `stricter`: the conditions added to that statement's, and
    why; `why`: why its resources hold a wildcard (the cdk-nag IAM5 acknowledgement on the policy that carries it).
    """

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    conditions: dict[str, Any] = field(default_factory=dict)
    mirrors: Mirror | None = None
    stricter: str = ""
    why: str = ""


def all_of(*conditions: dict[str, Any]) -> dict[str, Any]:
    """One Condition block that requires every one of `conditions` (operators merged, keys kept apart)."""
    merged: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            assert not set(keys) & set(merged.get(operator, {})), f"{operator} {keys} given twice"
            merged.setdefault(operator, {}).update(keys)
    return merged


DRS_SERVICE = "drs.amazonaws.com"
MANAGED_TAG = "AWSElasticDisasterRecoveryManaged"  # DRS tags what it creates for a recovery with it
# Made by DRS for the caller (a forward access session): AWS sets these on every such request.
VIA_AWS_SERVICE = {"Bool": {"aws:ViaAWSService": "true"}}
CALLED_VIA_DRS = {"ForAnyValue:StringEquals": {"aws:CalledVia": [DRS_SERVICE]}}
# On a resource DRS tagged, or a request that tags what it creates (as the managed policy spells each one)
TAGGED = {"Null": {f"aws:ResourceTag/{MANAGED_TAG}": "false"}}
EC2_TAGGED = {"Null": {f"ec2:ResourceTag/{MANAGED_TAG}": "false"}}
TAGGING = {"Null": {f"aws:RequestTag/{MANAGED_TAG}": "false"}}
# An existing instance an operator marked for DRS's "launch into existing instance"
LAUNCH_INTO = {"StringEquals": {"ec2:ResourceTag/AWSDRS": "AllowLaunchingIntoThisInstance"}}
LAUNCH_INTO_SSM = {"StringEquals": {"aws:ResourceTag/AWSDRS": "AllowLaunchingIntoThisInstance"}}
OWN_ACCOUNT = {"StringEquals": {"aws:ResourceAccount": "${aws:PrincipalAccount}"}}
PASSED_TO_EC2 = {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
ONLY_THROUGH_DRS = "only DRS makes this request, for the caller (aws:ViaAWSService added): our code never does"

# Where drs:StartRecovery and DRS's own bookkeeping act: the account's source servers, jobs and recovery instances
# (any region: a plan's waves may recover in several).
DRS_RESOURCE_TYPES = ("source-server/*", "job/*", "recovery-instance/*")
DRS_RESOURCES = tuple(f"arn:{PARTITION}:drs:*:{ACCOUNT}:{resource}" for resource in DRS_RESOURCE_TYPES)
DRS_WHY = (
    "plans name their servers at run time, and the jobs and recovery instances exist only once DRS creates them; "
    "this account's, any Region (waves may recover in several)"
)


def ec2(kind: str, *, any_account: bool = False) -> str:
    """An EC2 resource ARN of this account, any Region; `any_account` for what a launch only refers to and another
    account may own (a subnet or security group shared through AWS RAM, an AMI) and for snapshots (their ARNs name
    no account)."""
    return f"arn:{PARTITION}:ec2:*:{'*' if any_account else ACCOUNT}:{kind}/*"


INSTANCE, VOLUME, NETWORK_INTERFACE = ec2("instance"), ec2("volume"), ec2("network-interface")
LAUNCH_TEMPLATE, FLEET, OWN_SECURITY_GROUP = ec2("launch-template"), ec2("fleet"), ec2("security-group")
SNAPSHOT, IMAGE = ec2("snapshot", any_account=True), ec2("image", any_account=True)
SUBNET, SECURITY_GROUP, VPC = (ec2(kind, any_account=True) for kind in ("subnet", "security-group", "vpc"))
EC2_WHY = (
    "DRS creates the recovery instances, volumes, snapshots and network interfaces at run time; allowed only "
    "through DRS (aws:ViaAWSService / aws:CalledVia) and, as AWSElasticDisasterRecoveryConsoleFullAccess_v2 grants "
    "it, on resources tagged AWSElasticDisasterRecoveryManaged"
)

# The IAM roles DRS gives recovery instances (and conversion servers): its own service roles.
DRS_SERVICE_ROLES = (
    "AWSElasticDisasterRecoveryConversionServerRole",
    "AWSElasticDisasterRecoveryRecoveryInstanceRole",
    "AWSElasticDisasterRecoveryRecoveryInstanceWithLaunchActionsRole",
)
# Context key: more roles (name, with its path: "MyRole", "service-role/MyRole") the servers' launch templates give
# their recovery instances; DRS passes them with the caller's iam:PassRole. Named exactly: no wildcard.
INSTANCE_ROLES_CONTEXT = "drs:recoveryInstanceRoles"
ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}")


def role_arn(name: str) -> str:
    return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{name}"


def role_names(value: Any) -> list[str]:
    """The context's value as role names: a list (cdk.json), or one comma-separated string (`cdk deploy -c`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    return value if isinstance(value, list) else [value]


def named_roles_grant(names: list[str]) -> Grant | None:
    """iam:PassRole (to EC2) on the roles named at deploy (context drs:recoveryInstanceRoles); None for none."""
    if not isinstance(names, list) or not all(isinstance(name, str) and ROLE_NAME.fullmatch(name) for name in names):
        raise ValueError(
            f"context {INSTANCE_ROLES_CONTEXT}: {names!r} is not a list of IAM role names (with their path, such as "
            '"MyRecoveryRole" or "service-role/MyRecoveryRole", no wildcard): name each role the launch templates '
            "give the recovery instances"
        )
    if not names:
        return None
    return Grant(("iam:PassRole",), tuple(role_arn(name) for name in names), PASSED_TO_EC2)


# The documents a post-launch action may name: the account's own, and AWS's (whose ARNs name no account).
SSM_DOCUMENTS = (f"arn:{PARTITION}:ssm:*:{ACCOUNT}:document/*", f"arn:{PARTITION}:ssm:*::document/*")
SSM_AUTOMATION_EXECUTIONS = f"arn:{PARTITION}:ssm:*:{ACCOUNT}:automation-execution/*"
# AWS-owned SSM documents (no account in their ARN) DRS may run as post-launch actions: the prefixes
# AWSElasticDisasterRecoveryLaunchActionsPolicy names.
AWS_DOCUMENT_PREFIXES = (
    "AWS-", "AWSCodeDeployAgent-", "AWSConfigRemediation-", "AWSConformancePacks-", "AWSDisasterRecovery-",
    "AWSDistroOTel-", "AWSDocs-", "AWSEC2-", "AWSEC2Launch-", "AWSFIS-", "AWSFleetManager-", "AWSIncidents-",
    "AWSKinesisTap-", "AWSMigration-", "AWSNVMe-", "AWSNitroEnclavesWindows-", "AWSObservabilityExporter-",
    "AWSPVDriver-", "AWSQuickSetupType-", "AWSQuickStarts-", "AWSRefactorSpaces-", "AWSResilienceHub-", "AWSSAP-",
    "AWSSAPTools-", "AWSSQLServer-", "AWSSSO-", "AWSSupport-", "AWSSystemsManagerSAP-", "AmazonCloudWatch-",
    "AmazonCloudWatchAgent-", "AmazonECS-", "AmazonEFSUtils-", "AmazonEKS-", "AmazonInspector-", "AmazonInspector2-",
    "AmazonInternal-", "AwsEnaNetworkDriver-", "AwsVssComponents-",
)  # fmt: skip
DRS_PARAMETERS = f"arn:{PARTITION}:ssm:*:{ACCOUNT}:parameter/ManagedByAWSElasticDisasterRecoveryService-*"
CALLED_VIA_SSM = {"ForAnyValue:StringEquals": {"aws:CalledVia": "ssm.amazonaws.com"}}  # SSM reads it for DRS
SSM_WHY = (
    "DRS post-launch actions (AWSElasticDisasterRecoveryLaunchActionsPolicy): the documents a launch action names, "
    "the recovery instances DRS has just launched, the automation executions and parameters DRS creates at run time"
)

# StartRecovery and its dependent actions: what DRS needs of the caller to launch recovery instances
# (AWSElasticDisasterRecoveryConsoleFullAccess_v2). Neither managed policy grants kms:CreateGrant (only DescribeKey).
START_RECOVERY_DEPENDENCIES: tuple[Grant, ...] = (
    # DRS creates the recovery instance records and tags the jobs and instances it starts.
    Grant(
        ("drs:CreateRecoveryInstanceForDrs", "drs:ListTagsForResource", "drs:TagResource"),
        DRS_RESOURCES,
        mirrors=console(1),
        why=DRS_WHY,
    ),
    # DRS checks the KMS key that encrypts the recovery volumes (a read that takes no resource here).
    Grant(("kms:DescribeKey",), mirrors=console(2), why="kms:DescribeKey of whichever key the launch settings name"),
    # DRS reads the account, Region and launch settings it launches into (reads that take no resource).
    Grant(
        (
            "ec2:DescribeAccountAttributes",
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeCapacityReservations",
            "ec2:DescribeHosts",
            "ec2:DescribeImages",
            "ec2:DescribeInstanceAttribute",
            "ec2:DescribeInstanceStatus",
            "ec2:DescribeInstanceTypeOfferings",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeInstances",
            "ec2:DescribeKeyPairs",
            "ec2:DescribeLaunchTemplateVersions",
            "ec2:DescribeLaunchTemplates",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeSnapshots",
            "ec2:DescribeSubnets",
            "ec2:DescribeVolumes",
            "ec2:GetEbsDefaultKmsKeyId",
            "ec2:GetEbsEncryptionByDefault",
            "ec2:GetInstanceTypesFromInstanceRequirements",
        ),
        mirrors=console(3),
        why="EC2 Describe* and the EBS encryption defaults take no resource",
    ),
    # DRS gives each recovery instance the instance profile of its launch template: only DRS's own roles here;
    # others are named at deploy (named_roles_grant).
    Grant(
        ("iam:PassRole",),
        tuple(role_arn(f"service-role/{name}") for name in DRS_SERVICE_ROLES),
        PASSED_TO_EC2,
        mirrors=console(8),
    ),
    # DRS cleans up the snapshots of a conversion.
    Grant(
        ("ec2:DeleteSnapshot",),
        (SNAPSHOT,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(9),
        why=EC2_WHY,
    ),
    # DRS keeps each server's launch template (created and tagged by DRS).
    Grant(
        (
            "ec2:CreateLaunchTemplateVersion",
            "ec2:CreateTags",
            "ec2:DeleteLaunchTemplateVersions",
            "ec2:DeleteTags",
            "ec2:ModifyLaunchTemplate",
        ),
        (LAUNCH_TEMPLATE,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(10),
        stricter=ONLY_THROUGH_DRS,
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateLaunchTemplate",),
        (LAUNCH_TEMPLATE,),
        all_of(TAGGING, VIA_AWS_SERVICE),
        mirrors=console(11),
        stricter=ONLY_THROUGH_DRS,
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateTags",),
        (LAUNCH_TEMPLATE,),
        all_of({"StringEquals": {"ec2:CreateAction": ["CreateLaunchTemplate"]}}, VIA_AWS_SERVICE),
        mirrors=console(27),
        stricter=ONLY_THROUGH_DRS,
        why=EC2_WHY,
    ),
    # DRS deletes the volumes of a conversion it no longer needs.
    Grant(("ec2:DeleteVolume",), (VOLUME,), all_of(TAGGED, VIA_AWS_SERVICE), mirrors=console(12), why=EC2_WHY),
    # DRS starts, stops and sets up the recovery instances it launched (and terminates one that failed).
    Grant(
        ("ec2:ModifyInstanceAttribute", "ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances"),
        (INSTANCE,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(13),
        why=EC2_WHY,
    ),
    # DRS sets the rules of the security groups it creates for a recovery subnet.
    Grant(
        ("ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress"),
        (OWN_SECURITY_GROUP,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(14),
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateSecurityGroup",),
        (VPC,),
        VIA_AWS_SERVICE,
        mirrors=console(16),
        stricter=ONLY_THROUGH_DRS,
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateSecurityGroup",),
        (OWN_SECURITY_GROUP,),
        all_of(TAGGING, VIA_AWS_SERVICE),
        mirrors=console(17),
        why=EC2_WHY,
    ),
    # DRS turns the replicated snapshots into the recovery instance's volumes.
    Grant(("ec2:CreateVolume",), (VOLUME,), all_of(TAGGING, VIA_AWS_SERVICE), mirrors=console(15), why=EC2_WHY),
    Grant(("ec2:CreateVolume",), (SNAPSHOT,), all_of(TAGGED, VIA_AWS_SERVICE), mirrors=console(41), why=EC2_WHY),
    Grant(("ec2:CreateSnapshot",), (VOLUME,), all_of(EC2_TAGGED, VIA_AWS_SERVICE), mirrors=console(18), why=EC2_WHY),
    Grant(("ec2:CreateSnapshot",), (SNAPSHOT,), all_of(TAGGING, VIA_AWS_SERVICE), mirrors=console(19), why=EC2_WHY),
    Grant(
        ("ec2:AttachVolume", "ec2:DetachVolume"),
        (INSTANCE,),
        all_of(EC2_TAGGED, VIA_AWS_SERVICE),
        mirrors=console(20),
        why=EC2_WHY,
    ),
    Grant(("ec2:AttachVolume",), (VOLUME,), all_of(EC2_TAGGED, VIA_AWS_SERVICE), mirrors=console(22), why=EC2_WHY),
    Grant(("ec2:DetachVolume",), (VOLUME,), VIA_AWS_SERVICE, mirrors=console(23), why=EC2_WHY),
    # Launch into an existing instance an operator tagged AWSDRS=AllowLaunchingIntoThisInstance.
    Grant(
        ("ec2:AttachVolume", "ec2:DetachVolume", "ec2:StartInstances"),
        (INSTANCE,),
        all_of(LAUNCH_INTO, CALLED_VIA_DRS),
        mirrors=console(21),
        why=EC2_WHY,
    ),
    # DRS launches each recovery instance from its launch template (RunInstances), tagged as DRS-managed.
    Grant(("ec2:RunInstances",), (INSTANCE,), all_of(TAGGING, VIA_AWS_SERVICE), mirrors=console(24), why=EC2_WHY),
    Grant(
        ("ec2:RunInstances",),
        (SECURITY_GROUP, VOLUME, SUBNET, IMAGE, NETWORK_INTERFACE, LAUNCH_TEMPLATE),
        VIA_AWS_SERVICE,
        mirrors=console(25),
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateTags",),
        (OWN_SECURITY_GROUP, VOLUME, SNAPSHOT, INSTANCE, NETWORK_INTERFACE),
        all_of(
            {
                "StringEquals": {
                    "ec2:CreateAction": [
                        "CreateSecurityGroup",
                        "CreateVolume",
                        "CreateSnapshot",
                        "RunInstances",
                        "CreateNetworkInterface",
                    ]
                }
            },
            VIA_AWS_SERVICE,
        ),
        mirrors=console(26),
        why=EC2_WHY,
    ),
    # ... or, for flexible instance types, by CreateFleet.
    Grant(
        ("ec2:CreateFleet",),
        (INSTANCE, FLEET, VOLUME, SUBNET, IMAGE, LAUNCH_TEMPLATE),
        CALLED_VIA_DRS,
        mirrors=console(39),
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateTags",),
        (OWN_SECURITY_GROUP, VOLUME, SNAPSHOT, INSTANCE),
        all_of({"StringEquals": {"ec2:CreateAction": ["CreateFleet"]}}, CALLED_VIA_DRS),
        mirrors=console(40),
        why=EC2_WHY,
    ),
    # DRS gives the recovery instance its instance profile and network interface.
    Grant(
        ("ec2:AssociateIamInstanceProfile",),
        (INSTANCE,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(38),
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateNetworkInterface",),
        (NETWORK_INTERFACE,),
        all_of(TAGGING, VIA_AWS_SERVICE),
        mirrors=console(42),
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateNetworkInterface",),
        (SUBNET, SECURITY_GROUP),
        VIA_AWS_SERVICE,
        mirrors=console(43),
        stricter=ONLY_THROUGH_DRS,
        why=EC2_WHY,
    ),
    Grant(
        ("ec2:CreateNetworkInterfacePermission",),
        (NETWORK_INTERFACE,),
        all_of(TAGGED, VIA_AWS_SERVICE),
        mirrors=console(44),
        why=EC2_WHY,
    ),
)

# Post-launch actions (AWSElasticDisasterRecoveryLaunchActionsPolicy): DRS runs SSM documents on the recovery
# instances it launched, with the caller of StartRecovery's credentials.
POST_LAUNCH_DEPENDENCIES: tuple[Grant, ...] = (
    # DRS finds the recovery instance in SSM and reads its parameters (list actions that take no resource).
    Grant(
        ("ssm:DescribeInstanceInformation", "ssm:DescribeParameters"),
        conditions=CALLED_VIA_DRS,
        mirrors=launch_actions(1),
        why="SSM Describe* take no resource; only through DRS",
    ),
    # DRS runs the account's own documents and automation runbooks a launch action names ...
    Grant(
        ("ssm:SendCommand", "ssm:StartAutomationExecution"),
        (
            f"arn:{PARTITION}:ssm:*:{ACCOUNT}:document/*",
            f"arn:{PARTITION}:ssm:*:{ACCOUNT}:automation-definition/*:*",
            SSM_AUTOMATION_EXECUTIONS,
        ),
        all_of(CALLED_VIA_DRS, OWN_ACCOUNT),
        mirrors=launch_actions(2),
        why=SSM_WHY,
    ),
    # ... and AWS's own, by the prefixes AWS lists.
    Grant(
        ("ssm:SendCommand", "ssm:StartAutomationExecution"),
        (
            *(f"arn:{PARTITION}:ssm:*::document/{prefix}*" for prefix in AWS_DOCUMENT_PREFIXES),
            *(f"arn:{PARTITION}:ssm:*::automation-definition/{prefix}*:*" for prefix in AWS_DOCUMENT_PREFIXES),
            SSM_AUTOMATION_EXECUTIONS,
        ),
        CALLED_VIA_DRS,
        mirrors=launch_actions(3),
        why=SSM_WHY,
    ),
    # DRS runs them on the recovery instances it launched (or launched into).
    Grant(("ssm:SendCommand",), (INSTANCE,), all_of(CALLED_VIA_DRS, TAGGED), mirrors=launch_actions(4), why=SSM_WHY),
    Grant(
        ("ssm:SendCommand",),
        (INSTANCE,),
        all_of(LAUNCH_INTO_SSM, CALLED_VIA_DRS),
        mirrors=launch_actions(5),
        why=SSM_WHY,
    ),
    # DRS lists the documents and the command invocations it follows (list actions that take no resource).
    Grant(
        ("ssm:ListCommandInvocations", "ssm:ListDocuments"),
        mirrors=launch_actions(6),
        why="SSM List* take no resource",
    ),
    # DRS reads the documents it runs.
    Grant(
        ("ssm:DescribeDocument", "ssm:GetDocument", "ssm:ListDocumentVersions"),
        SSM_DOCUMENTS,
        mirrors=launch_actions(7),
        why=SSM_WHY,
    ),
    # DRS follows the automation executions it started.
    Grant(
        ("ssm:GetAutomationExecution",),
        (SSM_AUTOMATION_EXECUTIONS,),
        TAGGED,
        mirrors=launch_actions(8),
        why=SSM_WHY,
    ),
    # DRS keeps its own parameters in Parameter Store.
    Grant(
        ("ssm:GetParameters",),
        (DRS_PARAMETERS,),
        CALLED_VIA_SSM,
        mirrors=launch_actions(9),
        why=SSM_WHY,
    ),
    Grant(
        ("ssm:GetParameters",),
        (f"arn:{PARTITION}:ssm:*:{ACCOUNT}:parameter/ManagedByAWSElasticDisasterRecovery-*",),
        CALLED_VIA_SSM,
        mirrors=console(36),
        why=SSM_WHY,
    ),
    Grant(
        ("ssm:GetParameter", "ssm:PutParameter"),
        (DRS_PARAMETERS,),
        OWN_ACCOUNT,
        mirrors=launch_actions(10),
        why=SSM_WHY,
    ),
)

# TerminateRecoveryInstances' dependent actions (Service Authorization Reference): DRS terminates the recovery
# instance and deletes its volumes with the caller's credentials, as it launched them. The cleanup function and the
# operator (`drsctl run cleanup`) hold these.
TERMINATE_DEPENDENCIES: tuple[Grant, ...] = (
    Grant(("drs:DeleteRecoveryInstance",), DRS_RESOURCES, mirrors=console(1), why=DRS_WHY),
    Grant(
        ("ec2:DescribeInstances", "ec2:DescribeVolumes"),
        mirrors=console(3),
        why="EC2 Describe* take no resource",
    ),
    Grant(("ec2:TerminateInstances",), (INSTANCE,), all_of(TAGGED, VIA_AWS_SERVICE), mirrors=console(13), why=EC2_WHY),
    Grant(("ec2:DeleteVolume",), (VOLUME,), all_of(TAGGED, VIA_AWS_SERVICE), mirrors=console(12), why=EC2_WHY),
)

# The one list: every grant that stands for a managed policy statement (tests/infra/test_iam.py compares each).
MIRRORED: tuple[Grant, ...] = (*START_RECOVERY_DEPENDENCIES, *POST_LAUNCH_DEPENDENCIES, *TERMINATE_DEPENDENCIES)

TERMINATE_DEPENDENCY_ACTIONS: frozenset[str] = frozenset(
    action for grant in TERMINATE_DEPENDENCIES for action in grant.actions
)
START_RECOVERY_DEPENDENCY_ACTIONS: frozenset[str] = frozenset(
    action for grant in (*START_RECOVERY_DEPENDENCIES, *POST_LAUNCH_DEPENDENCIES) for action in grant.actions
)

# Per function: the DRS actions its code calls. stacks/functions.py grants Describe* on "*" (they take no resource)
# and every other action on the account's DRS resources (DRS_RESOURCES): an action added here is granted as it must
# be, and the calling function of StartRecovery / TerminateRecoveryInstances gets their dependencies above.
DRS_ACTIONS: dict[str, tuple[str, ...]] = {
    "prepare": ("drs:DescribeJobs", "drs:DescribeRecoverySnapshots", "drs:DescribeSourceServers"),
    "lock_servers": ("drs:DescribeRecoverySnapshots",),  # a point-in-time recovery's snapshot of each server
    "next_step": (),
    "request_approval": (),
    "answer_approval": (),
    # The health gate: the launch jobs' launchActionsStatus (post-launch action runs), and what each server has
    # configured (drs:ListLaunchActions, on its source server: lambdas/core/launch_actions.py).
    "check_health": ("drs:DescribeJobs", "drs:ListLaunchActions"),
    "start_wave": ("drs:StartRecovery", "drs:DescribeJobs"),
    "check_wave": ("drs:DescribeJobs",),
    "finalize": ("drs:DescribeJobs",),
    "cleanup": (
        "drs:DescribeJobs",
        "drs:DescribeRecoveryInstances",
        "drs:DescribeSourceServers",
        "drs:TerminateRecoveryInstances",
    ),
    "reconcile": ("drs:DescribeJobs",),
    "sweep": ("drs:DescribeJobs",),
    # Readiness reads the servers, their recovery snapshots and launch settings; it launches nothing.
    "readiness": ("drs:DescribeRecoverySnapshots", "drs:DescribeSourceServers", "drs:GetLaunchConfiguration"),
    # The report of an ended execution: its jobs, their logs and the recovery instances' points in time.
    "publish_report": ("drs:DescribeJobLogItems", "drs:DescribeJobs", "drs:DescribeRecoveryInstances"),
}

# Per function: the Step Functions actions its code calls, on this state machine's executions only. Prepare asks
# whether the holder of a lock still runs (stale-lock takeover); the sweeper asks about every open record and lock;
# Next runbook step reads how a hook or an approval ended from its own execution's history (lambdas/core/step_end.py).
STATES_ACTIONS: dict[str, tuple[str, ...]] = {
    "prepare": ("states:DescribeExecution",),
    "lock_servers": ("states:DescribeExecution",),
    "next_step": ("states:GetExecutionHistory",),
    "request_approval": (),
    "answer_approval": (),
    "check_health": (),
    "start_wave": (),
    "check_wave": (),
    "finalize": (),
    "cleanup": (),
    "reconcile": (),
    "sweep": ("states:DescribeExecution",),
    "readiness": ("states:DescribeExecution",),  # has a lock's holder ended (LOCK_STALE)
    # the report reads the execution, its history and the definition it ran
    "publish_report": (
        "states:DescribeExecution",
        "states:DescribeStateMachineForExecution",
        "states:GetExecutionHistory",
    ),
}

# Per function: it answers task tokens (states:SendTaskSuccess / SendTaskFailure). These actions take no resource
# (whoever holds them answers any token of the account), so exactly one function holds them: the answer function
# behind the approval URL, which reads the token from the record and never hands it out (docs/approvals.md).
ANSWERS_TASK_TOKENS: frozenset[str] = frozenset({"answer_approval"})
TASK_TOKEN_ACTIONS = ("states:SendTaskFailure", "states:SendTaskSuccess")

READ = ("dynamodb:GetItem",)
READ_WAVES = ("dynamodb:Query",)  # a wave is its item and its pages of servers, read with one Query
WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
# Locks are taken and released with TransactWriteItems, which IAM authorizes as PutItem / DeleteItem per item.
TAKE_LOCKS = ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")  # take, take over stale, release
RELEASE_LOCKS = ("dynamodb:DeleteItem",)

# Per function and table: the DynamoDB actions on the table itself.
TABLE_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "prepare": {
        "ProtectionGroups": READ,
        "RecoveryPlans": READ,
        "PlanReadiness": READ,  # a scheduled drill is refused while its plan's readiness is FAIL
        # ConditionCheckItem: the waves are written in transactions that check the record is still PENDING;
        # Query: the execution a resume names, by its ExecutionId alone
        "ExecutionHistory": (*READ, *WRITE, "dynamodb:ConditionCheckItem", "dynamodb:Query"),
        "ExecutionWaves": ("dynamodb:PutItem", *READ_WAVES),  # Query: the waves of the execution it resumes
        "ExecutionLocks": TAKE_LOCKS,
    },
    "lock_servers": {
        # is the execution still running; has a lock's holder ended; UpdateItem: how far apart the recovery
        # snapshots chosen for a point in time are
        "ExecutionHistory": (*READ, "dynamodb:UpdateItem"),
        "ExecutionWaves": (*READ_WAVES, "dynamodb:PutItem"),  # PutItem: each server's chosen recovery snapshot
        "ExecutionLocks": TAKE_LOCKS,
    },
    "next_step": {
        "ExecutionHistory": READ,  # is the execution still running
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),  # the wave's steps, read and written
    },
    "request_approval": {
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),  # the pending approval's task token on its step
    },
    "answer_approval": {
        "ExecutionHistory": ("dynamodb:Query",),  # the execution's record, by its ExecutionId alone
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),  # the waiting step: its token, and each answer
    },
    "check_health": {
        # the wave's launched servers and the step's start; UpdateItem: the servers' configured post-launch actions
        # kept on the step's record, read once per step (lambdas/core/launch_actions.py)
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),
    },
    "start_wave": {
        "ExecutionHistory": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
        # GetItem: the previous wave's item, for how long its jobs took
        "ExecutionWaves": (*READ_WAVES, "dynamodb:GetItem", "dynamodb:PutItem"),
        "ExecutionLocks": RELEASE_LOCKS,  # an ended wave releases its servers' locks
    },
    "check_wave": {
        "ExecutionHistory": ("dynamodb:UpdateItem",),
        "ExecutionWaves": (*READ_WAVES, *WRITE),  # UpdateItem: a check that got no answer is counted on the wave
        "ExecutionLocks": RELEASE_LOCKS,  # an ended wave releases its servers' locks
    },
    "finalize": {
        "ExecutionHistory": (*READ, *WRITE),
        "ExecutionWaves": (*READ_WAVES, *WRITE),  # UpdateItem: a runbook step the end cut short is closed
        "ExecutionLocks": RELEASE_LOCKS,
    },
    "cleanup": {
        "ExecutionHistory": ("dynamodb:GetItem", "dynamodb:UpdateItem"),  # the record's Cleanup
        "ExecutionWaves": READ_WAVES,  # the jobs the execution started, and their servers
    },
    "reconcile": {
        "ExecutionHistory": (*READ, *WRITE, "dynamodb:Query"),  # Query: the record by ExecutionId alone
        "ExecutionWaves": (*READ_WAVES, *WRITE),
        "ExecutionLocks": RELEASE_LOCKS,
    },
    "sweep": {
        "ExecutionHistory": (*READ, *WRITE, "dynamodb:Query"),
        "ExecutionWaves": (*READ_WAVES, *WRITE),
        "ExecutionLocks": ("dynamodb:Scan", *RELEASE_LOCKS),  # Scan: every execution holding a lock
    },
    "readiness": {
        "ProtectionGroups": READ,
        "RecoveryPlans": ("dynamodb:GetItem", "dynamodb:Scan"),  # Scan: every plan's PlanId
        "ExecutionHistory": READ,  # a lock's holder's record
        "ExecutionLocks": ("dynamodb:BatchGetItem",),  # the plan's and its servers' locks
        "PlanReadiness": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"),  # Scan: how many plans FAIL
    },
    "publish_report": {
        "ExecutionHistory": ("dynamodb:Query",),  # the record by its ExecutionId
        "ExecutionWaves": READ_WAVES,
    },
}

# Per function: the (table, index) pairs its code queries (stacks/tables.py INDEXES); the grant is dynamodb:Query on
# the index ARN. LocksByExecution: every terminal path releases all of an execution's locks; OpenExecutions: the
# sweeper's list of open records.
INDEX_QUERIES: dict[str, tuple[tuple[str, str], ...]] = {
    # PlanExecutionsByTime: a scheduled drill is refused while another execution of its plan runs
    "prepare": (("ExecutionLocks", "LocksByExecution"), ("ExecutionHistory", "PlanExecutionsByTime")),
    "lock_servers": (),
    "next_step": (),
    "request_approval": (),
    "answer_approval": (),
    "check_health": (),
    "start_wave": (),
    "check_wave": (),
    "finalize": (("ExecutionLocks", "LocksByExecution"),),
    "cleanup": (),
    "reconcile": (("ExecutionLocks", "LocksByExecution"),),
    "sweep": (("ExecutionHistory", "OpenExecutions"), ("ExecutionLocks", "LocksByExecution")),
    "readiness": (("ExecutionHistory", "PlanExecutionsByTime"),),  # the plan's drills (DRILL_OVERDUE, RTO_AT_RISK)
    "publish_report": (),
}

# Per function: it publishes to the stack's notification topic (sns:Publish, and the topic key's kms:Decrypt and
# kms:GenerateDataKey* that publishing to an encrypted topic needs): the approval request tells the approvers.
PUBLISHES_TO_TOPIC: frozenset[str] = frozenset({"request_approval", "readiness"})
TOPIC_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")

# Per function: the EC2 actions its code calls (Describe* take no resource). A health check reads the recovery
# instances' status checks; every EC2 action DRS itself needs to launch is in START_RECOVERY_DEPENDENCIES above.
EC2_ACTIONS: dict[str, tuple[str, ...]] = {key: () for key in DRS_ACTIONS} | {
    "check_health": ("ec2:DescribeInstanceStatus",),
    # Readiness: what each server's launch needs (template, subnet, security groups, instance type offered) and the
    # vCPUs running (what the On-Demand quota counts).
    "readiness": (
        "ec2:DescribeInstanceTypeOfferings",
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
    ),
}

# -- the people who run drills: OperatorPolicy and ApproverPolicy (stacks/access.py) ------------------------------
# Every AWS call `drsctl run|plan` makes (tests/operate/test_permissions.py records them against the sandbox and
# shows each allowed by these), on this stack's resources only. Neither policy holds states:SendTaskSuccess or
# SendTaskFailure: only the stack's approval function answers a task token.

# The stack's outputs (where the state machine and the tables are): every command.
STACK_READ = ("cloudformation:DescribeStacks",)
# run start, run resume: on the state machine; they and plan load look for a running execution of the plan
# (ListExecutions) first.
OPERATOR_MACHINE_ACTIONS = ("states:ListExecutions", "states:StartExecution")
# run watch/show/list/cancel/cleanup/report: on its executions (report: the history and the definition it ran).
OPERATOR_EXECUTION_ACTIONS = (
    "states:DescribeExecution",
    "states:DescribeStateMachineForExecution",
    "states:GetExecutionHistory",
    "states:StopExecution",
)
OPERATOR_TABLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "ProtectionGroups": ("dynamodb:GetItem", "dynamodb:PutItem"),  # plan load (PutItem), show, diff, run start
    "RecoveryPlans": ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"),  # plan load, list (Scan), show
    # run show/watch/list find a record by its ExecutionId (Query) or list them (Scan); cleanup records itself
    "ExecutionHistory": ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem"),
    "ExecutionWaves": ("dynamodb:Query",),  # a wave and its servers
    "PlanReadiness": ("dynamodb:GetItem", "dynamodb:Scan"),  # plan readiness (GetItem), plan list and run list (Scan)
}
READER_INDEX_QUERIES: tuple[tuple[str, str], ...] = (("ExecutionHistory", "PlanExecutionsByTime"),)  # run list --plan
# plan validate (the servers and their jobs), run cleanup (the launch and TERMINATE jobs, the recovery instances),
# run report (the job logs): reads that take no resource. TerminateRecoveryInstances on the account's recovery
# instances, with what DRS needs of its caller (TERMINATE_DEPENDENCIES).
OPERATOR_DRS_ACTIONS = (
    "drs:DescribeJobLogItems",
    "drs:DescribeJobs",
    "drs:DescribeRecoveryInstances",
    "drs:DescribeSourceServers",
    "drs:TerminateRecoveryInstances",
)
# An approver reads what it answers: the execution, its record and waves (run show/watch/list), its plan (plan
# show/list); the answer itself is lambda:InvokeFunctionUrl on the approval function (stacks/access.py).
APPROVER_EXECUTION_ACTIONS = ("states:DescribeExecution",)
APPROVER_TABLE_ACTIONS: dict[str, tuple[str, ...]] = {
    "ProtectionGroups": ("dynamodb:GetItem",),
    "RecoveryPlans": ("dynamodb:GetItem", "dynamodb:Scan"),
    "ExecutionHistory": ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"),
    "ExecutionWaves": ("dynamodb:Query",),
    "PlanReadiness": ("dynamodb:GetItem", "dynamodb:Scan"),  # plan list and run list show each plan's readiness
}
# Member accounts (docs/accounts.md): the functions that call DRS or EC2 reach a member account's servers through its
# member role, which they may assume (and only those roles: the accounts listed in context drs:memberAccounts, or
# any account of the organization in context drs:memberOrganizationId). The member role holds, in its account, the
# DRS and EC2 actions of these functions and the dependencies of StartRecovery and TerminateRecoveryInstances
# (stacks/member_account.py builds it from the lists above).
MEMBER_ROLE_ACTIONS = ("sts:AssumeRole",)
MEMBER_ACCOUNTS_CONTEXT = "drs:memberAccounts"
MEMBER_ORGANIZATION_CONTEXT = "drs:memberOrganizationId"
MEMBER_ROLE_NAME_CONTEXT = "drs:memberRoleName"
MEMBER_EXTERNAL_ID_CONTEXT = "drs:memberExternalId"
FUNCTION_ROLE_PATH_PREFIX = "/drs-orchestrator/"  # + the stack's name + "/": the member roles trust this path
REACHES_MEMBER_ACCOUNTS: frozenset[str] = frozenset(key for key in DRS_ACTIONS if DRS_ACTIONS[key] or EC2_ACTIONS[key])


def member_drs_actions() -> tuple[str, ...]:
    """Every DRS action the functions call: what the member role allows in its account."""
    return tuple(sorted({action for actions in DRS_ACTIONS.values() for action in actions}))


# Readiness (lambdas/core/readiness/reads.py) also reads, in each account a plan names, whether the instance profile
# each launch template names exists (IAM is account-wide) and the account's On-Demand vCPU quota in a Region. The
# readiness function holds these for its own account (stacks/readiness.py); the member role, for its account.
READINESS_ACCOUNT_READS = (
    Grant(
        ("iam:GetInstanceProfile",),
        (f"arn:{PARTITION}:iam::{ACCOUNT}:instance-profile/*",),
        why="readiness checks that the instance profile each launch template names exists; names come from the "
        "templates at run time",
    ),
    Grant(
        ("servicequotas:GetServiceQuota",),
        (f"arn:{PARTITION}:servicequotas:*:{ACCOUNT}:ec2/{VCPU_QUOTA_CODE}",),
        why="the one EC2 vCPU quota, in whichever Region a plan's waves launch",
    ),
)


def member_ec2_actions() -> tuple[str, ...]:
    return tuple(sorted({action for actions in EC2_ACTIONS.values() for action in actions}))


# Between drills (stacks/access.py allow_between_drills): plan load makes the plan's drill schedule (with the drill
# role, passed to Scheduler) and asks the readiness function to evaluate it; plan schedule turns the schedule on or
# off; plan readiness reads the readiness kept (the whole result in the report bucket); run report reads the report
# kept. plan list and run list read the schedules and the readiness, as approvers may too.
OPERATOR_SCHEDULE_ACTIONS = (
    "scheduler:CreateSchedule",
    "scheduler:DeleteSchedule",
    "scheduler:GetSchedule",
    "scheduler:UpdateSchedule",
)
READER_SCHEDULE_ACTIONS = ("scheduler:GetSchedule",)
SCHEDULE_LIST_ACTIONS = ("scheduler:ListSchedules",)  # takes no resource
OPERATOR_REPORT_PREFIXES = ("readiness/", "reports/")  # s3:GetObject (and ListBucket: a missing report reads 404)
