"""Runbook steps before and after waves: hooks (plain and with a callback), approvals and waits, on the real
definition, handlers, engine and emulator, with the scenario's stand-in functions and approvers."""

from __future__ import annotations

import json
from typing import Any

import boto3

from drsctl.emulator import Scenario
from drsctl.local.rehearsal import local_aws
from tests.workflow.approving import answer_as, wait_for_approval
from tests.workflow.conftest import DB, entered, load, run, start_recovery_waves, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


def plan_with(steps: dict[int, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    plan = three_wave_plan()
    for index, phases in steps.items():
        plan["Waves"][index].update(phases)
    return plan


def scenario_with(**changes: Any) -> dict[str, Any]:
    return three_tier_scenario(**changes)


def steps_of(aws, wave: int) -> list[dict[str, Any]]:
    return sorted(aws.waves("exec-1")[wave - 1].Steps, key=lambda s: (s["Phase"] != "BEFORE", int(s["Index"])))


def lock_items() -> list[dict]:
    return boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks").scan()["Items"]


def test_steps_run_in_order_around_the_launch_and_are_recorded(stage):
    plan = plan_with(
        {
            0: {
                "Before": [
                    {"Wait": {"Minutes": 5}},
                    {
                        "Name": "Promote the database",
                        "Lambda": {"FunctionName": "drs-hook-promote", "Payload": {"db": 1}},
                    },
                ],
                "After": [
                    {"Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True, "TimeoutMinutes": 30}},
                    {"Approval": {"Message": "Is the database serving?"}},
                ],
            }
        }
    )
    scenario = scenario_with(
        functions={"drs-hook-promote": {"seconds": 30, "output": {"promoted": True}}, "drs-hook-dns": {"seconds": 600}},
        approvals=[{"decision": "APPROVE", "afterSeconds": 120}],
    )
    with stage(scenario) as aws:
        load(aws, plan)
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        steps = steps_of(aws, 1)
        assert [(s["Phase"], s["Kind"], s["Name"], s["Status"]) for s in steps] == [
            ("BEFORE", "Wait", "Wait", "SUCCEEDED"),
            ("BEFORE", "Lambda", "Promote the database", "SUCCEEDED"),
            ("AFTER", "Lambda", "Lambda drs-hook-dns", "SUCCEEDED"),
            ("AFTER", "Approval", "Approval", "SUCCEEDED"),
        ]
        durations = [s["EndedAt"] - s["StartedAt"] for s in steps]
        assert durations == [300, 30, 600, 120]
        assert steps[1]["Detail"] == '{"promoted":true}'
        hook_event = next(
            json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]["Hook"]
            for e in history
            if e["type"] == "TaskScheduled"
            and json.loads(e["taskScheduledEventDetails"]["parameters"])["FunctionName"] == "drs-hook-promote"
        )
        assert hook_event["Servers"][0] == {
            "SourceServerId": DB[0],
            "Account": "111122223333",  # a server is known by its account, Region and ID
            "Region": "us-east-1",
            "Hostname": "db-0",
            "Status": "PENDING",
            "RecoveryInstanceId": None,
            "Ec2InstanceId": None,
        }
        assert (hook_event["Phase"], hook_event["WaveName"], hook_event["Payload"]) == ("BEFORE", "db", {"db": 1})
        assert steps[3]["DecidedBy"] == "arn:aws:iam::123456789012:user/rehearsal-approver-1"
        assert steps[3]["Decision"] == "APPROVE" and "TaskToken" not in steps[3]
        wave = aws.waves("exec-1")[0]
        assert wave.StartTime == steps[1]["EndedAt"]  # launched only after the steps before it
        assert steps[2]["StartedAt"] >= wave.EndTime  # the steps after it wait for its servers
        assert aws.waves("exec-1")[1].StartTime >= steps[3]["EndedAt"]  # the next wave waits for them
        for state in ("Next runbook step", "Run hook", "Run hook and wait for its callback", "Ask for approval"):
            assert entered(history, state) >= 1, state
        assert aws.record("exec-1", "shop").Status == "COMPLETED"


def test_waves_without_steps_do_not_enter_the_runbook_states(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert entered(history, "Next runbook step") == 0
        assert entered(history, "Steps before the wave?") == 3


def test_a_critical_hook_that_fails_stops_the_plan_before_its_wave_launches(stage):
    plan = plan_with({1: {"Before": [{"Lambda": {"FunctionName": "drs-hook-promote"}}]}})
    scenario = scenario_with(functions={"drs-hook-promote": {"seconds": 5, "error": "PromotionFailed"}})
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED"
        assert described["error"] == "RunbookStepFailed"
        assert start_recovery_waves(aws) == ["1"]  # wave 1 launched; wave 2 never did
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED"
        assert "Lambda drs-hook-promote" in record.ErrorMessage and "PromotionFailed" in record.ErrorMessage
        assert "What to do:" in record.ErrorMessage
        assert [w.Status for w in record.Waves] == ["COMPLETED", "SKIPPED", "SKIPPED"]
        assert [s["Status"] for s in steps_of(aws, 2)] == ["FAILED"]
        assert lock_items() == []


def test_an_optional_hook_that_fails_is_recorded_and_the_plan_goes_on(stage):
    plan = plan_with({0: {"After": [{"Lambda": {"FunctionName": "drs-hook-warm", "Impact": "OPTIONAL"}}]}})
    scenario = scenario_with(functions={"drs-hook-warm": {"error": "CacheWarmFailed"}})
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert aws.record("exec-1", "shop").Status == "COMPLETED"
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "FAILED" and step["Detail"].startswith("CacheWarmFailed")


def test_a_rejected_approval_launches_nothing_after_it(stage):
    plan = plan_with({1: {"Before": [{"Approval": {"Message": "Fail over the app tier?"}}]}})
    scenario = scenario_with(approvals=[{"wave": "app", "decision": "REJECT", "afterSeconds": 60}])
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "ApprovalRejected"
        assert start_recovery_waves(aws) == ["1"]
        (step,) = steps_of(aws, 2)
        assert step["Status"] == "REJECTED" and step["EndedAt"] - step["StartedAt"] == 60
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED" and "was rejected" in record.ErrorMessage
        assert lock_items() == []


def test_an_unanswered_approval_follows_its_on_timeout(stage):
    continues = plan_with(
        {0: {"Before": [{"Approval": {"Message": "Go?", "TimeoutMinutes": 10, "OnTimeout": "CONTINUE"}}]}}
    )
    fails = plan_with({0: {"Before": [{"Approval": {"Message": "Go?", "TimeoutMinutes": 10}}]}})
    late = scenario_with(approvals=[{"decision": "APPROVE", "afterSeconds": 3600}])
    with stage(late) as aws:
        load(aws, continues)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "TIMED_OUT" and step["EndedAt"] - step["StartedAt"] == 600
    with stage(late) as aws:
        load(aws, fails)
        described, _ = run(aws, DRILL)
        assert described["error"] == "ApprovalTimedOut"
        assert start_recovery_waves(aws) == []
        assert aws.record("exec-1", "shop").Status == "FAILED"


def test_a_callback_that_never_comes_in_time_times_the_hook_out(stage):
    plan = plan_with(
        {0: {"After": [{"Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True, "TimeoutMinutes": 20}}]}}
    )
    scenario = scenario_with(functions={"drs-hook-dns": {"seconds": 7200}})
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "RunbookStepFailed"
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "TIMED_OUT" and step["EndedAt"] - step["StartedAt"] == 1200
        record = aws.record("exec-1", "shop")
        # the wave itself launched: it stays COMPLETED; the plan failed after it, and launched nothing more
        assert record.Status == "FAILED" and [w.Status for w in record.Waves] == ["COMPLETED", "SKIPPED", "SKIPPED"]


def test_a_stop_during_an_approval_ends_the_step_cancelled_and_the_late_answer_changes_nothing():
    plan = plan_with({0: {"Before": [{"Approval": {"Message": "Go?", "TimeoutMinutes": 60}}]}})
    # no approver in the scenario: the approval waits for an operator, as in the sandbox
    with local_aws(Scenario.model_validate(scenario_with()), answer_undeclared_approvals=False) as aws:
        load(aws, plan)
        arn = aws.start_execution(DRILL, "exec-1")
        wait_for_approval(aws, "exec-1")
        # the operator stops the execution while it waits for the approver; EventBridge delivers at once
        aws.stop(arn, "no drill today")
        aws.deliver_status_change(aws.wait(arn))
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "CANCELLED" and "TaskToken" not in step
        assert "ended (stopped)" in step["Detail"]
        assert aws.record("exec-1", "shop").Status == "CANCELLED"
        # the approver's answer, after the stop, is refused by the answer function: nothing is recorded or launched
        status, answered = answer_as(aws, "arn:aws:iam::123456789012:user/late", "exec-1", 1)
        assert status == 409 and "has ended (CANCELLED)" in answered["Message"]
        assert "Approvals" not in steps_of(aws, 1)[0]
        assert start_recovery_waves(aws) == []
        assert lock_items() == []


def test_a_hook_outside_the_stacks_prefix_is_refused_before_anything_runs(stage):
    plan = plan_with({1: {"After": [{"Lambda": {"FunctionName": "payroll-export"}}]}})
    with stage(scenario_with(functions={"payroll-export": {}})) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "PlanValidationError"
        assert (
            "wave 2 ('app'), After[0]: function 'payroll-export' does not start with 'drs-hook-'" in described["cause"]
        )
        assert start_recovery_waves(aws) == []


def test_a_plain_hook_past_its_timeout_ends_at_its_deadline(stage):
    plan = plan_with({0: {"Before": [{"Lambda": {"FunctionName": "drs-hook-slow", "TimeoutMinutes": 5}}]}})
    with stage(scenario_with(functions={"drs-hook-slow": {"seconds": 2000}})) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "RunbookStepFailed"
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "TIMED_OUT" and step["EndedAt"] - step["StartedAt"] == 300
        assert "before wave 1 (db)" in aws.record("exec-1", "shop").ErrorMessage


def test_a_failed_hooks_detail_is_its_error_and_message_not_a_stack_trace(stage):
    plan = plan_with({0: {"Before": [{"Lambda": {"FunctionName": "drs-hook-x", "Impact": "OPTIONAL"}}]}})
    with stage(scenario_with(functions={"drs-hook-x": {"error": "PromotionFailed"}})) as aws:
        load(aws, plan)
        run(aws, DRILL)
        (step,) = steps_of(aws, 1)
        assert step["Detail"] == "PromotionFailed: drs-hook-x failed as the scenario says"


# What a hook returns stays out of the state's data (lambdas/core/step_end.py): under 256 KiB it is recorded (its
# first 500 characters) however full the wave's state is; over it, the task fails and the step fails by its Impact.
NEAR_THE_LIMIT = {"blob": "x" * 261_000}  # its lambda:invoke result fits 262,144 bytes; the state plus it would not
OVER_THE_LIMIT = {"blob": "x" * 270_000}  # a Lambda may return 6 MB; Step Functions takes 256 KiB


def test_a_hook_output_near_256_kib_is_recorded_as_a_prefix_and_never_enters_the_state(stage):
    plan = plan_with({0: {"After": [{"Name": "Export", "Lambda": {"FunctionName": "drs-hook-export"}}]}})
    with stage(scenario_with(functions={"drs-hook-export": {"output": NEAR_THE_LIMIT}})) as aws:
        load(aws, plan)
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED", described.get("cause")
        (step,) = steps_of(aws, 1)
        assert step["Status"] == "SUCCEEDED"
        assert step["Detail"] == ('{"blob":"' + "x" * 600)[:499] + "…"
        largest_state = max(
            len(details[key].encode())
            for event in history
            for name, details in event.items()
            if name.endswith("EventDetails") and isinstance(details, dict)
            for key in ("input", "output")
            if name.startswith("state") and isinstance(details.get(key), str)
        )
        assert largest_state < 20_000  # the states' data never held the output


def test_a_critical_hook_returning_more_than_256_kib_fails_its_step_naming_the_limit(stage):
    plan = plan_with({1: {"Before": [{"Name": "Export", "Lambda": {"FunctionName": "drs-hook-export"}}]}})
    with stage(scenario_with(functions={"drs-hook-export": {"output": OVER_THE_LIMIT}})) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert (described["status"], described["error"]) == ("FAILED", "RunbookStepFailed")
        assert start_recovery_waves(aws) == ["1"]  # stopped before wave 2 launched
        record = aws.record("exec-1", "shop")
        assert "Step 'Export' before wave 2 (app) failed" in record.ErrorMessage
        assert "States.DataLimitExceeded" in record.ErrorMessage and "256 KiB" in record.ErrorMessage
        (step,) = steps_of(aws, 2)
        assert step["Status"] == "FAILED" and len(step["Detail"]) <= 500
        assert lock_items() == []


def test_an_optional_hook_returning_more_than_256_kib_is_recorded_and_the_plan_goes_on(stage):
    plan = plan_with({1: {"Before": [{"Lambda": {"FunctionName": "drs-hook-export", "Impact": "OPTIONAL"}}]}})
    with stage(scenario_with(functions={"drs-hook-export": {"seconds": 30, "output": OVER_THE_LIMIT}})) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED", described.get("cause")
        assert aws.record("exec-1", "shop").Status == "COMPLETED"
        assert start_recovery_waves(aws) == ["1", "2", "3"]
        (step,) = steps_of(aws, 2)
        assert step["Status"] == "FAILED" and step["Detail"].startswith("States.DataLimitExceeded")
