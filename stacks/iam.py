"""Every IAM action the Lambdas need, in one place, per function.

A test (tests/infra/test_iam.py) derives the AWS calls each handler's code makes (DRS, DynamoDB per table and index,
Step Functions) and checks the policies grant exactly those, plus StartRecovery's dependent actions below for the
function that calls StartRecovery: DRS launches recovery instances with the caller's credentials, so a missing EC2,
KMS, SSM or IAM permission shows up only as a server LAUNCH FAILED (or a post-launch action that never runs) minutes
later, and no code of ours makes those calls for a test to find.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The principal's own account and partition, filled in by stacks/functions.py.
ACCOUNT = "{account}"
PARTITION = "{partition}"
CALLED_VIA_DRS = {"ForAnyValue:StringEquals": {"aws:CalledVia": ["drs.amazonaws.com"]}}


@dataclass(frozen=True)
class Grant:
    """Actions on resources (ARN templates with {partition} and {account}), under an optional condition."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    conditions: dict[str, Any] = field(default_factory=dict)


# Where drs:StartRecovery and DRS's own bookkeeping act: DRS condition keys are not supported on StartRecovery's
# source-server resources for tags in every region, so the scope is the account's source servers, jobs and recovery
# instances (any region: a plan's waves may recover in several).
DRS_RESOURCE_TYPES = ("source-server/*", "job/*", "recovery-instance/*")
DRS_RESOURCES = tuple(f"arn:{PARTITION}:drs:*:{ACCOUNT}:{resource}" for resource in DRS_RESOURCE_TYPES)
SSM_DOCUMENTS = (
    f"arn:{PARTITION}:ssm:*:{ACCOUNT}:document/*",  # the account's own documents
    f"arn:{PARTITION}:ssm:*::document/*",  # documents owned by AWS (no account in their ARN)
)
SSM_AUTOMATIONS = (
    f"arn:{PARTITION}:ssm:*:{ACCOUNT}:automation-definition/*:*",
    f"arn:{PARTITION}:ssm:*::automation-definition/*:*",
)

# StartRecovery's dependent actions: what the AWS managed policies AWSElasticDisasterRecoveryConsoleFullAccess_v2
# (launching recovery instances) and AWSElasticDisasterRecoveryLaunchActionsPolicy (post-launch actions) grant for a
# recovery, with their conditions where those policies set one. Neither grants kms:CreateGrant (only DescribeKey).
START_RECOVERY_DEPENDENCIES: tuple[Grant, ...] = (
    # DRS creates the recovery instance records and tags the jobs and instances it starts.
    Grant(("drs:CreateRecoveryInstanceForDrs", "drs:ListTagsForResource", "drs:TagResource"), DRS_RESOURCES),
    # DRS reads the account, Region and launch settings it launches into (these reads take no resource).
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
        )
    ),
    # DRS launches each recovery instance from its launch template, by RunInstances or (flexible instance types)
    # CreateFleet, tags what it creates, gives it its network interface and instance profile, starts and stops it.
    Grant(
        (
            "ec2:AssociateIamInstanceProfile",
            "ec2:CreateFleet",
            "ec2:CreateLaunchTemplate",
            "ec2:CreateLaunchTemplateVersion",
            "ec2:CreateNetworkInterface",
            "ec2:CreateNetworkInterfacePermission",
            "ec2:CreateTags",
            "ec2:DeleteLaunchTemplateVersions",
            "ec2:ModifyInstanceAttribute",
            "ec2:ModifyLaunchTemplate",
            "ec2:RunInstances",
            "ec2:StartInstances",
            "ec2:StopInstances",
            "ec2:TerminateInstances",
        )
    ),
    # DRS turns the replicated snapshots into the recovery instance's volumes and cleans up after a conversion.
    Grant(
        (
            "ec2:AttachVolume",
            "ec2:CreateSnapshot",
            "ec2:CreateVolume",
            "ec2:DeleteSnapshot",
            "ec2:DeleteVolume",
            "ec2:DetachVolume",
        )
    ),
    # DRS creates the security group of a recovery subnet when the launch settings ask for one.
    Grant(
        (
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:CreateSecurityGroup",
            "ec2:RevokeSecurityGroupEgress",
        )
    ),
    # DRS checks the KMS key that encrypts the recovery volumes.
    Grant(("kms:DescribeKey",)),
    # DRS passes the instance profile named in each server's launch template to the recovery instance.
    Grant(
        ("iam:PassRole",),
        (f"arn:{PARTITION}:iam::{ACCOUNT}:role/*",),
        {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    ),
    # Post-launch actions: DRS finds the recovery instance in SSM and reads its parameters (list actions).
    Grant(("ssm:DescribeInstanceInformation", "ssm:DescribeParameters"), ("*",), CALLED_VIA_DRS),
    # Post-launch actions: DRS runs the SSM command and automation documents on the recovery instance.
    Grant(
        ("ssm:SendCommand", "ssm:StartAutomationExecution"),
        (*SSM_DOCUMENTS, *SSM_AUTOMATIONS, f"arn:{PARTITION}:ec2:*:{ACCOUNT}:instance/*"),
        CALLED_VIA_DRS,
    ),
    # Post-launch actions: DRS lists the documents and the command invocations it follows (list actions).
    Grant(("ssm:ListCommandInvocations", "ssm:ListDocuments")),
    # Post-launch actions: DRS reads the documents it runs.
    Grant(("ssm:DescribeDocument", "ssm:GetDocument", "ssm:ListDocumentVersions"), SSM_DOCUMENTS),
    # Post-launch actions: DRS follows the automation executions it started.
    Grant(("ssm:GetAutomationExecution",), (f"arn:{PARTITION}:ssm:*:{ACCOUNT}:automation-execution/*",)),
    # Post-launch actions: DRS keeps its own parameters (ManagedByAWSElasticDisasterRecovery...) in Parameter Store.
    Grant(
        ("ssm:GetParameter", "ssm:GetParameters", "ssm:PutParameter"),
        (f"arn:{PARTITION}:ssm:*:{ACCOUNT}:parameter/ManagedByAWSElasticDisasterRecovery*",),
    ),
)
# TerminateRecoveryInstances' dependent actions: DRS terminates the recovery instance and deletes its volumes with
# the caller's credentials, as it launched them (the launch dependencies above hold the same EC2 actions; the
# cleanup function gets only these).
TERMINATE_DEPENDENCIES: tuple[Grant, ...] = (
    Grant(("ec2:DescribeInstances", "ec2:DescribeVolumes")),
    Grant(("ec2:DeleteVolume", "ec2:TerminateInstances")),
    Grant(("drs:DeleteRecoveryInstance",), DRS_RESOURCES),
)
TERMINATE_DEPENDENCY_ACTIONS: frozenset[str] = frozenset(
    action for grant in TERMINATE_DEPENDENCIES for action in grant.actions
)
START_RECOVERY_DEPENDENCY_ACTIONS: frozenset[str] = frozenset(
    action for grant in START_RECOVERY_DEPENDENCIES for action in grant.actions
)

# Per function: the DRS actions its code calls (Describe* take no resource; StartRecovery is scoped above).
DRS_ACTIONS: dict[str, tuple[str, ...]] = {
    "prepare": ("drs:DescribeJobs", "drs:DescribeRecoverySnapshots", "drs:DescribeSourceServers"),
    "lock_servers": (),
    "next_step": (),
    "request_approval": (),
    "check_health": ("drs:DescribeJobs",),  # the launch jobs' launchActionsStatus: post-launch actions
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
        "ExecutionHistory": READ,  # is the execution still running; has a lock's holder ended
        "ExecutionWaves": READ_WAVES,
        "ExecutionLocks": TAKE_LOCKS,
    },
    "next_step": {
        "ExecutionHistory": READ,  # is the execution still running
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),  # the wave's steps, read and written
    },
    "request_approval": {
        "ExecutionWaves": (*READ_WAVES, "dynamodb:UpdateItem"),  # the pending approval's task token on its step
    },
    "check_health": {
        "ExecutionWaves": READ_WAVES,  # the wave's launched servers and the step's start: it writes nothing
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
