"""The state machine: the ASL file, deployed as is, with its function ARNs substituted."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import grants
from stacks.functions import FUNCTIONS

DEFINITION = Path(__file__).resolve().parents[1] / "statemachine" / "recovery_plan.asl.json"

# Step Functions vends its logs to CloudWatch Logs; a log group under this prefix needs no CloudWatch Logs resource
# policy, whose 5,120-character limit accounts with many log deliveries otherwise hit ("CloudWatch Logs Resource Policy
# size was exceeded"), failing the deploy.
VENDED_LOGS_PREFIX = "/aws/vendedlogs/states/"


STATE_MACHINE_SUFFIX = "-RecoveryPlan"
STATE_MACHINE_NAME_MAX = 80  # Step Functions: a state machine's name is 1 to 80 characters


def state_machine_name(stack: Stack) -> str:
    """Fixed, not generated: the functions' DescribeExecution grant is written from it (stacks/functions.py).
    A stack name that would make it longer than Step Functions allows is refused here, at synth, not at deploy."""
    name = f"{stack.stack_name}{STATE_MACHINE_SUFFIX}"
    if len(name) > STATE_MACHINE_NAME_MAX:
        longest = STATE_MACHINE_NAME_MAX - len(STATE_MACHINE_SUFFIX)
        raise ValueError(
            f"stack name {stack.stack_name!r} is {len(stack.stack_name)} characters: its state machine "
            f"{name!r} would be {len(name)}, over Step Functions' {STATE_MACHINE_NAME_MAX}; deploy it under a stack "
            f"name of at most {longest} characters"
        )
    return name


# ASL placeholder -> function key, as lambdas/functions.json names them
SUBSTITUTIONS = {spec.placeholder: key for key, spec in FUNCTIONS.items() if spec.placeholder}


class RecoveryWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.Function],
        log_retention: logs.RetentionDays,
        state_machine_name: str,
        hook_function_prefix: str,
        log_execution_data: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"{VENDED_LOGS_PREFIX}{state_machine_name}",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "RecoveryPlan",
            # Named, not generated: the functions' DescribeExecution grant is written from this name
            # (stacks/functions.py), which keeps the functions from depending on the state machine that depends on them.
            state_machine_name=state_machine_name,
            comment="Runs a DRS recovery plan wave by wave (DRILL or RECOVERY)",
            state_machine_type=sfn.StateMachineType.STANDARD,
            # from_string, not from_file: the definition is inlined in the template, so a test can compare it with
            # the file the rehearsal runs. The execution timeout is the ASL's own TimeoutSeconds (48 h): CDK's
            # `timeout` is not applied to a definition given as a string.
            definition_body=sfn.DefinitionBody.from_string(DEFINITION.read_text()),
            definition_substitutions={
                placeholder: functions[key].function_arn for placeholder, key in SUBSTITUTIONS.items()
            },
            tracing_enabled=True,
            # Every state's event, without its input and output by default: an approval's task token is in the input
            # of "Ask for approval" (context drs:logExecutionData turns data on, with the risk docs/approvals.md says)
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=log_execution_data
            ),
        )
        # The plan's runbook hooks: only functions named with the prefix, in this account and region (a version or
        # an alias of them too).
        stack = Stack.of(self)
        hooks = stack.format_arn(
            service="lambda",
            resource="function",
            resource_name=f"{hook_function_prefix}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.state_machine.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[hooks, f"{hooks}:*"])
        )
        for resource in (hooks, f"{hooks}:*"):
            grants.explain(
                self,
                grants.nag_form(stack.resolve(resource)),
                "a plan's runbook hooks name their functions at run time; only functions whose name starts with "
                f"{hook_function_prefix!r} (context drs:hookFunctionPrefix), in this account and Region, any version "
                "or alias",
            )
        # An opaque ASL definition grants nothing by itself.
        for key in SUBSTITUTIONS.values():
            self.state_machine.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[functions[key].function_arn],
                )
            )
