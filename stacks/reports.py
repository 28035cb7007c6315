"""Every execution's report, kept: an S3 bucket (encrypted, versioned, no public access, TLS only, objects kept 400
days) and the rule that runs the publish_report function (drsctl/report/publish.py) when an execution ends, writing
`reports/<PlanId>/<ExecutionName>.json` and `.html`. A drill that misses its plan's RTO raises the DrillMissedRto
alarm on the stack's topic.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from drsctl.report.publish import MISSED_RTO_METRIC, REPORT_PREFIX
from stacks import grants
from stacks.dead_letters import DeadLetterQueue

KEEP_DAYS = 400  # a year of drills and their audit, with a margin
ENDED_STATUSES = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
# A stopped execution's record is ended by reconcile at the same moment: the report waits for it (Lambda retries
# the event twice, about a minute apart and then two).
INVOKE_RETRIES = 2
INVOKE_MAX_AGE = Duration.hours(6)
EVENT_RETRIES = 185
EVENT_MAX_AGE = Duration.hours(24)


class ReportArchive(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="KeepReports400Days",
                    expiration=Duration.days(KEEP_DAYS),
                    noncurrent_version_expiration=Duration.days(KEEP_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,  # audit evidence outlives the stack
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions::AwsSolutions-S1",
                reason="only the stack's functions write here and operators read; CloudTrail (data events on this "
                "bucket, when wanted) records who read which report, without a second bucket of access logs",
            )
        )
        self.topic = topic

    def publish_on_end(self, *, function: lambda_.Function, state_machine: sfn.IStateMachine, namespace: str) -> None:
        """Run `function` when an execution of `state_machine` ends, allowed to write reports and its metrics."""
        stack = Stack.of(self)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", what="An execution's report", topic=self.topic)
        function.configure_async_invoke(
            retry_attempts=INVOKE_RETRIES,
            max_event_age=INVOKE_MAX_AGE,
            on_failure=destinations.SqsDestination(self.dead_letters.queue),
        )
        self.rule = events.Rule(
            self,
            "ExecutionEnded",
            description="An execution ended (any way): keep its report in the report bucket",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"stateMachineArn": [state_machine.state_machine_arn], "status": ENDED_STATUSES},
            ),
        )
        self.rule.add_target(
            event_targets.LambdaFunction(
                function,
                retry_attempts=EVENT_RETRIES,
                max_event_age=EVENT_MAX_AGE,
                dead_letter_queue=self.dead_letters.queue,
            )
        )
        function.add_environment("REPORT_BUCKET", self.bucket.bucket_name)
        function.add_environment("METRICS_NAMESPACE", namespace)
        role = cast(iam.Role, function.role)
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[self.bucket.arn_for_objects(f"{REPORT_PREFIX}*")])
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            )
        )
        self.missed_rto = cloudwatch.Alarm(
            self,
            "DrillMissedRto",
            alarm_description="A drill missed its plan's RTO (Options.RtoTargetMinutes): its report, under "
            "reports/<PlanId>/ in the report bucket, shows where the time went",
            metric=cloudwatch.Metric(
                namespace=namespace, metric_name=MISSED_RTO_METRIC, statistic="Maximum", period=Duration.minutes(5)
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.missed_rto.add_alarm_action(actions.SnsAction(self.topic))
        bucket_id = stack.resolve(cast(s3.CfnBucket, self.bucket.node.default_child).logical_id)
        grants.explain(
            self,
            f"<{bucket_id}.Arn>/{REPORT_PREFIX}*",
            "each execution's report, named after its plan and execution at run time, under reports/ only",
        )
