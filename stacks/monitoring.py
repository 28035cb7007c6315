"""Reconcile on stop, the sweeper, notifications, alarms and a dashboard."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.core.observability import FUNCTION_NAME_KEY, REFUSAL_KEY
from stacks.dead_letters import DeadLetterQueue
from stacks.sweeper import Sweeper

# The statuses Step Functions ends an execution with on its own; the workflow records every other end itself.
RECONCILED_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"]

# EventBridge's delivery of a status change to the reconcile function (RetryPolicy maxima: 86,400 s, 185 attempts,
# which are also EventBridge's defaults): keep trying for a day, then dead-letter it. Reconcile is idempotent.
RECONCILE_EVENT_MAX_AGE = Duration.hours(24)
RECONCILE_EVENT_RETRIES = 185
# Lambda's own retries of the asynchronous invocation when reconcile fails (at most 2; events at most 6 h old),
# after which the event goes to the same dead-letter queue.
RECONCILE_INVOKE_RETRIES = 2
RECONCILE_INVOKE_MAX_AGE = Duration.hours(6)

# A failed or timed-out execution in the last 5 minutes. FILL: a period where one of the two series has no data point
# (CloudWatch omits zero counts) would otherwise make the sum have no value, and the alarm miss the other series.
FAILED_EXPRESSION = "FILL(failed, 0) + FILL(timedOut, 0)"

# A function's unexpected errors: Lambda's Errors (every invocation that raised, timed out or ran out of memory) less
# the refusals the workflow expects (counted from the log line each one writes just before it raises,
# ExpectedRefusals). FILL: a period with errors and no refusal (or none of either) still has a value. An invocation
# whose error and refusal line fall on either side of a 5-minute boundary would alarm once: the two are a fraction of
# a second apart and refusals are rare, so that is rare, and the alarm names the function whose logs say which.
UNEXPECTED_ERRORS_EXPRESSION = "FILL(errors, 0) - FILL(refusals, 0)"
METRIC_NAMESPACE = "drs-orchestrator"
REFUSALS_METRIC = "ExpectedRefusals"
PERIOD = Duration.minutes(5)


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
        stack = Stack.of(self)
        # A customer-managed key: the AWS-managed alias/aws/sns key's policy cannot be changed, so neither EventBridge
        # nor CloudWatch alarms could publish to a topic encrypted with it (their messages would be dropped).
        self.key = kms.Key(
            self,
            "NotificationsKey",
            description="drs-orchestrator: encrypts the execution notifications topic",
            enable_key_rotation=True,
            # It protects only messages in flight; deleting the stack schedules its deletion (30-day waiting period).
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Publishers to an encrypted topic need kms:Decrypt and kms:GenerateDataKey* on its key (SNS: "Enable
        # compatibility between event sources from AWS services and encrypted topics"). EventBridge's statement is
        # added by its SnsTopic targets below (without aws:SourceArn: EventBridge's KMS requests do not carry it);
        # CloudWatch alarms get theirs here.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LetCloudWatchAlarmsPublishToTheTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Notifications",
            display_name="drs-orchestrator executions",
            master_key=self.key,
            enforce_ssl=True,
        )
        # EventBridge's sns:Publish is added by its SnsTopic targets below; CloudWatch alarms need their own.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="LetThisAccountsCloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if notification_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(notification_email))

        # Reconcile must not be lost: EventBridge retries delivery, Lambda retries the invocation, and what still
        # fails waits in a dead-letter queue whose alarm notifies the topic.
        self.reconcile_dead_letters = DeadLetterQueue(
            self, "ReconcileDeadLetters", what="An execution's end (reconcile)", topic=self.topic
        )
        reconcile = functions["reconcile"]
        reconcile.configure_async_invoke(
            retry_attempts=RECONCILE_INVOKE_RETRIES,
            max_event_age=RECONCILE_INVOKE_MAX_AGE,
            on_failure=destinations.SqsDestination(self.reconcile_dead_letters.queue),
        )
        # What reconcile's event may still miss (and a Prepare that died holding locks), the sweeper closes.
        self.sweeper = Sweeper(self, "Sweeper", function=functions["sweep"], topic=self.topic)

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
        self.stopped_rule.add_target(
            targets.LambdaFunction(
                reconcile,
                retry_attempts=RECONCILE_EVENT_RETRIES,
                max_event_age=RECONCILE_EVENT_MAX_AGE,
                dead_letter_queue=self.reconcile_dead_letters.queue,
            )
        )
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
                expression=FAILED_EXPRESSION,
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
            refusals = self._count_refusals(key, function)
            unexpected = cloudwatch.MathExpression(
                expression=UNEXPECTED_ERRORS_EXPRESSION,
                using_metrics={"errors": function.metric_errors(period=PERIOD), "refusals": refusals},
                period=PERIOD,
                label="unexpected errors",
            )
            for name, metric, description in (
                (
                    "UnexpectedErrors",
                    unexpected,
                    "errors other than the refusals the workflow expects (invalid plan, conflict, late step of a "
                    "stopped execution): a bug, a permission, a timeout; the workflow retries, look at its logs",
                ),
                ("Throttles", function.metric_throttles(period=PERIOD), "throttles (the workflow retries)"),
            ):
                alarm = cloudwatch.Alarm(
                    self,
                    f"{key}{name}",
                    alarm_description=f"Lambda {key}: {description}",
                    metric=metric,
                    threshold=1,
                    evaluation_periods=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
                alarm.add_alarm_action(alarm_action)
            widgets.append(
                cloudwatch.GraphWidget(
                    title=f"Lambda {key}",
                    left=[
                        function.metric_invocations(),
                        function.metric_errors(),
                        refusals,
                        function.metric_throttles(),
                    ],
                    right=[function.metric_duration(statistic="Maximum")],
                    width=12,
                )
            )
        dead_letter_queues = [self.reconcile_dead_letters, self.sweeper.dead_letters]
        widgets.append(
            cloudwatch.GraphWidget(
                title="Undelivered (dead-letter queues)",
                left=[dlq.queue.metric_approximate_number_of_messages_visible() for dlq in dead_letter_queues],
                width=12,
            )
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", widgets=[widgets])

    def _count_refusals(self, key: str, function: lambda_.Function) -> cloudwatch.Metric:
        """The function's expected refusals (the log lines lambdas/core/observability.py marks), as a metric."""
        logs.MetricFilter(
            self,
            f"{key}Refusals",
            log_group=function.log_group,
            filter_pattern=logs.FilterPattern.exists(f"$.{REFUSAL_KEY}"),
            metric_namespace=METRIC_NAMESPACE,
            metric_name=REFUSALS_METRIC,
            metric_value="1",
            dimensions={"FunctionName": f"$.{FUNCTION_NAME_KEY}"},
        )
        return cloudwatch.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=REFUSALS_METRIC,
            dimensions_map={"FunctionName": function.function_name},
            statistic="Sum",
            period=PERIOD,
            label="expected refusals",
        )
