"""cdk-nag AwsSolutions acknowledgements, each with the one-line reason a reviewer needs.

Two more are made next to what they concern, scoped to it: every DeadLetterQueue acknowledges SQS3 (it is itself a
dead-letter queue), and the Sweeper acknowledges IAM5 for invoking the sweep function's versions (stacks/sweeper.py).
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

from stacks.workflow import state_machine_name

_SSM = "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ssm:"
_POST_LAUNCH = "DRS post-launch actions (AWSElasticDisasterRecoveryLaunchActionsPolicy), only when called via DRS"

ACKNOWLEDGEMENTS: dict[str, str] = {
    "AwsSolutions::AwsSolutions-L1": (
        "Python 3.13 is the runtime the bundled dependencies are built for (stacks/bundling.py: pydantic-core is "
        "compiled for cp313 aarch64) and the rehearsal is checked against; moving on is a deliberate change"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
        "drs:Describe*, the EC2 and SSM list actions and kms:DescribeKey take no resource, and DRS launches "
        "recovery instances with the caller's EC2 permissions on resources (instances, volumes, snapshots) it "
        "creates at run time"
    ),
    "AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]": (
        "publishing to the encrypted notification topic (the approval request): SNS asks the topic's key for a data "
        "key of the kind it needs; granted on that key only"
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
    "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:*:<AWS::AccountId>:instance/*]": (
        f"{_POST_LAUNCH}: SSM commands run on the recovery instances DRS has just launched"
    ),
    f"{_SSM}*:<AWS::AccountId>:document/*]": f"{_POST_LAUNCH}: the account's documents a launch action names",
    f"{_SSM}*::document/*]": f"{_POST_LAUNCH}: AWS-owned documents (AWS-*, AWSMigration-*, ...) a launch action names",
    f"{_SSM}*:<AWS::AccountId>:automation-definition/*:*]": (
        f"{_POST_LAUNCH}: the account's automation runbooks, any version"
    ),
    f"{_SSM}*::automation-definition/*:*]": f"{_POST_LAUNCH}: AWS-owned automation runbooks, any version",
    f"{_SSM}*:<AWS::AccountId>:automation-execution/*]": (
        "DRS follows the automation executions its post-launch actions started; IDs exist only at run time"
    ),
    f"{_SSM}*:<AWS::AccountId>:parameter/ManagedByAWSElasticDisasterRecovery*]": (
        "DRS keeps its post-launch action parameters under this prefix (as its managed policies grant)"
    ),
}


def acknowledge_findings(scope: IConstruct) -> None:
    executions = (
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
        f"execution:{state_machine_name(cdk.Stack.of(scope))}:*]"
    )
    acknowledgements = {
        **ACKNOWLEDGEMENTS,
        executions: (
            "DescribeExecution and GetExecutionHistory on this state machine's executions only; their names are "
            "chosen at StartExecution"
        ),
    }
    for rule, reason in acknowledgements.items():
        cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))
