"""In the sandbox an approval waits for the operator unless the scenario declares its answer (a rehearsal approves
every undeclared one at once); and a stop ends an execution waiting for one at once (engine patch 20)."""

from __future__ import annotations

import time

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import local_aws
from drsctl.operate.executions import pending_approvals
from tests.conftest import HANG
from tests.workflow.conftest import load, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


def _gated_plan():
    plan = three_wave_plan()
    plan["Waves"][1]["Before"] = [{"Name": "CAB", "Approval": {"Message": "Go?"}}]
    return plan


def _waiting(aws, name, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pending_approvals(aws.waves(name))
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no approval waiting in {name}")


def test_an_undeclared_approval_waits_for_the_operator_and_a_stop_ends_it_at_once():
    scenario = Scenario.model_validate(three_tier_scenario())
    with local_aws(scenario, answer_undeclared_approvals=False) as aws:
        load(aws, _gated_plan())
        arn = aws.start_execution(DRILL, "waits")
        (approval,) = _waiting(aws, "waits")
        assert (approval.wave_name, approval.name) == ("app", "CAB")
        aws.stop(arn, "no answer today")
        # moto alone waited for the token until the step's hour passed on the wall clock: HANG only bounds a hang
        described = aws.wait(arn, timeout_seconds=HANG)
        assert described["status"] == "ABORTED"
        assert described["stopDate"].timestamp() == aws.clock.now()  # at the stop: no virtual time passed
        aws.deliver_status_change(described)
        assert aws.record("waits", "shop").Status == "CANCELLED"
        assert not pending_approvals(aws.waves("waits"))


def test_a_declared_approval_is_answered_as_the_scenario_says():
    declared = three_tier_scenario(approvals=[{"wave": "app", "decision": "REJECT", "afterSeconds": 60}])
    with local_aws(Scenario.model_validate(declared), answer_undeclared_approvals=False) as aws:
        load(aws, _gated_plan())
        described = aws.wait(aws.start_execution(DRILL, "declared"), timeout_seconds=60)
        assert described["status"] == "FAILED"  # "Runbook step failed": the plan stops before wave 2
        assert aws.record("declared", "shop").Status == "FAILED"
        assert aws.waves("declared")[1].Steps[0]["Status"] == "REJECTED"
