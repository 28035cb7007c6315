"""Reconcile on stop, notifications, alarms and a dashboard."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# The statuses Step Functions ends an execution with on its own; the workflow records every other end itself.
RECONCILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        functions: dict[str, lambda_.Function],
        notification_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Notifications",
            display_name="drs-orchestrator executions",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))

        self.stopped_rule = events.Rule(
            self,
            "ExecutionEndedByStepFunctions",
            description="An execution was stopped, timed out or failed: end its record (reconcile) and notify",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": RECONCILED_STATUSES},
            ),
        )
        self.stopped_rule.add_target(targets.LambdaFunction(functions["reconcile"], retry_attempts=8))
        self.stopped_rule.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    f"DRS orchestrator: execution {events.EventField.from_path('$.detail.name')} ended "
                    f"{events.EventField.from_path('$.detail.status')} "
                    f"({events.EventField.from_path('$.detail.error')}). Its ExecutionHistory record states the "
                    "reason and the DRS jobs already started. Execution: "
                    f"{events.EventField.from_path('$.detail.executionArn')}"
                ),
            )
        )

        finished_rule = events.Rule(
            self,
            "ExecutionFinished",
            description="An execution finished (its record is COMPLETED or PARTIAL): notify",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": ["SUCCEEDED"]},
            ),
        )
        finished_rule.add_target(
            targets.SnsTopic(
                self.topic,
                message=events.RuleTargetInput.from_text(
                    f"DRS orchestrator: execution {events.EventField.from_path('$.detail.name')} finished. Its "
                    "ExecutionHistory record says COMPLETED, or PARTIAL with the OPTIONAL servers that did not "
                    f"launch. Execution: {events.EventField.from_path('$.detail.executionArn')}"
                ),
            )
        )

        alarm_action = actions.SnsAction(self.topic)
        failed = cloudwatch.Alarm(
            self,
            "ExecutionsFailedOrTimedOut",
            alarm_description="A recovery plan execution failed or timed out: read its record's ErrorMessage",
            metric=cloudwatch.MathExpression(
                expression="failed + timedOut",
                using_metrics={
                    "failed": state_machine.metric_failed(period=Duration.minutes(5)),
                    "timedOut": state_machine.metric_timed_out(period=Duration.minutes(5)),
                },
                period=Duration.minutes(5),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        failed.add_alarm_action(alarm_action)
        widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Executions",
                left=[
                    state_machine.metric_started(),
                    state_machine.metric_succeeded(),
                    state_machine.metric_failed(),
                    state_machine.metric_timed_out(),
                    state_machine.metric_aborted(),
                ],
                width=12,
            )
        ]
        for key, function in functions.items():
            for name, metric in (("Errors", function.metric_errors()), ("Throttles", function.metric_throttles())):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{key}{name}",
                    alarm_description=f"Lambda {key}: {name.lower()} (the workflow retries; look at its logs)",
                    metric=metric.with_(period=Duration.minutes(5)),
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(alarm_action)
            widgets.append(
                cloudwatch.GraphWidget(
                    title=f"Lambda {key}",
                    left=[function.metric_invocations(), function.metric_errors(), function.metric_throttles()],
                    right=[function.metric_duration(statistic="Maximum")],
                    width=12,
                )
            )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", widgets=[widgets])
