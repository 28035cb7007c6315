"""Where the deployed stack is (its CloudFormation outputs, or environment variables that name them), and the AWS
clients that talk to it from an operator's laptop.

`drsctl run --stack NAME` (default DrsOrchestrator, or DRSCTL_STACK) reads the stack's outputs with DescribeStacks.
Each value may instead come from an environment variable (DRSCTL_STATE_MACHINE_ARN, the tables' variables the
Lambdas read, NOTIFICATION_TOPIC_ARN): when every needed one is set, CloudFormation is not asked at all.

Clients: the code the CLI shares with the Lambdas (lambdas/core) sizes its clients for a Lambda (1-2 s to connect,
3-15 s to read, two or three attempts, inside a function's timeout). A laptop on a hotel network needs more patience,
so every client the CLI makes comes from one session (`stack_session`) that gives it laptop timeouts and adaptive
retries (a call the Lambdas never retry, such as TerminateRecoveryInstances, stays at one attempt), in the state
machine's Region: the tables, the executions and the stack live there, whatever Region the shell names. Only DRS is
asked in each wave's own Region, as the plan says.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from unittest.mock import patch

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas.core import accounts, console, executions, records

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

# A laptop's patience: 5 s to connect, 30 s for an answer, up to 6 attempts with adaptive retries (botocore's
# client-side rate limiting on top of the standard mode's backoff, for throttled accounts).
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
ATTEMPTS = 6


def laptop_config(given: Config | None = None) -> Config:
    """`given` (a client's own config, from lambdas/core) with laptop timeouts and adaptive retries; a client that
    must not retry (one attempt: its call is not idempotent) keeps its single attempt."""
    retries = dict(given.retries or {}) if given is not None else {}
    single = retries.get("total_max_attempts") == 1 or retries.get("max_attempts") == 0
    laptop = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "adaptive", "total_max_attempts": 1 if single else ATTEMPTS},
    )
    return given.merge(laptop) if given is not None else laptop


class StackSession(boto3.Session):  # type: ignore[misc]  # boto3 ships no type information
    """A boto3 session whose every client (and resource) gets `laptop_config`, in the session's Region unless the
    caller names one (DRS, per wave)."""

    def client(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["config"] = laptop_config(kwargs.get("config"))
        return super().client(*args, **kwargs)


def stack_session(region: str | None) -> boto3.Session:
    """The session every client of the CLI comes from (`region` None: the shell's, to find the stack). One per Region
    and AWS environment (credentials, profile, endpoint) for the process: a new session reads AWS's service models
    again, a few hundred milliseconds that a command (and `run watch`'s first look) should not wait."""
    environment = tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_")))
    return _session(region, environment)


@cache
def _session(region: str | None, environment: tuple[tuple[str, str], ...]) -> boto3.Session:
    return StackSession(region_name=region)


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
    _clients: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def region(self) -> str:
        return console.region_of(self.state_machine_arn)

    @property
    def account(self) -> str:
        """The stack's own account (its output OrchestratorAccount, else the state machine's): what the functions
        take as theirs, so drsctl reaches the same servers without a member role."""
        return self.outputs.get("OrchestratorAccount") or self.state_machine_arn.split(":")[4]

    @property
    def session(self) -> boto3.Session:
        """One session per stack, in the state machine's Region (made on first use)."""
        if "session" not in self._clients:
            self._clients["session"] = stack_session(self.region)
        session: boto3.Session = self._clients["session"]
        return session

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of `service` in the state machine's Region (DRS: the wave's `region`), kept for the command."""
        key = (service, region or self.region)
        if key not in self._clients:
            self._clients[key] = self.session.client(service, region_name=key[1])
        return self._clients[key]

    def execution_arn(self, name: str) -> str:
        """The ARN of the execution called `name` (the ExecutionId) of this stack's state machine."""
        prefix, machine = self.state_machine_arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{machine}:{name}"

    def console_url(self, name: str) -> str:
        """The execution's page on the console of the state machine's partition (aws, aws-cn, aws-us-gov)."""
        return console.states_url(self.execution_arn(name), "v2/executions/details")

    @contextmanager
    def environment(self) -> Iterator[None]:
        """The tables' variables and the stack's account set, as the Lambdas have them, so lambdas.core reads this
        stack and its own account's servers; and the clients lambdas.core makes in the block come from this stack's
        session (its Region, laptop timeouts), made once for the command and kept apart from lambdas.core's own."""
        if "caches" not in self._clients:
            self._clients["caches"] = ClientCaches(self.session)
        variables = {**self.tables, accounts.ORCHESTRATOR_ACCOUNT: self.account}
        with patch.dict(os.environ, variables), clients_from(self.session, self._clients["caches"]):
            yield


@dataclass
class ClientCaches:
    """What lambdas/core caches for a Lambda container's life (its DynamoDB tables, its Step Functions, DRS and EC2
    clients per account), one set per session: swapped in for a block, so a client of the CLI's session is never
    left in lambdas/core's own caches, nor one of theirs (another Region, the Lambdas' timeouts) used by the CLI."""

    session: boto3.Session
    tables: dict[str, Any] = field(default_factory=dict)
    clients: dict[Any, Any] = field(default_factory=dict)  # lambdas/core/accounts.py's: DRS, EC2, per account
    credentials: dict[str, Any] = field(default_factory=dict)  # the member roles' credentials it assumed
    home: list[str] = field(default_factory=list)  # the session's account
    stepfunctions: list[Any] = field(default_factory=list)

    def table(self, name: str) -> Any:
        if name not in self.tables:
            self.tables[name] = self.session.resource("dynamodb", config=records.DYNAMODB_CONFIG).Table(name)
        return self.tables[name]

    def stepfunctions_client(self) -> Any:
        if not self.stepfunctions:
            self.stepfunctions.append(self.session.client("stepfunctions", config=executions.CONFIG))
        return self.stepfunctions[0]


@contextmanager
def clients_from(session: boto3.Session, caches: ClientCaches | None = None) -> Iterator[None]:
    """In the block, the clients lambdas/core makes (boto3.client, boto3.resource, its cached clients) come from
    `session`, cached in `caches` (a new set unless given)."""
    kept = caches or ClientCaches(session)
    with (
        patch.object(boto3, "DEFAULT_SESSION", session),
        patch.object(records, "_table_named", kept.table),
        patch.object(executions, "_client", kept.stepfunctions_client),
        patch.object(accounts, "_clients", kept.clients),
        patch.object(accounts, "_credentials", kept.credentials),
        patch.object(accounts, "_home", kept.home),
    ):
        yield


def named_region() -> str | None:
    """The state machine's Region when DRSCTL_STATE_MACHINE_ARN names it (else None: the shell's Region applies)."""
    arn = os.environ.get(STATE_MACHINE_VARIABLE) or ""
    try:
        console.partition_of(arn)
    except ValueError:
        return None
    return console.region_of(arn)


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
    arn = values[STATE_MACHINE_VARIABLE]
    try:
        console.partition_of(arn)
    except ValueError as error:
        raise StackNotFound(
            f"the state machine ARN {arn!r} (StateMachineArn, or {STATE_MACHINE_VARIABLE}) is not a Step Functions "
            "ARN (arn:<partition>:states:<region>:<account>:stateMachine:<name>): set the stack's output"
        ) from error
    return DeployedStack(
        name=stack_name,
        state_machine_arn=arn,
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
    """The stack's outputs, asked in the shell's Region (where else could it be looked for)."""
    try:
        client = stack_session(None).client("cloudformation")
        stacks: list[dict[str, Any]] = client.describe_stacks(StackName=stack_name)["Stacks"]
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
