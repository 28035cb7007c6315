"""Run the real workflow definition locally: moto's Step Functions engine, in-process Lambdas, moto's DynamoDB and
the DRS emulator, all on one virtual clock.

`LocalAws` sets the stage (tables, functions, state machine from the ASL file with its substitutions) and runs
executions; `figures.py` turns a finished execution into the report.
"""

from __future__ import annotations

import enum
import io
import json
import logging
import os
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

from drsctl.clock import VirtualClock
from drsctl.emulator import DrsEmulator, RunningEmulator, Scenario, start
from drsctl.local import hooks
from drsctl.local.engine import EngineStats, account_of_access_key, virtual_engine
from drsctl.local.instance_profiles import create_in_every_account
from drsctl.local.tables import TABLE_NAMES, TABLES
from lambdas.core import accounts, records
from lambdas.core.observability import logger
from lambdas.core.plan import RecoveryPlan
from lambdas.core.steps import DEFAULT_HOOK_FUNCTION_PREFIX

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "statemachine" / "recovery_plan.asl.json"
# The deployed functions' handlers, memory and timeouts: the CDK stack reads the same file.
FUNCTION_SPECS: dict[str, dict[str, Any]] = json.loads((ROOT / "lambdas" / "functions.json").read_text())
ACCOUNT = "123456789012"
REGION = "us-east-1"
STATE_MACHINE_NAME = "DrsOrchestrator-RecoveryPlan"  # as the stack names it (<stack name>-RecoveryPlan)
ROLE_NAME = "drs-orchestrator-local"
MEMBER_EXTERNAL_ID = "drs-orchestrator-rehearsal"  # what the stack passes as sts:ExternalId (drs:memberExternalId)

# ASL substitution -> function key, as lambdas/functions.json names them
PLACEHOLDERS = {spec["placeholder"]: key for key, spec in FUNCTION_SPECS.items() if "placeholder" in spec}
# Not in the definition: EventBridge invokes reconcile when an execution is stopped, times out or fails, and
# EventBridge Scheduler the sweeper every 15 minutes.
RECONCILE_FUNCTION = "drs-orchestrator-reconcile"
SWEEP_FUNCTION = "drs-orchestrator-sweep"


def function_name(key: str) -> str:
    return "drs-orchestrator-" + key.replace("_", "-")


STOPPED = ("FAILED", "TIMED_OUT", "ABORTED")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def substitute(definition: str, values: dict[str, str]) -> str:
    """Resolve `${Name}` placeholders the way CDK's definition_substitutions does."""
    for name, value in values.items():
        definition = definition.replace("${" + name + "}", value)
    return definition


def _placeholder_zip() -> bytes:
    # moto stores a code package per function; the code that runs is the in-process handler.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "drs-orchestrator: handlers run in-process in the rehearsal\n")
    return buffer.getvalue()


@dataclass
class LocalAws:
    clock: VirtualClock
    emulator: RunningEmulator
    engine: EngineStats
    state_machine_arn: str
    # One client per service for the stage's life (creating a boto3 client costs more than most calls made with it)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def drs(self) -> DrsEmulator:
        return self.emulator.emulator

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    def load_plan(self, plan: RecoveryPlan) -> None:
        records.save_plan(plan)

    def start_execution(self, execution_input: dict[str, Any], name: str) -> str:
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(execution_input)
        )
        arn: str = response["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout_seconds: float = 300) -> dict[str, Any]:
        """Block (in real time) until the execution ends; the virtual clock makes that quick."""
        client = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_seconds
        pause = 0.002
        while True:
            described: dict[str, Any] = client.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still {described['status']} after {timeout_seconds} s")
            # Each DescribeExecution costs the engine's thread CPU (moto serializes under the GIL): back off.
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def stop(self, execution_arn: str, cause: str = "stopped by the operator") -> None:
        self.client("stepfunctions").stop_execution(executionArn=execution_arn, error="Stopped", cause=cause)

    def deliver_status_change(self, described: dict[str, Any]) -> dict[str, Any]:
        """Do what the EventBridge rule does in AWS: invoke the reconcile Lambda with the status-change event."""
        stop = described.get("stopDate") or described["startDate"]
        event = {
            "version": "0",
            "id": self.engine.new_id(),  # from the scenario's seed, as every ID of a rehearsal
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "time": stop.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [described["executionArn"]],
            "detail": {
                "executionArn": described["executionArn"],
                "stateMachineArn": self.state_machine_arn,
                "name": described["name"],
                "status": described["status"],
                "startDate": int(described["startDate"].timestamp() * 1000),
                "stopDate": int(stop.timestamp() * 1000),
                "input": described.get("input"),
                "error": described.get("error"),
                "cause": described.get("cause"),
            },
        }
        return self._invoke(RECONCILE_FUNCTION, event)

    def sweep(self) -> dict[str, Any]:
        """Do what the 15-minute schedule does in AWS: run the sweeper once, at the virtual clock's time."""
        stamp = datetime.fromtimestamp(self.clock.now(), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._invoke(SWEEP_FUNCTION, {"time": stamp})

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        """Invoke one of the stack's functions (by name) as AWS would, outside the state machine."""
        return self._invoke(name, event)

    def _invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        response = self.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event))
        result: dict[str, Any] = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"{name} failed: {result}")
        return result

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """GetExecutionHistory's events, read from the in-process engine: the same events the API gives (a test
        holds them equal), without moto's model-driven serializer, which took 2 s for 3,300 events and 3.8 s of a
        135-wave rehearsal."""
        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        return [_event(event) for event in backend.get_execution_history(execution_arn)["events"]]

    def executions(self) -> list[tuple[str, str]]:
        """(ARN, status) of every execution of the state machine, newest first, read from the in-process engine:
        what ListExecutions answers, without a request (the sandbox's EventBridge stand-in asks ten times a
        second)."""
        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        machine = backend.describe_state_machine(self.state_machine_arn)
        ordered = sorted(machine.executions, key=lambda execution: execution.start_date, reverse=True)
        # an execution moto has created but not yet started has no status: it is RUNNING to ListExecutions
        return [(e.execution_arn, getattr(getattr(e, "exec_status", None), "value", "RUNNING")) for e in ordered]

    def record(self, execution_id: str, plan_id: str) -> records.ExecutionRecord:
        return records.get_execution(execution_id, plan_id)

    def waves(self, execution_id: str) -> list[records.WaveRecord]:
        """Every wave of an execution with all its servers (ExecutionWaves)."""
        return records.execution_waves(execution_id)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_plain(member) for member in value]
    return value


def _event(event: Any) -> dict[str, Any]:
    """A history event as boto3 parses the API's answer: plain strings, and its timestamp a datetime."""
    plain: dict[str, Any] = _plain(event)
    if isinstance(plain.get("timestamp"), str):
        plain["timestamp"] = datetime.fromisoformat(plain["timestamp"].replace("Z", "+00:00"))
    return plain


def _create_stage(definition: str, state_machine_name: str = STATE_MACHINE_NAME) -> str:
    """Tables, an execution role, the four functions and the state machine. Returns the state machine ARN."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for variable, spec in TABLES.items():
        dynamodb.create_table(TableName=TABLE_NAMES[variable], BillingMode="PAY_PER_REQUEST", **spec)
    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    awslambda = boto3.client("lambda", region_name=REGION)
    function_arns = {}
    for key, spec in FUNCTION_SPECS.items():
        created = awslambda.create_function(
            FunctionName=function_name(key),
            Runtime="python3.12",
            Role=role_arn,
            Handler=spec["handler"],
            Code={"ZipFile": _placeholder_zip()},
            Timeout=spec["timeoutSeconds"],
            MemorySize=spec["memoryMb"],
            Architectures=["arm64"],
        )
        function_arns[key] = created["FunctionArn"]
    arns = {placeholder: function_arns[key] for placeholder, key in PLACEHOLDERS.items()}
    stepfunctions = boto3.client("stepfunctions", region_name=REGION)
    created_machine = stepfunctions.create_state_machine(
        name=state_machine_name, definition=substitute(definition, arns), roleArn=role_arn, type="STANDARD"
    )
    arn: str = created_machine["stateMachineArn"]
    return arn


# What an operator's shell may hold that would send the local stage's clients elsewhere: the sandbox's exports
# (`AWS_ENDPOINT_URL` and per-service endpoints), a profile, a session token, config files with endpoints of their own.
_OPERATORS_AWS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _without_the_operators_aws(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment less what points AWS clients somewhere (moto's mock only catches requests to AWS's own host
    names: with the sandbox's AWS_ENDPOINT_URL still set, a rehearsal would write to the sandbox), with no config or
    credentials file read."""
    kept = {
        name: value
        for name, value in environ.items()
        if not name.startswith("AWS_ENDPOINT_URL") and name not in _OPERATORS_AWS
    }
    return {**kept, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


@contextmanager
def local_aws(
    scenario: Scenario,
    definition: str | None = None,
    log_level: str = "WARNING",
    *,
    clock: VirtualClock | None = None,
    answer_undeclared_approvals: bool = True,
    state_machine_name: str = STATE_MACHINE_NAME,
) -> Iterator[LocalAws]:
    """Everything a rehearsal needs, torn down afterwards. `definition` defaults to the ASL file.

    `clock`: a rehearsal's own virtual clock by default; the sandbox gives one that runs on its own (ScaledClock).
    `answer_undeclared_approvals`: a rehearsal approves an approval step the scenario does not answer; the sandbox
    leaves it to the operator (`drsctl run approve`)."""
    clock = clock if clock is not None else VirtualClock()
    emulator = DrsEmulator(scenario, clock)
    # moto logs every caught task failure at ERROR; in a rehearsal those are the workflow doing its job.
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
    with ExitStack() as stack:
        running = start(emulator)
        stack.callback(running.stop)
        environment = {
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_SESSION_TOKEN": "rehearsal",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL_DRS": running.endpoint,
            # The emulator also serves EC2's DescribeInstanceStatus for the recovery instances. moto's mock only
            # intercepts requests to AWS hostnames, so clients with this endpoint reach the emulator, not moto's EC2.
            "AWS_ENDPOINT_URL_EC2": running.endpoint,
            # and Service Quotas' GetServiceQuota (readiness reads the vCPU quota)
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS": running.endpoint,
            "ORCHESTRATOR_ACCOUNT": ACCOUNT,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_SERVICE_NAME": "drs-orchestrator",
            "HOOK_FUNCTION_PREFIX": DEFAULT_HOOK_FUNCTION_PREFIX,  # as the stack deploys it by default
            "HOOK_FUNCTION_ACCOUNT": ACCOUNT,
            # The orchestrator's own account is the scenario's; member accounts are reached through their role, as
            # the stack sets it up (lambdas/core/accounts.py)
            accounts.ORCHESTRATOR_ACCOUNT: scenario.accountId,
            accounts.ORCHESTRATOR_PARTITION: "aws",
            accounts.MEMBER_ROLE_NAME: accounts.DEFAULT_MEMBER_ROLE_NAME,
            accounts.MEMBER_EXTERNAL_ID: MEMBER_EXTERNAL_ID,
            "AWS_REGION": REGION,
            "STATE_MACHINE_NAME": state_machine_name,  # the answer function answers its executions only
            **TABLE_NAMES,
        }
        stack.enter_context(
            patch.dict(os.environ, {**_without_the_operators_aws(os.environ), **environment}, clear=True)
        )
        # The Logger may already exist (imported before the environment was set): give it the rehearsal's level.
        previous_level = logger.log_level
        logger.setLevel(log_level)
        stack.callback(logger.setLevel, previous_level)
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        engine = stack.enter_context(virtual_engine(clock, seed=scenario.seed))
        # Member accounts: STS lets the orchestrator into those the scenario knows and does not refuse, and the
        # emulator answers a call made with the credentials AssumeRole gave in the role's account
        # moto's own account (the stack's, where the sandbox's operators and approvers have their roles) too
        engine.assumable = lambda account: account == ACCOUNT or scenario.assumable(account)
        emulator.resolve_caller = _member_account_of
        accounts.reset()  # credentials a previous rehearsal's STS issued mean nothing to this one
        stack.callback(accounts.reset)
        arn = _create_stage(definition if definition is not None else DEFINITION.read_text(), state_machine_name)
        role = boto3.client("iam", region_name=REGION).get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        hooks.install(
            scenario, engine, role, REGION, clock=clock, answer_undeclared_approvals=answer_undeclared_approvals
        )
        # IAM is moto's: the instance profiles the scenario's launch templates name (readiness looks them up)
        create_in_every_account(emulator.launch, scenario, boto3.client("iam", region_name=REGION))
        yield LocalAws(clock=clock, emulator=running, engine=engine, state_machine_arn=arn)


def _member_account_of(access_key: str) -> str | None:
    """The member account whose role's credentials signed a call to the emulator; None (the scenario's own
    accountId) for any other key. moto's own account (ACCOUNT) is where the stack lives, with the sandbox's IAM users
    (`sandbox-operator`, whose key the CLI signs with): it stands for the orchestrator's account, whatever the
    scenario's accountId."""
    account = account_of_access_key(access_key)
    return None if account == ACCOUNT else account
