"""The sweeper's schedule: every 15 minutes, EventBridge Scheduler invokes the sweep function (lambdas/core/sweep.py).

aws-cdk-lib 2.275 has stable L2 constructs for EventBridge Scheduler (aws_scheduler, aws_scheduler_targets): the
LambdaInvoke target creates the schedule's own role, allowed only lambda:InvokeFunction on the sweep function and
sqs:SendMessage on this dead-letter queue.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnResource, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks import grants
from stacks.dead_letters import DeadLetterQueue

RATE = Duration.minutes(15)
# Delivery retries (EventBridge Scheduler RetryPolicy: at most 185 attempts, events at most 86,400 s old). A run is
# worth retrying only until the next one is due, so its events live as long as the rate, with every retry allowed in
# that window; one that could not be delivered by then goes to the dead-letter queue and raises its alarm.
MAX_EVENT_AGE = RATE
RETRY_ATTEMPTS = 185


class Sweeper(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, function: lambda_.IFunction, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = DeadLetterQueue(self, "DeadLetters", what="A scheduled sweep", topic=topic)
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="drs-orchestrator: end records and release locks of executions that ended without saying so",
            schedule=scheduler.ScheduleExpression.rate(RATE),
            target=targets.LambdaInvoke(
                function,
                # The handler reads event["time"]; Scheduler sends only what it is given.
                input=scheduler.ScheduleTargetInput.from_object({"time": scheduler.ContextAttribute.scheduled_time}),
                dead_letter_queue=self.dead_letters.queue,
                max_event_age=MAX_EVENT_AGE,
                retry_attempts=RETRY_ATTEMPTS,
            ),
        )
        # LambdaInvoke grants the schedule's role lambda:InvokeFunction on the function and on its versions and
        # aliases (`<arn>:*`); the schedule invokes the unqualified function, the wildcard reaches only that function.
        stack = Stack.of(self)
        logical_id = stack.resolve(cast(CfnResource, function.node.default_child).logical_id)
        grants.explain(
            self,
            f"<{logical_id}.Arn>:*",
            "EventBridge Scheduler's LambdaInvoke target grants invoke on the sweep function and its versions; no "
            "other function is reachable",
        )
