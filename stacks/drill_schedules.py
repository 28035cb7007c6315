"""Scheduled drills: the schedule group `drsctl plan load` puts each plan's drill schedule in, and the role those
schedules start the state machine with. The role may do one thing: states:StartExecution on this state machine, and
only EventBridge Scheduler, for a schedule of this group in this account, may assume it."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class DrillSchedules(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, state_machine: sfn.IStateMachine) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        # Named after the stack, as the state machine is (drsctl finds it from the outputs either way)
        self.group = scheduler.ScheduleGroup(self, "Group", schedule_group_name=f"{stack.stack_name}-DrillSchedules")
        schedules = stack.format_arn(
            service="scheduler",
            resource="schedule",
            resource_name=f"{self.group.schedule_group_name}/*",
            arn_format=ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.role = iam.Role(
            self,
            "StartDrillRole",
            description="drs-orchestrator: a plan's drill schedule starts the state machine (nothing else)",
            assumed_by=iam.PrincipalWithConditions(
                iam.ServicePrincipal("scheduler.amazonaws.com"),
                {"StringEquals": {"aws:SourceAccount": stack.account}, "ArnLike": {"aws:SourceArn": schedules}},
            ),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine.state_machine_arn])
        )
