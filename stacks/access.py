"""What people need to run drills with this stack: two customer-managed policies to attach to their roles.

OperatorPolicy: `drsctl run start|watch|list|show|cancel|cleanup|resume|report` and `drsctl plan
load|list|show|diff|validate`, on this stack's state machine, executions and tables, and DRS as those commands use it
(with what DRS needs of the caller to terminate a drill's instances). ApproverPolicy: read what an approval asks
about, and answer it through the stack's approval function's URL (`allow_answering`, called where that function is
created: stacks/recovery_stack.py). Neither may answer a task token itself: no states:SendTaskSuccess / SendTaskFailure.
The actions are listed in stacks/iam.py; docs/operations.md states them.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import grants
from stacks import iam as permissions
from stacks.tables import RecordTables


class OperatorAccess(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: RecordTables,
        state_machine: sfn.StateMachine,
        state_machine_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.stack_arn = stack.format_arn(
            service="cloudformation", resource="stack", resource_name=f"{stack.stack_name}/*"
        )
        grants.explain(self, grants.nag_form(stack.resolve(self.stack_arn)), "this stack, whatever its ID")
        executions = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        grants.explain(
            self,
            grants.nag_form(stack.resolve(executions)),
            "this state machine's executions only; their names are chosen at StartExecution",
        )

        self.operator_policy = iam.ManagedPolicy(
            self,
            "OperatorPolicy",
            description="drs-orchestrator: run drills and recoveries with drsctl (start, watch, cancel, clean up, "
            "resume, report; store and read plans)",
        )
        operator = self.operator_policy
        operator.add_statements(
            iam.PolicyStatement(actions=list(permissions.STACK_READ), resources=[self.stack_arn]),
            iam.PolicyStatement(
                actions=list(permissions.OPERATOR_MACHINE_ACTIONS), resources=[state_machine.state_machine_arn]
            ),
            iam.PolicyStatement(actions=list(permissions.OPERATOR_EXECUTION_ACTIONS), resources=[executions]),
        )
        self._tables(operator, tables, permissions.OPERATOR_TABLE_ACTIONS)
        describe = [action for action in permissions.OPERATOR_DRS_ACTIONS if action.startswith("drs:Describe")]
        operator.add_statements(iam.PolicyStatement(actions=describe, resources=["*"]))
        others = tuple(action for action in permissions.OPERATOR_DRS_ACTIONS if action not in describe)
        grants.add(operator, permissions.Grant(others, permissions.DRS_RESOURCES, why=permissions.DRS_WHY))
        for grant in permissions.TERMINATE_DEPENDENCIES:  # run cleanup: DRS terminates with the operator's credentials
            grants.add(operator, grant)

        self.approver_policy = iam.ManagedPolicy(
            self,
            "ApproverPolicy",
            description="drs-orchestrator: read what an approval asks about and answer it (drsctl run "
            "show|watch|list|approve)",
        )
        approver = self.approver_policy
        approver.add_statements(
            iam.PolicyStatement(actions=list(permissions.STACK_READ), resources=[self.stack_arn]),
            iam.PolicyStatement(actions=list(permissions.APPROVER_EXECUTION_ACTIONS), resources=[executions]),
        )
        self._tables(approver, tables, permissions.APPROVER_TABLE_ACTIONS)

    @staticmethod
    def _tables(policy: iam.ManagedPolicy, tables: RecordTables, actions: dict[str, tuple[str, ...]]) -> None:
        for name, table_actions in actions.items():
            policy.add_statements(
                iam.PolicyStatement(actions=list(table_actions), resources=[tables.tables[name].table_arn])
            )
        policy.add_statements(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn(name, index) for name, index in permissions.READER_INDEX_QUERIES],
            )
        )

    def allow_answering(self, function: lambda_.IFunction) -> None:
        """ApproverPolicy may call the approval answer function's URL, and only as an IAM-authenticated caller (its
        identity is what the function records as the approver). Function URLs created since October 2025 need both
        lambda:InvokeFunctionUrl and lambda:InvokeFunction ("Control access to Lambda function URLs"): the second
        only through the URL, so an approver cannot invoke the function around it. Call it where that function is
        created."""
        self.approver_policy.add_statements(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunctionUrl"],
                resources=[function.function_arn],
                conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
            ),
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn],
                conditions={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
            ),
        )

    def allow_between_drills(
        self, *, readiness: lambda_.IFunction, bucket: s3.IBucket, schedule_group: str, drill_role: iam.IRole
    ) -> None:
        """OperatorPolicy: make and change a plan's drill schedule (passing it the drill role, to Scheduler only),
        ask for a plan's readiness, read the readiness and reports the stack keeps. ApproverPolicy: read the
        schedules (plan list shows the next drill)."""
        stack = Stack.of(self)
        schedules = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{schedule_group}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        grants.explain(self, grants.nag_form(stack.resolve(schedules)), "the plans' drill schedules, one per plan")
        self.operator_policy.add_statements(
            iam.PolicyStatement(actions=list(permissions.OPERATOR_SCHEDULE_ACTIONS), resources=[schedules]),
            iam.PolicyStatement(actions=list(permissions.SCHEDULE_LIST_ACTIONS), resources=["*"]),
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[drill_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            ),
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[readiness.function_arn]),
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in permissions.OPERATOR_REPORT_PREFIXES],
            ),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in permissions.OPERATOR_REPORT_PREFIXES]}},
            ),
        )
        bucket_arn = grants.nag_form(stack.resolve(bucket.bucket_arn))
        for prefix in permissions.OPERATOR_REPORT_PREFIXES:
            grants.explain(self, f"{bucket_arn}/{prefix}*", f"the kept {prefix.rstrip('/')} of every plan")
        self.approver_policy.add_statements(
            iam.PolicyStatement(actions=list(permissions.READER_SCHEDULE_ACTIONS), resources=[schedules]),
            iam.PolicyStatement(actions=list(permissions.SCHEDULE_LIST_ACTIONS), resources=["*"]),
        )
