"""The execution's own deadline (lambdas/core/deadline.py) in the steps that hold it: Start wave, Check wave and Next
runbook step, each called as the state machine calls it, against the DRS emulator and the local tables, at the
times an execution 46 hours in would call them (the virtual clock is moved there first, so DRS agrees)."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core import deadline, records, runbook, task_budget
from lambdas.core.prepare import Prepared, prepare
from lambdas.core.runbook import StepCursor
from lambdas.core.steps import Step
from lambdas.core.waves import WaveProgress, WaveStep, check_wave, start_wave
from tests.workflow.conftest import DB, load, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
START = 1_767_225_600  # the virtual clock's origin: the execution starts there
SLOW = {"drill": {"snapshot": 1, "preparation": 50, "conversion": 200, "launch": 3000}, "jitter": 0}
HOOK = {"Name": "Drain", "Lambda": {"FunctionName": "drs-hook-drain", "TimeoutMinutes": 15}}
WAIT = {"Wait": {"Minutes": 30}}


def prepared(aws: Any, plan: dict[str, Any]) -> Prepared:
    load(aws, plan)
    return prepare(raw_input=DRILL, execution_id="exec-1", execution_arn=None, now=START)


def wave_step(result: Prepared, number: int, now: int, aws: Any) -> WaveStep:
    aws.clock.advance_to(now)
    return WaveStep(
        "exec-1", "shop", "DRILL", number, result.Options, result.EventBudgetPerWave, now, result.WavesEndBy
    )


def test_prepare_gives_the_waves_their_deadline_from_the_start_and_the_end_states_worst(stage):
    with stage(three_tier_scenario()) as aws:
        plain = prepared(aws, three_wave_plan())
    end_states = task_budget.worst_seconds("Finalize execution") + task_budget.worst_seconds("Record failure")
    assert plain.WavesEndBy == START + 48 * 3600 - end_states - 2 * deadline.HANDOFF_SECONDS
    with stage(three_tier_scenario()) as aws:
        cleaned = prepared(aws, three_wave_plan(Options={"DrillCleanup": {"AfterMinutes": 60}}))
    assert plain.WavesEndBy - cleaned.WavesEndBy == deadline.cleanup_seconds(cleaned.Options.DrillCleanup)


def test_a_wave_begun_past_its_cut_deadline_starts_nothing_and_stops_the_plan_whatever_its_impact(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["Impact"] = "OPTIONAL"
    with stage(three_tier_scenario()) as aws:
        result = prepared(aws, plan)
        step = wave_step(result, 1, deadline.wave_cut(result.WavesEndBy), aws)
        progress = start_wave(step, WaveProgress(), 0, seconds_left=lambda: 120.0)
        assert progress.Status == "TIMED_OUT"  # "Wave timed out": the plan stops, OPTIONAL or not
        assert aws.drs.calls["StartRecovery"] == 0
        wave = aws.waves("exec-1")[0]
    assert wave.Status == "TIMED_OUT"
    assert {(s.Status, s.Error) for s in wave.Servers} == {("TIMED_OUT", "NOT_STARTED")}
    message = wave.ErrorMessage or ""
    assert "was stopped after 0 min" in message and "must end within 48 h of its start" in message
    assert all(server in message for server in DB)
    assert "What to do: resume the execution with `drsctl run resume exec-1`" in message


def test_a_wave_whose_deadline_the_cut_shortens_is_checked_by_it_and_ends_there_naming_its_servers(stage):
    plan = three_wave_plan(Options={"WaveTimeoutMinutes": 120})
    plan["Waves"][0]["Impact"] = "OPTIONAL"
    with stage(three_tier_scenario(timing=SLOW)) as aws:
        result = prepared(aws, plan)
        begun = deadline.wave_cut(result.WavesEndBy) - 900  # 15 minutes before the cut: 15 of its 120 minutes
        progress = start_wave(wave_step(result, 1, begun, aws), WaveProgress(), 0, seconds_left=lambda: 120.0)
        assert progress.Status == "RUNNING" and aws.drs.calls["StartRecovery"] == 1
        checked = begun
        while progress.Status == "RUNNING":
            checked += progress.NextCheckSeconds
            assert checked <= begun + 900  # no check is scheduled past the cut deadline
            progress = check_wave(wave_step(result, 1, checked, aws), progress, 0)
        assert checked == begun + 900
        wave = aws.waves("exec-1")[0]
    assert (progress.Status, wave.Status) == ("TIMED_OUT", "TIMED_OUT")
    assert {(s.Status, s.Error) for s in wave.Servers} == {("TIMED_OUT", "WAVE_TIMEOUT")}
    message = wave.ErrorMessage or ""
    assert "was stopped after 15 min" in message and "before this wave's WaveTimeoutMinutes (120 min)" in message
    assert all(server in message for server in DB) and wave.JobIds[0] in message


def next_runbook_step(result: Prepared, aws: Any, now: int, phase: str, index: int, **cursor: Any) -> dict[str, Any]:
    aws.clock.advance_to(now)
    plan_wave = result.Waves[0]
    steps = [Step.model_validate(s) for s in (plan_wave.Before if phase == "BEFORE" else plan_wave.After)]
    return runbook.next_step(
        execution_id="exec-1",
        plan_id="shop",
        mode="DRILL",
        wave_number=1,
        phase_steps=steps,
        cursor=StepCursor(Phase=phase, Index=index, **cursor),  # type: ignore[arg-type]
        now=now,
        waves_end_by=result.WavesEndBy,
    )


def two_nrs() -> int:
    return 2 * task_budget.worst_seconds("Next runbook step") + 2 * deadline.HANDOFF_SECONDS


def test_a_hooks_timeout_is_cut_to_what_is_left_and_its_event_says_so(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["Before"] = [HOOK]
    with stage(three_tier_scenario(functions={"drs-hook-drain": {}})) as aws:
        result = prepared(aws, plan)
        early = next_runbook_step(result, aws, START + 3600, "BEFORE", -1)
        assert (early["Kind"], early["TimeoutSeconds"], early["Event"]["TimeoutSeconds"]) == ("LAMBDA", 900, 900)
        now = result.WavesEndBy - two_nrs() - 2000  # 2,000 s for "Run hook" at its worst: 4 attempts + 14 s
        cut = next_runbook_step(result, aws, now, "BEFORE", -1)
    assert cut["Kind"] == "LAMBDA" and cut["TimeoutSeconds"] == cut["Event"]["TimeoutSeconds"] == (2000 - 14) // 4
    assert task_budget.worst_seconds("Run hook", cut["TimeoutSeconds"]) <= 2000


def test_a_step_with_no_time_left_is_not_begun_and_the_plan_stops_out_of_time(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["Before"] = [HOOK]
    with stage(three_tier_scenario(functions={"drs-hook-drain": {}})) as aws:
        result = prepared(aws, plan)
        now = result.WavesEndBy - two_nrs() - 14  # not a second of the hook fits at its worst
        answer = next_runbook_step(result, aws, now, "BEFORE", -1)
        steps = aws.waves("exec-1")[0].Steps
    assert (answer["Kind"], answer["Error"], answer["Index"]) == ("FAILED", "ExecutionOutOfTime", 0)
    assert "step 'Drain' was not begun" in answer["Cause"] and "drsctl run resume exec-1" in answer["Cause"]
    assert steps == []  # nothing recorded as run: a resume runs it


def test_a_wait_that_would_not_end_in_time_is_not_begun(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [WAIT]
    with stage(three_tier_scenario()) as aws:
        result = prepared(aws, plan)
        fits = result.WavesEndBy - two_nrs() - 1800 - deadline.HANDOFF_SECONDS
        assert next_runbook_step(result, aws, fits, "AFTER", -1)["Seconds"] == 1800
        records.set_wave_steps("exec-1", 1, [], read_version=1)  # forget it: ask again a second later
        late = next_runbook_step(result, aws, fits + 1, "AFTER", -1)
    assert (late["Kind"], late["Error"]) == ("FAILED", "ExecutionOutOfTime")


@pytest.mark.parametrize(("later_waves", "kind"), [(True, "FAILED"), (False, "DONE")])
def test_the_next_wave_is_not_begun_when_it_could_not_end_in_time_and_the_last_wave_ends(stage, later_waves, kind):
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [WAIT]
    if not later_waves:
        plan["Waves"] = plan["Waves"][:1]
    with stage(three_tier_scenario()) as aws:
        result = prepared(aws, plan)
        now = result.WavesEndBy - task_budget.worst_seconds("Next runbook step") - deadline.next_task_seconds() + 1
        answer = next_runbook_step(result, aws, now, "AFTER", 0, Kind="WAIT", Outcome={"Waited": True})
        steps = aws.waves("exec-1")[0].Steps
    assert answer["Kind"] == kind
    assert [(s["Status"], s["Name"]) for s in steps] == [("SUCCEEDED", "Wait")]  # the wait that ran is recorded
    if later_waves:
        assert answer["Error"] == "ExecutionOutOfTime" and "wave 2 was not begun" in answer["Cause"]
