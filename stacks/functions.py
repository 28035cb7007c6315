"""The Lambda functions: one small factory, one least-privilege role per function."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, IgnoreMode, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks import iam as permissions
from stacks.tables import RecordTables

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = lambda_.Runtime.PYTHON_3_13
POWERTOOLS_LAYER_PARAMETER = "/aws/service/powertools/python/arm64/python3.13/latest"

# Function key -> (handler, memory MB, timeout s, what it does)
FUNCTIONS: dict[str, tuple[str, int, int, str]] = {
    "prepare": ("lambdas.handlers.prepare.handler", 512, 60, "Validate a plan, resolve its servers, open the record"),
    "start_wave": ("lambdas.handlers.start_wave.handler", 256, 60, "StartRecovery for one wave, chunk by chunk"),
    "check_wave": ("lambdas.handlers.check_wave.handler", 256, 30, "One DescribeJobs for a wave's jobs"),
    "finalize": ("lambdas.handlers.finalize.handler", 512, 60, "End an execution's record and release its locks"),
    "reconcile": ("lambdas.handlers.reconcile.handler", 512, 60, "End the record of a stopped or timed-out execution"),
}


class OrchestratorFunctions(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, tables: RecordTables, log_retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        layer_arn = ssm.StringParameter.value_for_string_parameter(self, POWERTOOLS_LAYER_PARAMETER)
        powertools = lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", layer_arn)
        # Only the lambdas/ package is deployed: Powertools comes from its public layer, which is built with its
        # extra dependencies (pydantic v2 among them), and boto3 from the runtime. No bundling, so synth is offline.
        code = lambda_.Code.from_asset(
            str(ROOT),
            exclude=["*", "!lambdas", "!lambdas/**", "**/__pycache__", "**/*.pyc"],
            ignore_mode=IgnoreMode.GIT,
        )
        self.functions: dict[str, lambda_.Function] = {}
        for key, (handler, memory, timeout, description) in FUNCTIONS.items():
            role = iam.Role(
                self,
                f"{key}Role",
                assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                description=f"drs-orchestrator {key}: {description}",
            )
            log_group = logs.LogGroup(self, f"{key}Logs", retention=log_retention)
            function = lambda_.Function(
                self,
                key,
                description=description,
                runtime=RUNTIME,
                architecture=lambda_.Architecture.ARM_64,
                handler=handler,
                code=code,
                memory_size=memory,
                timeout=Duration.seconds(timeout),
                role=role,
                layers=[powertools],
                log_group=log_group,
                tracing=lambda_.Tracing.ACTIVE,
                environment={
                    **tables.environment(),
                    "POWERTOOLS_SERVICE_NAME": "drs-orchestrator",
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                },
            )
            log_group.grant_write(role)
            _grant(role, key, tables, stack)
            self.functions[key] = function


def _grant(role: iam.Role, key: str, tables: RecordTables, stack: Stack) -> None:
    """Exactly the actions of stacks/iam.py for this function, on exactly its tables."""
    drs_actions = permissions.DRS_ACTIONS[key]
    describe = [action for action in drs_actions if action.startswith("drs:Describe")]
    if describe:
        role.add_to_policy(iam.PolicyStatement(actions=describe, resources=["*"]))  # Describe* take no resource
    if "drs:StartRecovery" in drs_actions:
        drs_resources = [
            stack.format_arn(service="drs", region="*", resource=resource_type.split("/")[0], resource_name="*")
            for resource_type in permissions.DRS_RESOURCE_TYPES
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "drs:StartRecovery",
                    *[a for a in permissions.START_RECOVERY_DEPENDENCIES if a.startswith("drs:")],
                ],
                resources=drs_resources,
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[a for a in permissions.START_RECOVERY_DEPENDENCIES if a.startswith("ec2:")], resources=["*"]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[stack.format_arn(service="iam", region="", resource="role", resource_name="*")],
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            )
        )
    for table_name, actions in permissions.TABLE_ACTIONS[key].items():
        table = tables.tables[table_name]
        role.add_to_policy(iam.PolicyStatement(actions=list(actions), resources=[table.table_arn]))
