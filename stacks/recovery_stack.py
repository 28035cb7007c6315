"""The stack a reviewer reads top to bottom: tables, functions, workflow, monitoring, outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from lambdas.core.steps import DEFAULT_HOOK_FUNCTION_PREFIX
from stacks import iam as permissions
from stacks.drill_schedules import DrillSchedules
from stacks.functions import OrchestratorFunctions
from stacks.monitoring import Monitoring
from stacks.readiness import DEFAULT_MINUTES, MINUTES_CONTEXT, ReadinessEvaluation, metrics_namespace
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
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=workflow.state_machine,
            functions=functions.functions,
            notification_email=context("drs:notificationEmail"),
        )

        functions.functions["prepare"].add_environment("HOOK_FUNCTION_PREFIX", hook_prefix)  # refuses other names
        functions.functions["prepare"].add_environment("HOOK_FUNCTION_ACCOUNT", self.account)  # and other accounts
        for key in permissions.PUBLISHES_TO_TOPIC:  # the approval request notifies the approvers
            monitoring.topic.grant_publish(functions.functions[key])
            functions.functions[key].add_environment("NOTIFICATION_TOPIC_ARN", monitoring.topic.topic_arn)

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
            minutes=int(context(MINUTES_CONTEXT) or DEFAULT_MINUTES),
        )
        drills = DrillSchedules(self, "DrillSchedules", state_machine=workflow.state_machine)

        machine = workflow.state_machine
        CfnOutput(self, "StateMachineArn", value=machine.state_machine_arn)
        CfnOutput(
            self,
            "StateMachineConsoleUrl",
            value=f"https://{self.region}.console.aws.amazon.com/states/home?region={self.region}#/statemachines/view/{machine.state_machine_arn}",
        )
        for name, table in tables.tables.items():
            CfnOutput(self, f"{name}Table", value=table.table_name)
        CfnOutput(self, "NotificationTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "ReportBucketName", value=reports.bucket.bucket_name)
        CfnOutput(self, "ReadinessFunctionName", value=functions.functions["readiness"].function_name)
        CfnOutput(self, "ReadinessAlarmName", value=readiness.alarm.alarm_name)
        CfnOutput(self, "DrillScheduleGroupName", value=drills.group.schedule_group_name)
        CfnOutput(self, "DrillScheduleRoleArn", value=drills.role.role_arn)
        CfnOutput(self, "ReconcileDeadLetterQueueUrl", value=monitoring.reconcile_dead_letters.queue.queue_url)
        CfnOutput(self, "SweepDeadLetterQueueUrl", value=monitoring.sweeper.dead_letters.queue.queue_url)
