"""A drill its plan's schedule starts (the input `drsctl plan load` gives the schedule): it runs as a DRILL with a
drill cleanup, or, when it cannot start, is refused before anything launches and recorded (FAILED,
ScheduledDrillRefusedError, the reason), never skipped in silence."""

from __future__ import annotations

import json

from drsctl.report import publish
from lambdas.core import records, scheduled
from lambdas.core.drill_schedule import SCHEDULED_CLEANUP_MINUTES, scheduled_input
from lambdas.core.plan import parse_execution_input, parse_plan
from lambdas.core.plan_version import plan_version
from lambdas.core.readiness import store
from lambdas.core.readiness.model import Finding, Readiness
from lambdas.core.records import ExecutionRecord
from tests.workflow.conftest import DB, load, run, three_tier_scenario, three_wave_plan

ROLE = "arn:aws:iam::123456789012:role/DrsOrchestrator-StartDrillRole"


def _refusal(aws, name):
    described, _ = run(aws, scheduled_input("shop", None, ROLE), name)
    record = records.find_execution_by_id(name)
    assert described["status"] == "FAILED" and described["error"] == "ScheduledDrillRefusedError", described
    assert record is not None and record.Status == "FAILED" and record.Scheduled is True
    assert aws.drs.calls["StartRecovery"] == 0  # nothing launched
    assert record.Cleanup is not None and record.Cleanup.Status == "NOT_RUN"  # nothing to clean up, no hour's wait
    return record, described


def _one_wave_plan() -> dict:
    """The db wave alone: what is scheduled does not depend on how many waves the plan has."""
    plan = three_wave_plan()
    return {**plan, "ProtectionGroups": plan["ProtectionGroups"][:1], "Waves": plan["Waves"][:1]}


def test_what_a_schedule_starts_is_a_drill_with_the_plans_cleanup_or_an_hours():
    assert scheduled_input("shop", None, ROLE) == {
        "PlanId": "shop",
        "ExecutionType": "DRILL",
        "Scheduled": True,
        "StartedBy": ROLE,
        "Options": {"DrillCleanup": {"AfterMinutes": SCHEDULED_CLEANUP_MINUTES}},
    }
    own = scheduled_input("shop", {"AfterMinutes": 5}, ROLE)
    assert "Options" not in own  # the stored plan's own DrillCleanup applies, as Prepare reads it
    assert parse_execution_input(own).Scheduled is True


def test_a_scheduled_drill_is_refused_while_readiness_fails_then_runs_as_a_drill_cleaned_up_after_an_hour(stage):
    with stage(three_tier_scenario()) as aws:
        plan = _one_wave_plan()
        load(aws, plan)
        failing = Readiness(
            planId="shop",
            planVersion=plan_version(parse_plan(plan)),
            status="FAIL",
            evaluatedAt="2026-01-01T00:00:00Z",
            findings=[
                Finding(
                    code="LAUNCH_CONFIG_INVALID",
                    severity="FAIL",
                    sourceServerId=DB[0],
                    detail="its launch template names subnet subnet-1, which no longer exists",
                    fix="edit the launch template",
                )
            ],
        )
        store.save_readiness(failing, now=1, previous=None, selector_counts={})
        record, described = _refusal(aws, "scheduled-refused")
        assert "readiness is FAIL" in str(record.ErrorMessage) and DB[0] in str(record.ErrorMessage)
        assert "subnet-1" in described["cause"]

        # the same plan drills once its readiness no longer fails: a DRILL, cleaned up after an hour
        store.save_readiness(
            failing.model_copy(update={"status": "WARN", "findings": []}), now=2, previous=None, selector_counts={}
        )
        described, _ = run(aws, scheduled_input("shop", None, ROLE), "scheduled-1")
        record = records.get_execution("scheduled-1", "shop")
        assert described["status"] == "SUCCEEDED" and record.Status == "COMPLETED"
        assert record.ExecutionType == "DRILL" and record.Scheduled is True and record.StartedBy == ROLE
        assert record.Cleanup is not None and record.Cleanup.AfterMinutes == SCHEDULED_CLEANUP_MINUTES
        assert record.Cleanup.Status == "COMPLETED"
        assert json.loads(described["input"])["ExecutionType"] == "DRILL"


def test_a_scheduled_drill_is_refused_while_another_execution_of_the_plan_runs(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, _one_wave_plan())
        now = int(aws.clock.now())
        records.put_execution(  # what Prepare writes for an execution that runs: its record, open
            ExecutionRecord(ExecutionId="running-drill", PlanId="shop", ExecutionType="DRILL", StartTime=now - 600)
        )
        record, _ = _refusal(aws, "scheduled-busy")
        assert "running-drill" in str(record.ErrorMessage)
        # it launched nothing: no report of its own, its record and the topic's message say why
        assert publish.publish("scheduled-busy") == {
            "ExecutionId": "scheduled-busy",
            "Kept": False,
            "Reason": record.ErrorMessage,
        }


def test_only_a_scheduled_drill_refused_before_it_started_goes_without_a_report():
    refused = ExecutionRecord(
        ExecutionId="refused",
        PlanId="shop",
        ExecutionType="DRILL",
        Status="FAILED",
        StartTime=1,
        EndTime=2,
        Scheduled=True,
        ErrorMessage="ScheduledDrillRefusedError: The scheduled drill of plan 'shop' was not started: ...",
    )
    assert scheduled.refused_before_start(refused)
    by_hand = refused.model_copy(update={"Scheduled": None})  # a drill started by hand and refused: its report
    failed = refused.model_copy(update={"ErrorMessage": "WaveFailedError: wave 1 failed"})
    assert not scheduled.refused_before_start(by_hand) and not scheduled.refused_before_start(failed)
