"""`run resume` refuses, before StartExecution, what Prepare would refuse once started (a FAILED execution, and on AWS
the failed-executions alarm, for nothing)."""

from __future__ import annotations

import pytest

from drsctl.operate.executions import OperateError, check_resumable
from lambdas.core import records
from lambdas.core.records import DrillCleanupRecord
from tests.operate.recorded import record, recorded_stack

NAME = "stopped-drill"
PLAN_ID = "storefront"


def test_a_drill_whose_instances_are_being_terminated_is_not_resumed(stage):
    with recorded_stack(stage, NAME, {"PlanId": PLAN_ID, "ExecutionType": "DRILL"}) as stack, stack.environment():
        terminating = DrillCleanupRecord(AfterMinutes=0, Status="TERMINATING", JobIds=["drsjob-1"], StartedAt=1_000)
        records.put_execution(record(NAME, PLAN_ID, "CANCELLED", EndTime=950, Cleanup=terminating))
        with pytest.raises(OperateError, match="its cleanup is TERMINATING; drsctl run cleanup stopped-drill follows"):
            check_resumable(stack, NAME, PLAN_ID)
