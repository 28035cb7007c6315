"""Where the deployed stack is: its CloudFormation outputs, or environment variables that name them.

`drsctl run --stack NAME` (default DrsOrchestrator, or DRSCTL_STACK) reads the stack's outputs with DescribeStacks.
Each value may instead come from an environment variable (DRSCTL_STATE_MACHINE_ARN, the tables' variables the
Lambdas read, NOTIFICATION_TOPIC_ARN): when every needed one is set, CloudFormation is not asked at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import boto3
from botocore.exceptions import ClientError

DEFAULT_STACK = "DrsOrchestrator"
STACK_VARIABLE = "DRSCTL_STACK"
STATE_MACHINE_VARIABLE = "DRSCTL_STATE_MACHINE_ARN"
APPROVAL_URL_VARIABLE = "DRSCTL_APPROVAL_URL"  # the answer function's URL (output ApprovalUrl): drsctl run approve
# environment variable (as the Lambdas read it) -> the stack's output
TABLE_OUTPUTS = {
    "PROTECTION_GROUPS_TABLE": "ProtectionGroupsTable",
    "RECOVERY_PLANS_TABLE": "RecoveryPlansTable",
    "EXECUTION_HISTORY_TABLE": "ExecutionHistoryTable",
    "EXECUTION_WAVES_TABLE": "ExecutionWavesTable",
}
OUTPUTS = {STATE_MACHINE_VARIABLE: "StateMachineArn", **TABLE_OUTPUTS}


class StackNotFound(Exception):
    """The stack cannot be found or lacks an output: the message says what to set."""


@dataclass(frozen=True)
class DeployedStack:
    name: str
    state_machine_arn: str
    tables: dict[str, str]  # environment variable -> table name
    topic_arn: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    approval_url: str | None = None

    @property
    def region(self) -> str:
        return self.state_machine_arn.split(":")[3]

    def execution_arn(self, name: str) -> str:
        """The ARN of the execution called `name` (the ExecutionId) of this stack's state machine."""
        prefix, machine = self.state_machine_arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{machine}:{name}"

    def console_url(self, name: str) -> str:
        region = self.region
        return (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/"
            f"{self.execution_arn(name)}"
        )

    @contextmanager
    def environment(self) -> Iterator[None]:
        """The tables' variables set, as the Lambdas have them, so lambdas.core.records reads this stack."""
        with patch.dict(os.environ, self.tables):
            yield


def find_stack(name: str | None) -> DeployedStack:
    """The stack's outputs from the environment, else from CloudFormation (DescribeStacks on `name`)."""
    stack_name = name or os.environ.get(STACK_VARIABLE) or DEFAULT_STACK
    values = {variable: os.environ[variable] for variable in OUTPUTS if os.environ.get(variable)}
    topic = os.environ.get("NOTIFICATION_TOPIC_ARN")
    outputs: dict[str, str] = {}
    if len(values) < len(OUTPUTS):
        outputs = _describe(stack_name)
        for variable, output in OUTPUTS.items():
            if variable not in values and output in outputs:
                values[variable] = outputs[output]
        topic = topic or outputs.get("NotificationTopicArn")
    missing = [f"{OUTPUTS[variable]} (or {variable})" for variable in OUTPUTS if variable not in values]
    if missing:
        raise StackNotFound(
            f"stack {stack_name} has no output {', '.join(missing)}: deploy the stack of this repository "
            "(make deploy), or set the variables"
        )
    return DeployedStack(
        name=stack_name,
        state_machine_arn=values[STATE_MACHINE_VARIABLE],
        tables={variable: values[variable] for variable in TABLE_OUTPUTS},
        topic_arn=topic,
        outputs=outputs,
        approval_url=os.environ.get(APPROVAL_URL_VARIABLE) or outputs.get("ApprovalUrl"),
    )


def approval_url(stack: DeployedStack) -> str:
    """The stack's approval URL: from the environment or the outputs already read, else from DescribeStacks."""
    url = stack.approval_url or _describe(stack.name).get("ApprovalUrl")
    if not url:
        raise StackNotFound(
            f"stack {stack.name} has no output ApprovalUrl (or {APPROVAL_URL_VARIABLE}): deploy this version of the "
            "stack (make deploy); approvals are answered through its answer function"
        )
    return url


def _region() -> str:
    return boto3.session.Session().region_name or "(none configured)"


def _describe(stack_name: str) -> dict[str, str]:
    try:
        stacks: list[dict[str, Any]] = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ValidationError":
            raise StackNotFound(
                f"no stack {stack_name} in region {_region()} of this account "
                f"({error.response['Error'].get('Message', '')}): "
                f"pass --stack with the deployed stack's name (or set {STACK_VARIABLE}) and set AWS_DEFAULT_REGION "
                "to its region"
            ) from error
        raise
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
