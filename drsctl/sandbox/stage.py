"""The sandbox put together: the rehearsal's stage (tables, functions, the deployed definition, the emulator) on a
clock that runs `speed` times faster than real time, one endpoint in front of it, the stack's outputs, a topic and
the EventBridge stand-in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from unittest.mock import patch

import boto3

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import ACCOUNT, REGION, LocalAws, local_aws
from drsctl.local.tables import TABLE_NAMES
from drsctl.sandbox.clock import ScaledClock
from drsctl.sandbox.cloudformation import StackOutputs
from drsctl.sandbox.events import StatusChanges, approval_announcer
from drsctl.sandbox.front import Router, serve
from drsctl.sandbox.waits import interruptible_waits
from lambdas.core.console import states_url

DEFAULT_STACK = "DrsOrchestrator"  # the stack name app.py deploys
TOPIC_VARIABLE = "NOTIFICATION_TOPIC_ARN"
# The stack's table outputs (<logical name>Table) for the tables the Lambdas know by these variables.
TABLE_OUTPUTS = {
    "PROTECTION_GROUPS_TABLE": "ProtectionGroupsTable",
    "RECOVERY_PLANS_TABLE": "RecoveryPlansTable",
    "EXECUTION_HISTORY_TABLE": "ExecutionHistoryTable",
    "EXECUTION_WAVES_TABLE": "ExecutionWavesTable",
    "EXECUTION_LOCKS_TABLE": "ExecutionLocksTable",
}


@dataclass
class Sandbox:
    endpoint: str
    region: str
    stack_name: str
    speed: float
    outputs: dict[str, str]
    aws: LocalAws

    def exports(self) -> dict[str, str]:
        """The environment that points the AWS SDK, the AWS CLI and `drsctl run` at the sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": self.region,
            "DRSCTL_STACK": self.stack_name,
        }


def _own_environment() -> dict[str, str]:
    """The sandbox's Lambdas call moto in-process: no endpoint, profile or session of the operator's shell applies."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_ENDPOINT_URL") and name not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")
    }


@contextmanager
def sandbox(
    scenario: Scenario,
    *,
    speed: float = 60.0,
    port: int = 0,
    host: str = "127.0.0.1",
    stack_name: str = DEFAULT_STACK,
    verbose: bool = False,
    say: Callable[[str], None] | None = None,
) -> Iterator[Sandbox]:
    """Serve the sandbox until the block ends. `say` hears of approvals asked and executions ended, one line each."""
    with ExitStack() as stack:
        stack.enter_context(patch.dict(os.environ, _own_environment(), clear=True))
        aws = stack.enter_context(
            local_aws(scenario, clock=ScaledClock(speed), answer_undeclared_approvals=False, log_level="ERROR")
        )
        stack.enter_context(interruptible_waits(speed))
        topic = boto3.client("sns", region_name=REGION).create_topic(Name=f"{stack_name}-Notifications")["TopicArn"]
        stack.enter_context(patch.dict(os.environ, {TOPIC_VARIABLE: topic}))
        outputs = {
            "StateMachineArn": aws.state_machine_arn,
            "StateMachineConsoleUrl": states_url(aws.state_machine_arn, "statemachines/view"),
            **{output: TABLE_NAMES[variable] for variable, output in TABLE_OUTPUTS.items()},
            "NotificationTopicArn": topic,
        }
        router = Router(aws.drs, StackOutputs(stack_name, REGION, ACCOUNT, outputs, aws.clock.now()))
        front = serve(router, host, port, verbose)
        stack.callback(front.stop)
        if say is not None:
            aws.engine.listeners.append(approval_announcer(say))
        watcher = StatusChanges(aws, topic, say).start()
        stack.callback(watcher.stop)
        yield Sandbox(front.endpoint, REGION, stack_name, speed, outputs, aws)
