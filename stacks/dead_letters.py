"""Dead-letter queues for deliveries that must not be lost silently, each with an alarm on the notification topic."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

RETENTION = Duration.days(14)  # the SQS maximum: two weeks to notice, read and replay what was not delivered


class DeadLetterQueue(Construct):
    """An SQS queue (SSE-SQS, TLS only, 14 days) and an alarm when it holds any visible message.

    SSE-SQS rather than a KMS key: EventBridge, Lambda and EventBridge Scheduler can all send to it without a key
    policy, and what lands here is our own events (execution ARNs and names, no secrets).
    """

    def __init__(self, scope: Construct, construct_id: str, *, what: str, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
        )
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="this queue is itself a dead-letter queue (of an EventBridge target, a Lambda asynchronous "
                "invocation or an EventBridge Scheduler schedule), which cdk-nag cannot see: no SQS queue redrives "
                "to it",
            )
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "NotEmpty",
            alarm_description=f"{what} could not be delivered and waits in SQS queue "
            f"{self.queue.queue_name}: read the message, fix the cause, and replay it",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
