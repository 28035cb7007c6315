"""The Lambda functions: one small factory, one least-privilege role per function.

Each function's handler, memory, timeout and description come from lambdas/functions.json, read here as data (the
local rehearsal reads the same file), so the deployed timeouts are the ones the ASL's Task timeouts are sized from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks import grants
from stacks import iam as permissions
from stacks.bundling import lambda_code
from stacks.member_account import function_role_path
from stacks.tables import RecordTables

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_FILE = ROOT / "lambdas" / "functions.json"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


@dataclass(frozen=True)
class FunctionSpec:
    handler: str
    memory_mb: int
    timeout_seconds: int
    description: str
    placeholder: str | None = None  # the ASL's `${...}` for its ARN, when the state machine invokes it


def load_functions(path: Path = FUNCTIONS_FILE) -> dict[str, FunctionSpec]:
    """lambdas/functions.json: function key -> its spec. Unknown or missing fields are an error, not a default."""
    specs: dict[str, FunctionSpec] = {}
    for key, raw in json.loads(path.read_text()).items():
        fields = {"handler", "memoryMb", "timeoutSeconds", "description"}
        if not fields <= set(raw) <= fields | {"placeholder"}:
            raise ValueError(f"{path.name}: {key} has fields {sorted(raw)}, expected {sorted(fields)} (+ placeholder)")
        specs[key] = FunctionSpec(
            handler=str(raw["handler"]),
            memory_mb=int(raw["memoryMb"]),
            timeout_seconds=int(raw["timeoutSeconds"]),
            description=str(raw["description"]),
            placeholder=raw.get("placeholder"),
        )
    return specs


FUNCTIONS = load_functions()


class OrchestratorFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: RecordTables,
        log_retention: logs.RetentionDays,
        state_machine_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        code = lambda_code()  # one asset for every function: lambdas/ and its pinned dependencies (stacks/bundling.py)
        # DescribeExecution is granted on this state machine's executions, by name: the state machine references the
        # functions (its definition substitutes their ARNs), so a reference back to it from the functions' policies
        # would be a dependency cycle. Its name is fixed (stacks/workflow.py state_machine_name), so the ARN is written
        # from the name: arn:<partition>:states:<region>:<account>:execution:<state machine name>:*.
        execution_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        grants.explain(
            self,
            grants.nag_form(stack.resolve(execution_arn)),
            "this state machine's executions only; their names are chosen at StartExecution",
        )
        self.functions: dict[str, lambda_.Function] = {}
        for key, spec in FUNCTIONS.items():
            role = iam.Role(
                self,
                f"{key}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"drs-orchestrator {key}: {spec.description}",
                path=function_role_path(stack.stack_name),  # what the member accounts' roles trust (member_account.py)
            )
            log_group = logs.LogGroup(self, f"{key}Logs", retention=log_retention)
            function = lambda_.Function(
                self,
                key,
                description=spec.description,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                handler=spec.handler,
                code=code,
                memory_size=spec.memory_mb,
                timeout=Duration.seconds(spec.timeout_seconds),
                role=role,
                log_group=log_group,
                tracing=lambda_.Tracing.ACTIVE,
                environment={
                    **tables.environment(),
                    "POWERTOOLS_SERVICE_NAME": "drs-orchestrator",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
            )
            log_group.grant_write(role)
            _grant(role, key, tables, stack, execution_arn)
            self.functions[key] = function


def _grant(role: iam.Role, key: str, tables: RecordTables, stack: Stack, execution_arn: str) -> None:
    """Exactly the actions of stacks/iam.py for this function, on exactly its tables, indexes and executions."""
    drs_actions = permissions.DRS_ACTIONS[key]
    describe = [action for action in drs_actions if action.startswith("drs:Describe")]
    if describe:
        role.add_to_policy(iam.PolicyStatement(actions=describe, resources=["*"]))  # Describe* take no resource
    others = [action for action in drs_actions if action not in describe]
    if others:  # StartRecovery, TerminateRecoveryInstances, ...: the account's source servers, jobs, instances
        grants.add(role, permissions.Grant(tuple(others), permissions.DRS_RESOURCES, why=permissions.DRS_WHY))
    if permissions.EC2_ACTIONS[key]:
        role.add_to_policy(iam.PolicyStatement(actions=list(permissions.EC2_ACTIONS[key]), resources=["*"]))
    # DRS launches and terminates with the caller's credentials: the dependencies come with the call.
    if "drs:StartRecovery" in drs_actions:
        _grant_launch(role, key, stack)
    if "drs:TerminateRecoveryInstances" in drs_actions:
        for grant in permissions.TERMINATE_DEPENDENCIES:
            grants.add(role, grant)
    if key in permissions.ANSWERS_TASK_TOKENS:  # no resource to scope them to: only this function holds them
        role.add_to_policy(iam.PolicyStatement(actions=list(permissions.TASK_TOKEN_ACTIONS), resources=["*"]))
    if permissions.STATES_ACTIONS[key]:
        role.add_to_policy(
            iam.PolicyStatement(actions=list(permissions.STATES_ACTIONS[key]), resources=[execution_arn])
        )
    for table_name, actions in permissions.TABLE_ACTIONS[key].items():
        table = tables.tables[table_name]
        role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
    indexes = permissions.INDEX_QUERIES[key]
    if indexes:
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"], resources=[tables.index_arn(name, index) for name, index in indexes]
            )
        )


def _grant_launch(role: iam.Role, key: str, stack: Stack) -> None:
    """What DRS needs of the caller of StartRecovery: more statements than a role's inline policies may hold (10,240
    characters), so managed policies, as many as their 6,144 characters each need; and iam:PassRole on the roles
    named at deploy."""
    for name, dependencies in (
        ("DrsLaunch", permissions.START_RECOVERY_DEPENDENCIES),
        ("DrsPostLaunchActions", permissions.POST_LAUNCH_DEPENDENCIES),
    ):
        for number, part in enumerate(grants.packed(dependencies), start=1):
            policy = iam.ManagedPolicy(
                role,
                f"{name}{number}",
                description=f"drs-orchestrator {key}: what DRS needs of the caller of StartRecovery ({name}, part "
                f"{number})",
                roles=[role],
            )
            for grant in part:
                grants.add(policy, grant)
    named = permissions.named_roles_grant(_instance_roles(stack))
    if named is not None:
        grants.add(role, named)


def _instance_roles(stack: Stack) -> list[str]:
    """Context drs:recoveryInstanceRoles: the roles (beyond DRS's own) the launch templates give recovery instances."""
    return permissions.role_names(stack.node.try_get_context(permissions.INSTANCE_ROLES_CONTEXT))
