"""Readiness every N minutes (context drs:readinessMinutes, default 30): EventBridge Scheduler invokes the readiness
function (lambdas/core/readiness), which evaluates every stored plan; the `Readiness` alarm goes off while any plan
FAILs (its metric PlansFailingReadiness), on the stack's topic.

What the function may do beyond its tables, DRS and EC2 reads (stacks/iam.py): read instance profiles (IAM is
account-wide) and the EC2 vCPU quota (Service Quotas), put its metrics in its own namespace only, put its events on
the account's default bus, keep whole results under `readiness/` in the report bucket.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambdas.core.readiness.notify import FAILING_METRIC
from lambdas.core.readiness.reads import VCPU_QUOTA_CODE
from lambdas.core.readiness.store import RESULT_PREFIX
from stacks import grants
from stacks.dead_letters import DeadLetterQueue

MINUTES_CONTEXT = "drs:readinessMinutes"
DEFAULT_MINUTES = 30
MINUTES_RANGE = (1, 1440)  # EventBridge Scheduler rates from a minute; a day at most (the alarm's period is the rate)
RETRY_ATTEMPTS = 185  # as the sweeper's: a run is worth retrying until the next one is due


def readiness_minutes(value: object) -> int:
    """The context drs:readinessMinutes (a number, or a string from `-c`): how often readiness runs."""
    if value is None:
        return DEFAULT_MINUTES
    try:
        minutes = int(str(value))
    except ValueError:
        minutes = 0
    low, high = MINUTES_RANGE
    if not low <= minutes <= high:
        raise ValueError(
            f"context {MINUTES_CONTEXT}={value!r}: give a whole number of minutes from {low} to {high} "
            f"(how often every plan's readiness is evaluated; default {DEFAULT_MINUTES})"
        )
    return minutes


def metrics_namespace(stack: Stack) -> str:
    """The stack's own metric namespace (two stacks in one account keep their plans' metrics apart)."""
    return f"DrsOrchestrator/{stack.stack_name}"


class ReadinessEvaluation(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.Function,
        topic: sns.ITopic,
        bucket: s3.IBucket,
        minutes: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        namespace = metrics_namespace(stack)
        rate = Duration.minutes(minutes)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", what="A scheduled readiness run", topic=topic)
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"drs-orchestrator: evaluate every stored plan's readiness every {minutes} minutes",
            schedule=scheduler.ScheduleExpression.rate(rate),
            target=targets.LambdaInvoke(
                function,
                input=scheduler.ScheduleTargetInput.from_object({"time": scheduler.ContextAttribute.scheduled_time}),
                dead_letter_queue=self.dead_letters.queue,
                max_event_age=rate,
                retry_attempts=RETRY_ATTEMPTS,
            ),
        )
        function.add_environment("METRICS_NAMESPACE", namespace)
        function.add_environment("REPORT_BUCKET", bucket.bucket_name)
        function.add_environment("ORCHESTRATOR_ACCOUNT", stack.account)
        role = cast(iam.Role, function.role)  # its DRS, EC2 and table grants are stacks/iam.py's (functions.py)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:GetInstanceProfile"],
                resources=[stack.format_arn(service="iam", region="", resource="instance-profile", resource_name="*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["servicequotas:GetServiceQuota"],
                resources=[
                    stack.format_arn(service="servicequotas", region="*", resource="ec2", resource_name=VCPU_QUOTA_CODE)
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["events:PutEvents"],
                resources=[stack.format_arn(service="events", resource="event-bus", resource_name="default")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{RESULT_PREFIX}*")])
        )
        self.alarm = cloudwatch.Alarm(
            self,
            "Readiness",
            alarm_name=f"{stack.stack_name}-Readiness",
            alarm_description="Readiness: at least one recovery plan would fail a drill or a recovery now (readiness "
            "FAIL): drsctl plan list shows which, drsctl plan readiness PLAN_ID what to fix",
            metric=cloudwatch.Metric(namespace=namespace, metric_name=FAILING_METRIC, statistic="Maximum", period=rate),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            # Published every run: between runs (and before the first) the alarm keeps its state.
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
        logical_id = stack.resolve(cast(CfnResource, function.node.default_child).logical_id)
        bucket_id = stack.resolve(cast(CfnResource, bucket.node.default_child).logical_id)
        for wildcard, reason in (
            (
                f"<{logical_id}.Arn>:*",
                "EventBridge Scheduler's LambdaInvoke target grants invoke on the readiness function and its versions",
            ),
            (
                "arn:<AWS::Partition>:iam::<AWS::AccountId>:instance-profile/*",
                "readiness checks that the instance profile each launch template names exists; names come from the "
                "templates at run time",
            ),
            (
                f"arn:<AWS::Partition>:servicequotas:*:<AWS::AccountId>:ec2/{VCPU_QUOTA_CODE}",
                "the one EC2 vCPU quota, in whichever Region a plan's waves launch",
            ),
            (f"<{bucket_id}.Arn>/{RESULT_PREFIX}*", "each plan's whole readiness result, under readiness/ only"),
        ):
            grants.explain(self, wildcard, reason)
