"""The sandbox put together: the rehearsal's stage (tables, functions, the deployed definition, the emulator) on a
clock that runs `speed` times faster than real time, one endpoint in front of it, the stack's outputs, a topic and
the EventBridge stand-in.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from unittest.mock import patch

import boto3

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import ACCOUNT, REGION, LocalAws, function_name, local_aws
from drsctl.local.tables import TABLE_NAMES
from drsctl.sandbox.approval_url import APPROVAL_PATH, ApprovalUrl
from drsctl.sandbox.clock import ScaledClock
from drsctl.sandbox.cloudformation import StackOutputs
from drsctl.sandbox.events import StatusChanges, approval_announcer
from drsctl.sandbox.front import Router, serve
from drsctl.sandbox.schedules import ScheduleFirer
from drsctl.sandbox.signatures import DEFAULT_KEY, create_default_principal
from drsctl.sandbox.waits import interruptible_waits
from drsctl.stamps import LineStamps
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
    "PLAN_READINESS_TABLE": "PlanReadinessTable",
}
READINESS_MINUTES = 30  # as the stack's context drs:readinessMinutes
SCHEDULER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}],
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
            "AWS_ACCESS_KEY_ID": DEFAULT_KEY,  # the sandbox-operator user's key (drsctl/sandbox/signatures.py)
            "AWS_SECRET_ACCESS_KEY": DEFAULT_KEY,
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


def _in_sandbox_time(say: Callable[[str], None], clock: ScaledClock) -> Callable[[str], None]:
    """`say`, each line starting with the sandbox's time (drsctl/stamps.py): HH:MM:SS, the date when it changes."""
    stamps = LineStamps()
    lock = threading.Lock()  # the engine's and the watcher's threads both speak

    def stamped(line: str) -> None:
        with lock:
            for each in stamps.lines(clock.now(), line):
                say(each)

    return stamped


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
    """Serve the sandbox until the block ends. `say` hears of approvals asked and executions ended, one line each,
    starting with the sandbox's time (its clock, which the records are written in: not this machine's)."""
    with ExitStack() as stack:
        stack.enter_context(patch.dict(os.environ, _own_environment(), clear=True))
        clock = ScaledClock(speed)
        aws = stack.enter_context(
            local_aws(
                scenario,
                clock=clock,
                answer_undeclared_approvals=False,
                log_level="ERROR",
                state_machine_name=f"{stack_name}-RecoveryPlan",  # as the stack names it (stacks/workflow.py)
            )
        )
        stack.enter_context(interruptible_waits(speed))
        topic = boto3.client("sns", region_name=REGION).create_topic(Name=f"{stack_name}-Notifications")["TopicArn"]
        between_drills = _between_drills(stack_name, aws)
        stack.enter_context(
            patch.dict(
                os.environ,
                {
                    TOPIC_VARIABLE: topic,
                    "REPORT_BUCKET": between_drills["ReportBucketName"],
                    "METRICS_NAMESPACE": f"DrsOrchestrator/{stack_name}",
                    "REPORT_SOURCE": "sandbox",
                },
            )
        )
        outputs = {
            "StateMachineArn": aws.state_machine_arn,
            "StateMachineConsoleUrl": states_url(aws.state_machine_arn, "statemachines/view"),
            **{output: TABLE_NAMES[variable] for variable, output in TABLE_OUTPUTS.items()},
            "NotificationTopicArn": topic,
            "OrchestratorAccount": scenario.accountId,  # the servers' own account: the functions' ORCHESTRATOR_ACCOUNT
            **between_drills,
        }
        create_default_principal()
        stamped = _in_sandbox_time(say, clock) if say is not None else None
        approval_url = ApprovalUrl(aws.clock, stamped)
        router = Router(aws.drs, StackOutputs(stack_name, REGION, ACCOUNT, outputs, aws.clock.now()), approval_url)
        front = serve(router, host, port, verbose)
        stack.callback(front.stop)
        outputs["ApprovalUrl"] = front.endpoint + APPROVAL_PATH  # the answer function's URL, on this endpoint
        if stamped is not None:
            aws.engine.listeners.append(approval_announcer(stamped))
        watcher = StatusChanges(aws, topic, stamped).start()
        stack.callback(watcher.stop)
        firer = ScheduleFirer(clock, REGION, stamped).start()
        stack.callback(firer.stop)
        yield Sandbox(front.endpoint, REGION, stack_name, speed, outputs, aws)


def _between_drills(stack_name: str, aws: LocalAws) -> dict[str, str]:
    """What the stack keeps between drills, made in moto as the stack makes it: the report bucket, the drill
    schedules' group and role, and the readiness schedule (every 30 minutes, on the sandbox's clock). Returns the
    stack's outputs for them."""
    bucket = f"{stack_name.lower()}-reports-{ACCOUNT}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    scheduler = boto3.client("scheduler", region_name=REGION)
    group = f"{stack_name}-DrillSchedules"
    scheduler.create_schedule_group(Name=group)
    iam = boto3.client("iam", region_name=REGION)
    role = iam.create_role(
        RoleName=f"{stack_name}-StartDrillRole", AssumeRolePolicyDocument=json.dumps(SCHEDULER_TRUST)
    )["Role"]["Arn"]
    readiness = boto3.client("lambda", region_name=REGION).get_function(FunctionName=function_name("readiness"))
    scheduler.create_schedule(
        Name=f"{stack_name}-Readiness",
        ScheduleExpression=f"rate({READINESS_MINUTES} minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": readiness["Configuration"]["FunctionArn"],
            "RoleArn": role,
            "Input": json.dumps({"time": "<aws.scheduler.scheduled-time>"}),
        },
        State="ENABLED",
    )
    return {
        "ReportBucketName": bucket,
        "ReadinessFunctionName": function_name("readiness"),
        "DrillScheduleGroupName": group,
        "DrillScheduleRoleArn": role,
    }
