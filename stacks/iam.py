"""Every IAM action the Lambdas need, in one place, per function.

A test derives the AWS calls each handler's code makes (DRS and DynamoDB) and checks these lists cover them and
allow nothing more, except StartRecovery's dependent actions below: DRS launches recovery instances with the
caller's credentials, so a missing EC2 or IAM permission shows up only as a server LAUNCH FAILED minutes later.
"""

from __future__ import annotations

# StartRecovery's dependent actions (DESIGN.md 5.1; the AWS managed policy AWSElasticDisasterRecoveryConsoleFullAccess
# and the DRS IAM reference list the same set for launching recovery instances).
START_RECOVERY_DEPENDENCIES: tuple[str, ...] = (
    "drs:CreateRecoveryInstanceForDrs",
    "drs:ListTagsForResource",
    "drs:TagResource",
    "ec2:AttachVolume",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateLaunchTemplate",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:CreateNetworkInterface",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:CreateVolume",
    "ec2:DeleteLaunchTemplateVersions",
    "ec2:DeleteSnapshot",
    "ec2:DeleteVolume",
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DetachVolume",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyLaunchTemplate",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RunInstances",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "iam:PassRole",
)

# Per function: the DRS actions its code calls, and per table the DynamoDB actions it uses.
DRS_ACTIONS: dict[str, tuple[str, ...]] = {
    "prepare": ("drs:DescribeSourceServers",),
    "start_wave": ("drs:StartRecovery", "drs:DescribeJobs"),
    "check_wave": ("drs:DescribeJobs",),
    "finalize": (),
    "reconcile": (),
}

READ = ("dynamodb:GetItem",)
WRITE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
TAKE_LOCKS = ("dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")  # take, take over stale, release
RELEASE_LOCKS = ("dynamodb:DeleteItem",)

TABLE_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "prepare": {
        "ProtectionGroups": READ,
        "RecoveryPlans": READ,
        "ExecutionHistory": (*READ, *WRITE),
        "ExecutionWaves": ("dynamodb:BatchWriteItem", "dynamodb:PutItem"),
        "ExecutionLocks": TAKE_LOCKS,
    },
    "start_wave": {
        "ExecutionHistory": ("dynamodb:GetItem", "dynamodb:UpdateItem"),
        "ExecutionWaves": (*READ, "dynamodb:PutItem"),
    },
    "check_wave": {"ExecutionHistory": ("dynamodb:UpdateItem",), "ExecutionWaves": (*READ, "dynamodb:PutItem")},
    "finalize": {
        "ExecutionHistory": (*READ, *WRITE),
        "ExecutionWaves": READ,
        "ExecutionLocks": RELEASE_LOCKS,
    },
    "reconcile": {
        "ExecutionHistory": (*READ, *WRITE, "dynamodb:Query"),
        "ExecutionWaves": READ,
        "ExecutionLocks": RELEASE_LOCKS,
    },
}

# Where the drs:StartRecovery grant may act: DRS condition keys are not supported on StartRecovery's source-server
# resources for tags in every region, so the scope is the account's source servers and DRS jobs.
DRS_RESOURCE_TYPES = ("source-server/*", "job/*", "recovery-instance/*")
