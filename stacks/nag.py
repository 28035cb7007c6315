"""cdk-nag AwsSolutions acknowledgements, each with the one-line reason a reviewer needs."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions::AwsSolutions-L1": (
        "Python 3.13 is the newest runtime our Powertools public layer parameter is pinned to "
        "(/aws/service/powertools/python/arm64/python3.13/latest); the runtime moves with the layer"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
        "drs:Describe* are list actions without resource-level permissions, and DRS launches recovery instances "
        "with the caller's EC2 permissions on resources (instances, volumes, snapshots) it creates at run time"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:drs:*:<AWS::AccountId>:job/*]": (
        "StartRecovery creates jobs whose IDs exist only after the call; scoped to this account"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:drs:*:<AWS::AccountId>:source-server/*]": (
        "plans name their servers at run time (or select them by tag); scoped to this account's source servers"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:drs:*:<AWS::AccountId>:recovery-instance/*]": (
        "recovery instances are created by the launch itself; scoped to this account"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:role/*]": (
        "DRS passes the instance profile chosen in each server's launch template; limited by iam:PassedToService "
        "to ec2.amazonaws.com"
    ),
}


def acknowledge_findings(scope: IConstruct) -> None:
    for rule, reason in ACKNOWLEDGEMENTS.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
