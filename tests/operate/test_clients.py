"""The CLI's AWS clients: a laptop's timeouts and adaptive retries (a call the Lambdas never retry keeps its one
attempt), in the state machine's Region whatever the shell's, and console links on the right partition's console."""

from __future__ import annotations

import os
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.config import Config

from drsctl.operate.stack import (
    ATTEMPTS,
    CONNECT_TIMEOUT,
    OUTPUTS,
    READ_TIMEOUT,
    STATE_MACHINE_VARIABLE,
    DeployedStack,
    StackSession,
    laptop_config,
)
from lambdas.core import accounts, drs, records
from lambdas.core.accounts import Target
from lambdas.core.console import partition_of, states_url
from tests.operate.conftest import ROOT, SandboxProcess

TABLES = {
    "PROTECTION_GROUPS_TABLE": "pg",
    "RECOVERY_PLANS_TABLE": "rp",
    "EXECUTION_HISTORY_TABLE": "eh",
    "EXECUTION_WAVES_TABLE": "ew",
}


def _stack(arn: str = "arn:aws:states:eu-central-1:123456789012:stateMachine:DrsOrchestrator-RecoveryPlan") -> Any:
    return DeployedStack(name="DrsOrchestrator", state_machine_arn=arn, tables=TABLES)


def test_laptop_timeouts_and_adaptive_retries_over_the_lambdas_own_config():
    merged = laptop_config(records.DYNAMODB_CONFIG)
    assert (merged.connect_timeout, merged.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)
    assert merged.retries == {"mode": "adaptive", "total_max_attempts": ATTEMPTS}
    assert records.DYNAMODB_CONFIG.connect_timeout == 1  # the Lambdas' own config is left as it is
    # StartRecovery / TerminateRecoveryInstances are never retried by the SDK (a lost answer would launch twice)
    assert laptop_config(drs.START_CONFIG).retries == {"mode": "adaptive", "total_max_attempts": 1}
    assert laptop_config(Config(retries={"max_attempts": 0})).retries["total_max_attempts"] == 1
    assert laptop_config(None).read_timeout == READ_TIMEOUT


HOME = Target("123456789012", "eu-central-1")  # the stack's own account (its state machine's) and Region


def test_every_client_is_in_the_state_machines_region_not_the_shells():
    stack = _stack()
    with patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-west-2", "AWS_REGION": "us-west-2"}):
        client = stack.client("stepfunctions")
        assert client.meta.region_name == "eu-central-1"
        assert client.meta.config.connect_timeout == CONNECT_TIMEOUT
        assert client.meta.config.retries["mode"] == "adaptive"
        assert stack.client("stepfunctions") is client  # kept for the command
        assert stack.client("drs", "ap-southeast-2").meta.region_name == "ap-southeast-2"  # a wave's own Region
        with stack.environment():
            # what lambdas/core makes in the block: this stack's account, Region and a laptop's patience
            assert accounts.home_account() == HOME.account
            table = records.table(records.EXECUTION_HISTORY_TABLE)
            assert table.name == "eh"
            assert table.meta.client.meta.region_name == "eu-central-1"
            assert table.meta.client.meta.config.read_timeout == READ_TIMEOUT
            reader = drs._client(HOME, "read")
            assert reader.meta.config.retries["mode"] == "adaptive"
            starter = drs._client(HOME, "start")
            assert starter.meta.config.retries["total_max_attempts"] == 1
        # outside it, lambdas/core's own clients again: nothing of the CLI's session is kept
        assert not isinstance(boto3.DEFAULT_SESSION, StackSession)
        with patch.dict(os.environ, {accounts.ORCHESTRATOR_ACCOUNT: HOME.account}):  # as the stack sets it
            assert drs._client(HOME, "read").meta.config.connect_timeout == drs.READ_CONFIG.connect_timeout


@pytest.mark.parametrize(
    ("partition", "region", "host"),
    [
        ("aws", "us-east-1", "console.aws.amazon.com"),
        ("aws-cn", "cn-northwest-1", "console.amazonaws.cn"),
        ("aws-us-gov", "us-gov-east-1", "console.amazonaws-us-gov.com"),
    ],
)
def test_console_links_go_to_the_console_of_the_state_machines_partition(partition, region, host):
    stack = _stack(f"arn:{partition}:states:{region}:123456789012:stateMachine:DrsOrchestrator-RecoveryPlan")
    assert stack.console_url("drill-1") == (
        f"https://{host}/states/home?region={region}#/v2/executions/details/"
        f"arn:{partition}:states:{region}:123456789012:execution:DrsOrchestrator-RecoveryPlan:drill-1"
    )
    assert states_url(stack.state_machine_arn, "statemachines/view").startswith(f"https://{host}/states/")


def test_an_arn_of_no_known_partition_is_refused_not_linked_wrongly():
    with pytest.raises(ValueError, match="not an ARN of a partition"):
        partition_of("arn:aws-iso:states:us-iso-east-1:1:stateMachine:m")
    with pytest.raises(ValueError):
        partition_of("DrsOrchestrator-RecoveryPlan")


def test_a_shell_in_another_region_reads_and_writes_the_stacks_region(sandbox: SandboxProcess):
    """The sandbox keeps every table in us-east-1 (moto's backends are per Region). A shell set to us-west-2 that
    names the stack by its variables (no CloudFormation) still stores, lists and reads the stack's plans and
    executions: the clients follow the state machine's ARN. (Found through CloudFormation, the stack is looked for
    in the shell's Region, as AWS would: tests/operate/test_operator_view.py, the wrong Region named.)"""
    stacks = sandbox.client("cloudformation").describe_stacks(StackName="DrsOrchestrator")["Stacks"][0]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks["Outputs"]}
    named = {variable: outputs[output] for variable, output in OUTPUTS.items()}
    elsewhere = {**named, "AWS_DEFAULT_REGION": "us-west-2", "AWS_REGION": "us-west-2"}
    assert named[STATE_MACHINE_VARIABLE].split(":")[3] == "us-east-1"
    stored = sandbox.drsctl("plan", "load", str(ROOT / "examples" / "plan.yaml"), **elsewhere)
    assert stored.exit_code == 0, stored.output
    listed = sandbox.drsctl("plan", "list", "--json", **elsewhere)
    assert listed.exit_code == 0, listed.output
    assert '"PlanId": "storefront"' in listed.output
    executions = sandbox.drsctl("run", "list", "--json", **elsewhere)
    assert executions.exit_code == 0, executions.output
    assert "storefront" not in str(sandbox.client("dynamodb", "us-west-2").list_tables())
