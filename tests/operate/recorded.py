"""An execution whose records a test writes itself, step by step, as the workflow would: the stage's tables (moto,
in-process) and a state machine of its own, so the execution exists in Step Functions and nothing else writes its
records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from drsctl.local.rehearsal import REGION, ROLE_NAME, TABLE_NAMES
from drsctl.operate.stack import DeployedStack
from lambdas.core.records import ExecutionRecord, ServerRecord, WaveRecord


@contextmanager
def recorded_stack(stage: Any, name: str, execution_input: dict[str, Any]) -> Iterator[DeployedStack]:
    """A DeployedStack over the stage's tables whose state machine has one (at once SUCCEEDED) execution `name`."""
    with stage({"servers": []}):
        client = boto3.client("stepfunctions", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        machine = client.create_state_machine(name="recorded", definition=json.dumps(definition), roleArn=role)
        client.start_execution(stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps(execution_input))
        yield DeployedStack(name="recorded", state_machine_arn=machine["stateMachineArn"], tables=TABLE_NAMES)


def record(name: str, plan_id: str, status: str, **fields: Any) -> ExecutionRecord:
    return ExecutionRecord(
        ExecutionId=name, PlanId=plan_id, ExecutionType="DRILL", Status=status, StartTime=900, **fields
    )


def wave() -> WaveRecord:
    return WaveRecord(
        WaveNumber=1,
        WaveName="databases",
        ProtectionGroupId="db",
        Region=REGION,
        Servers=[ServerRecord(SourceServerId="s-00000000000000001", Hostname="db-1")],
    )
