"""The report's JSON: rehearsal reports match the committed schema, states are counted from the history, and the
plan's RTO and RPO targets are judged per server, wave and plan."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from drsctl.report import judge
from drsctl.report.model import problems
from tests.report.conftest import LARGE_FAILING, LARGE_PER_WAVE, LARGE_WAVES, with_cleanup

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text())


@pytest.mark.parametrize("name", ["example", "critical_failure", "large"])
def test_rehearsal_reports_match_the_committed_schema(name, request):
    report = request.getfixturevalue(name)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    jsonschema.Draft202012Validator(SCHEMA).validate(with_cleanup(report))


def test_the_schema_refuses_what_is_not_a_report(example):
    assert problems({"PlanId": "storefront", "Waves": []})
    broken = copy.deepcopy(example)
    broken["cleanup"] = {"status": "COMPLETED", "terminated": "i-1"}
    found = problems(broken)
    assert any(line.startswith("cleanup") for line in found), found
    broken = copy.deepcopy(example)
    del broken["waves"][0]["servers"][0]["jobId"]
    assert problems(broken) == ["waves.0.servers.0: 'jobId' is a required property"]


def test_states_are_counted_from_the_history(example, critical_failure):
    counts = example["stateCounts"]
    assert counts["Start wave recovery"] == 3 and counts["Wave finished"] == 3
    assert counts["Check wave jobs"] == counts["Wave launched?"] == counts["Wait before checking jobs"] > 3
    assert "Wave failed" not in counts and "Ask for approval" not in counts
    names = {state["name"] for state in example["stateMachine"]["states"]}
    assert set(counts) <= names
    taken = {(t["from"], t["to"]): t["count"] for t in example["transitionCounts"]}
    assert taken[("Check wave jobs", "Wave launched?")] == counts["Check wave jobs"]
    assert taken[("Wave launched?", "Wait before checking jobs")] == counts["Check wave jobs"] - 3

    failed = critical_failure["stateCounts"]
    assert failed["Ask for approval"] == 1 and failed["Wait as the plan says"] == 1 and failed["Wave failed"] == 1
    assert failed["Start wave recovery"] == 1  # the later waves never started


def test_the_example_meets_its_targets(example):
    assert example["targets"] == {"rtoMinutes": 45.0, "rpoMinutes": 15.0}
    assert example["rto"]["met"] is True and example["rto"]["achievedSeconds"] <= 45 * 60
    assert example["rpo"]["met"] is True
    assert all(wave["rto"]["met"] and wave["rpo"]["met"] for wave in example["waves"])
    assert example["serverCounts"] == {"total": 14, "launched": 14, "failed": 0, "skipped": 0, "other": 0}
    assert example["verdict"].startswith("The drill ended COMPLETED: 14 of 14 servers launched; RTO of 45m00s met")


def test_a_failed_critical_wave_misses_the_rto_and_an_old_recovery_point_the_rpo(critical_failure):
    report = critical_failure
    first, *skipped = report["waves"]
    assert first["status"] == "FAILED" and first["rto"]["met"] is False
    assert [wave["status"] for wave in skipped] == ["SKIPPED", "SKIPPED"]
    assert all(wave["rto"]["met"] is None and wave["rpo"]["met"] is None for wave in skipped)
    lagging, failed, healthy = first["servers"]
    assert lagging["rpoSeconds"] >= 1800 and lagging["rpoMet"] is False
    assert lagging["recoveryPointAt"] < lagging["startedAt"]
    assert failed["status"] == "FAILED" and failed["rpoSeconds"] is None and failed["rpoMet"] is None
    assert healthy["rpoSeconds"] == 0 and healthy["rpoMet"] is True
    assert first["rpo"] == {"worstSeconds": lagging["rpoSeconds"], "met": False}
    assert report["rto"]["met"] is False and report["rpo"]["met"] is False
    assert report["serverCounts"] == {"total": 8, "launched": 2, "failed": 1, "skipped": 5, "other": 0}
    approval = first["steps"][0]
    assert (approval["kind"], approval["status"], approval["decidedBy"]) == (
        "Approval",
        "SUCCEEDED",
        "arn:aws:iam::123456789012:user/rehearsal-approver-1",
    )
    assert "ended FAILED" in report["verdict"] and "RTO of 1h00m00s missed" in report["verdict"]


def test_two_thousand_servers_are_counted_and_judged(large):
    counts = large["serverCounts"]
    assert counts["total"] == LARGE_WAVES * LARGE_PER_WAVE
    assert counts["failed"] == LARGE_FAILING and counts["launched"] == counts["total"] - LARGE_FAILING
    assert large["status"] == "PARTIAL" and large["rto"]["met"] is True


def test_without_targets_nothing_is_judged(example):
    report = copy.deepcopy(example)
    report["targets"] = {"rtoMinutes": None, "rpoMinutes": None}
    judged = judge.complete(report)
    assert judged["rto"]["met"] is None and judged["rpo"]["met"] is None
    assert all(s["rpoMet"] is None for w in judged["waves"] for s in w["servers"])
    assert "RTO" not in judged["verdict"] and "RPO" not in judged["verdict"]


def _rehearsed(plan: dict, scenario: dict) -> dict:
    from drsctl.emulator import Scenario
    from drsctl.local.run import rehearse
    from lambdas.core.plan import RecoveryPlan

    return rehearse(RecoveryPlan.model_validate(plan), Scenario.model_validate(scenario), "DRILL").to_dict()


def test_the_rpo_is_judged_from_the_snapshot_launched_even_after_a_drill_cleanup():
    from tests.workflow.conftest import three_tier_scenario, three_wave_plan

    scenario = three_tier_scenario()
    scenario["servers"][0]["lagSeconds"] = 1800  # db-0 launched from a point 30 minutes old
    plan = three_wave_plan(Options={"RpoTargetMinutes": 15, "DrillCleanup": {"AfterMinutes": 0}})
    report = _rehearsed(plan, scenario)
    assert report["cleanup"]["status"] == "COMPLETED"  # the instances are gone from DRS
    assert report["rpo"]["met"] is False and report["rpo"]["worstSeconds"] >= 1800


def test_the_rto_counts_the_steps_after_a_wave_and_the_verdict_names_a_step_that_stopped_the_plan():
    from tests.workflow.conftest import three_tier_scenario, three_wave_plan

    plan = three_wave_plan(Options={"RtoTargetMinutes": 45})
    plan["Waves"][2]["After"] = [
        {
            "Name": "Switch DNS",
            "Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True, "TimeoutMinutes": 60},
        }
    ]
    scenario = three_tier_scenario(functions={"drs-hook-dns": {"seconds": 1800}})
    report = _rehearsed(plan, scenario)
    web = report["waves"][2]
    assert web["endedAt"] < 45 * 60 < report["rto"]["achievedSeconds"]  # launched in time; the service was not
    assert report["rto"]["met"] is False and web["rto"]["met"] is False

    plan["Waves"][1]["Before"] = [{"Name": "Change board", "Approval": {"Message": "Go?"}}]
    scenario = three_tier_scenario(approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    rejected = _rehearsed(plan, scenario)
    assert "step 'Change board' before wave 2 (app) ended REJECTED" in rejected["verdict"]
