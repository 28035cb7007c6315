"""The stack a reviewer reads top to bottom: tables, functions, workflow, monitoring, outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnMapping, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambdas.core.console import CONSOLE_HOSTS
from lambdas.core.steps import DEFAULT_HOOK_FUNCTION_PREFIX
from stacks import grants
from stacks import iam as permissions
from stacks.access import OperatorAccess
from stacks.drill_schedules import DrillSchedules
from stacks.functions import OrchestratorFunctions
from stacks.member_account import allow_member_roles
from stacks.monitoring import Monitoring
from stacks.readiness import MINUTES_CONTEXT, ReadinessEvaluation, metrics_namespace, readiness_minutes
from stacks.reports import ReportArchive
from stacks.tables import RecordTables
from stacks.workflow import RecoveryWorkflow, state_machine_name


class DrsOrchestratorStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        context = self.node.try_get_context
        removal = RemovalPolicy.DESTROY if context("drs:destroyTablesOnDelete") is True else RemovalPolicy.RETAIN
        retention = logs.RetentionDays.THREE_MONTHS

        # The state machine's name is fixed, not generated, so the functions can be granted DescribeExecution on its
        # executions without referring to the state machine itself (which refers to them): see stacks/functions.py.
        machine_name = state_machine_name(self)

        hook_prefix = str(context("drs:hookFunctionPrefix") or DEFAULT_HOOK_FUNCTION_PREFIX)
        tables = RecordTables(self, "Records", removal_policy=removal)
        functions = OrchestratorFunctions(
            self, "Functions", tables=tables, log_retention=retention, state_machine_name=machine_name
        )
        workflow = RecoveryWorkflow(
            self,
            "Workflow",
            functions=functions.functions,
            log_retention=retention,
            state_machine_name=machine_name,
            hook_function_prefix=hook_prefix,
            log_execution_data=context("drs:logExecutionData") is True,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=workflow.state_machine,
            functions=functions.functions,
            notification_email=context("drs:notificationEmail"),
        )

        # Member accounts: the functions reach them through their member roles, and may assume those only
        allow_member_roles(self, functions.functions)
        functions.functions["prepare"].add_environment("HOOK_FUNCTION_PREFIX", hook_prefix)  # refuses other names
        functions.functions["prepare"].add_environment("HOOK_FUNCTION_ACCOUNT", self.account)  # and other accounts
        for key in permissions.PUBLISHES_TO_TOPIC:  # the approval request notifies the approvers
            monitoring.topic.grant_publish(functions.functions[key])
            functions.functions[key].add_environment("NOTIFICATION_TOPIC_ARN", monitoring.topic.topic_arn)
        grants.explain(
            self,
            "kms:GenerateDataKey*",
            "publishing to the encrypted notification topic: SNS asks the topic's key for a data key of the kind it "
            "needs; granted on that key only",
        )

        # Who runs drills: policies to attach to the operators' and approvers' roles. The approval answer function
        # is allowed to ApproverPolicy where it is created (access.allow_answering).
        self.access = OperatorAccess(
            self, "Access", tables=tables, state_machine=workflow.state_machine, state_machine_name=machine_name
        )

        approval_url = self.approval_url(functions.functions["answer_approval"], machine_name)
        self.access.allow_answering(functions.functions["answer_approval"])  # ApproverPolicy may call its URL

        # Between drills: every execution's report kept, every plan's readiness evaluated, drills on a schedule.
        reports = ReportArchive(self, "Reports", topic=monitoring.topic)
        reports.publish_on_end(
            function=functions.functions["publish_report"],
            state_machine=workflow.state_machine,
            namespace=metrics_namespace(self),
        )
        readiness = ReadinessEvaluation(
            self,
            "Readiness",
            function=functions.functions["readiness"],
            topic=monitoring.topic,
            bucket=reports.bucket,
            minutes=readiness_minutes(context(MINUTES_CONTEXT)),
        )
        drills = DrillSchedules(self, "DrillSchedules", state_machine=workflow.state_machine)
        self.access.allow_between_drills(
            readiness=functions.functions["readiness"],
            bucket=reports.bucket,
            schedule_group=drills.group.schedule_group_name,
            drill_role=drills.role,
        )

        machine = workflow.state_machine
        CfnOutput(self, "StateMachineArn", value=machine.state_machine_arn)
        CfnOutput(
            self,
            "OrchestratorAccount",
            value=self.account,
            description="The stack's own account: its servers need no member role (drsctl reads it)",
        )
        # The console's host depends on the partition (aws, aws-cn, aws-us-gov): a mapping CloudFormation reads at
        # deploy time, when the partition is known.
        consoles = CfnMapping(
            self, "ConsoleHosts", mapping={partition: {"Host": host} for partition, host in CONSOLE_HOSTS.items()}
        )
        CfnOutput(
            self,
            "StateMachineConsoleUrl",
            value=f"https://{consoles.find_in_map(self.partition, 'Host')}/states/home?region={self.region}"
            f"#/statemachines/view/{machine.state_machine_arn}",
        )
        CfnOutput(
            self,
            "OperatorPolicyArn",
            value=self.access.operator_policy.managed_policy_arn,
            description="Attach to the roles of the people who run drills (drsctl run, drsctl plan)",
        )
        CfnOutput(
            self,
            "ApproverPolicyArn",
            value=self.access.approver_policy.managed_policy_arn,
            description="Attach to the roles of the people who answer approvals (drsctl run approve)",
        )
        for name, table in tables.tables.items():
            CfnOutput(self, f"{name}Table", value=table.table_name)
        CfnOutput(self, "NotificationTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "ReportBucketName", value=reports.bucket.bucket_name)
        CfnOutput(self, "ReadinessFunctionName", value=functions.functions["readiness"].function_name)
        CfnOutput(self, "ReadinessAlarmName", value=readiness.alarm.alarm_name)
        CfnOutput(self, "DrillScheduleGroupName", value=drills.group.schedule_group_name)
        CfnOutput(self, "DrillScheduleRoleArn", value=drills.role.role_arn)
        CfnOutput(
            self,
            "ApprovalUrl",
            value=approval_url.url,
            description="drsctl run approve signs its answer to this URL (AuthType AWS_IAM): docs/approvals.md",
        )
        CfnOutput(self, "ReconcileDeadLetterQueueUrl", value=monitoring.reconcile_dead_letters.queue.queue_url)
        CfnOutput(self, "SweepDeadLetterQueueUrl", value=monitoring.sweeper.dead_letters.queue.queue_url)

    def approval_url(self, answer: lambda_.Function, machine_name: str) -> lambda_.FunctionUrl:
        """The answer function's URL: AWS authenticates every caller (SigV4, AuthType AWS_IAM) and tells the function
        who it is. Callers need lambda:InvokeFunctionUrl on it (the stack's ApproverPolicy); the function alone
        holds states:SendTaskSuccess/SendTaskFailure, and answers only this state machine's executions."""
        answer.add_environment("STATE_MACHINE_NAME", machine_name)
        # cdk-nag IAM5 on its policy (states:SendTask* take no resource) is acknowledged with the rest, policy by
        # policy (stacks/nag.py, stacks/grants.py)
        return answer.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
