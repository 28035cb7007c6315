"""Drill cleanup (Options.DrillCleanup) and resume (execution input ResumeFrom) on the real definition, handlers,
engine and emulator: what is terminated, what is launched again, and that no server is ever launched twice."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from drsctl.emulator.scenario import Approval, FunctionSpec
from drsctl.local import hooks, invariants
from drsctl.local.rehearsal import LocalAws
from lambdas.core import cleanup, drs, records, resume
from tests.conftest import server_id
from tests.workflow.conftest import (
    APP,
    DB,
    WEB,
    entered,
    load,
    run,
    three_tier_scenario,
    three_wave_plan,
    with_server_faults,
)

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
ALL = DB + APP + WEB


def plan_with(**options: Any) -> dict[str, Any]:
    return three_wave_plan(Options=options) if options else three_wave_plan()


def launches(aws: LocalAws) -> Counter[str]:
    """How many times each source server was launched (a LAUNCHED participant of a launch job), all executions."""
    counted: Counter[str] = Counter()
    for job in aws.drs.jobs.values():
        if job.type == "LAUNCH":
            counted.update(p.source_server_id for p in job.participants if p.launch_status == "LAUNCHED")
    return counted


def live_instances(aws: LocalAws, execution_id: str) -> list[str]:
    """The recovery instances DRS still lists that `execution_id`'s jobs launched."""
    jobs = {job for wave in aws.waves(execution_id) for job in wave.JobIds}
    found = []
    for region in ("us-east-1", "us-west-2"):
        drs = boto3.client("drs", region_name=region)
        found += [i["recoveryInstanceID"] for i in drs.describe_recovery_instances()["items"] if i["jobID"] in jobs]
    return found


def repair(aws: LocalAws, server: str) -> None:
    """The team fixed the server between the two executions: its launches no longer fail."""
    for (_, source_id), source in aws.drs.servers.items():
        if source_id == server:
            source.spec = source.spec.model_copy(update={"faults": []})


def stop_and_reconcile_at(aws: LocalAws, function: str, nth: int, status: str = "ABORTED") -> None:
    """Stop the execution when `function` is invoked the nth time; EventBridge delivers the end at once."""
    seen = [0]

    def hook(name: str, request: dict[str, Any]) -> None:
        if name.endswith(function):
            seen[0] += 1
            if seen[0] == nth:
                arn = aws.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
                running = next(e["executionArn"] for e in arn if e["status"] == "RUNNING")
                aws.stop(running)
                described = dict(aws.client("stepfunctions").describe_execution(executionArn=running))
                stopped_at = datetime.fromtimestamp(aws.clock.now(), tz=UTC)
                aws.deliver_status_change({**described, "status": status, "stopDate": stopped_at})

    aws.engine.before_invoke.append(hook)


# --- drill cleanup ---------------------------------------------------------------------------------------------


def test_a_completed_drill_terminates_its_instances_after_the_wait_and_records_it(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 30}))
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        record = aws.record("exec-1", "shop")
        assert record.Status == "COMPLETED"
        assert record.Cleanup is not None
        assert record.Cleanup.Status == "COMPLETED", record.Cleanup.Detail
        assert record.Cleanup.Terminated == len(ALL)
        assert record.Cleanup.JobIds and record.Cleanup.StartedAt is not None and record.Cleanup.EndedAt is not None
        assert record.Cleanup.StartedAt - record.EndTime >= 30 * 60  # the instances stayed up AfterMinutes
        assert live_instances(aws, "exec-1") == []
        assert entered(history, "Terminate drill instances") == 1
        assert entered(history, "Check the terminate jobs") >= 1


def test_a_failed_drill_is_cleaned_up_too_and_still_fails_with_its_own_reason(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED"
        assert described["error"] == "WaveFailed"  # the plan's own failure, not the cleanup's
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED"
        assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
        assert record.Cleanup.Terminated == len(DB) + len(APP) - 1  # every instance it launched, none else
        assert live_instances(aws, "exec-1") == []


def test_on_failure_keep_leaves_the_instances_of_a_failed_drill_to_investigate(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0, "OnFailure": "KEEP"}))
        described, history = run(aws, DRILL)
        assert described["status"] == "FAILED"
        cleanup = aws.record("exec-1", "shop").Cleanup
        assert cleanup is not None and cleanup.Status == "KEPT"
        assert "drsctl run cleanup exec-1" in (cleanup.Detail or "")
        assert len(live_instances(aws, "exec-1")) == len(DB) + len(APP) - 1
        assert entered(history, "Terminate drill instances") == 0


def test_a_recovery_never_terminates_anything(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0}))
        described, history = run(aws, {"PlanId": "shop", "ExecutionType": "RECOVERY", "Confirm": "RECOVER shop"})
        assert described["status"] == "SUCCEEDED"
        assert aws.record("exec-1", "shop").Cleanup is None
        assert len(live_instances(aws, "exec-1")) == len(ALL)
        assert entered(history, "Terminate drill instances") == 0


def test_a_stop_while_the_cleanup_waits_ends_it_not_run_and_names_the_command(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 60}))
        stop_and_reconcile_at(aws, "cleanup", 1)  # as "Terminate drill instances" is invoked, after the wait
        run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        assert record.Status == "COMPLETED"  # the drill itself had completed
        assert record.Cleanup is not None and record.Cleanup.Status == "NOT_RUN"
        assert "drsctl run cleanup exec-1" in (record.Cleanup.Detail or "")
        assert len(live_instances(aws, "exec-1")) == len(ALL)


# --- resume ----------------------------------------------------------------------------------------------------


def test_resume_after_a_failed_wave_launches_only_what_the_first_did_not(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with())
        first, _ = run(aws, DRILL)
        assert first["status"] == "FAILED"
        repair(aws, APP[0])
        second, history = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        record = aws.record("exec-2", "shop")
        assert record.Status == "COMPLETED" and record.ResumedFrom == "exec-1"
        waves = aws.waves("exec-2")
        assert waves[0].Status == "SKIPPED" and "completed in execution exec-1" in (waves[0].ErrorMessage or "")
        carried = {s.SourceServerId: s for s in waves[1].Servers}
        assert carried[APP[0]].Status == "LAUNCHED"
        assert {carried[s].Error for s in APP[1:]} == {"LAUNCHED_BEFORE"}
        assert all(carried[s].InstanceId for s in APP[1:])  # the instances the first execution launched
        assert waves[2].Status == "COMPLETED"
        assert entered(history, "Start wave recovery") >= 2  # waves 2 and 3 only: wave 1 is not in the Map
        assert set(launches(aws)) == set(ALL)
        assert max(launches(aws).values()) == 1  # no server launched twice across both executions


@pytest.mark.parametrize(
    ("stopped_as", "at_wave", "recorded", "waves"),
    [
        ("ABORTED", 2, "CANCELLED", ["SKIPPED", "COMPLETED", "COMPLETED"]),  # stopped as wave 2 starts
        ("TIMED_OUT", 3, "TIMED_OUT", ["SKIPPED", "SKIPPED", "COMPLETED"]),  # the execution timeout as wave 3 starts
    ],
)
def test_resume_after_a_cancelled_or_timed_out_execution(stage, stopped_as, at_wave, recorded, waves):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        stop_and_reconcile_at(aws, "start-wave", at_wave, status=stopped_as)
        run(aws, DRILL)  # the engine may end it ABORTED or, a step finding its record ended, FAILED
        assert aws.record("exec-1", "shop").Status == recorded
        aws.engine.before_invoke.clear()
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        assert [w.Status for w in aws.waves("exec-2")] == waves
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)


def test_resumes_that_cannot_be_are_refused_before_anything_is_launched(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        run(aws, DRILL)
        launched = sum(launches(aws).values())
        cases = {
            "exec-2": ({**DRILL, "ResumeFrom": "exec-1"}, "is COMPLETED"),
            "exec-3": ({**DRILL, "ResumeFrom": "no-such-run"}, "no execution of that name"),
            "exec-5": ({**DRILL, "ResumeFrom": "exec-3"}, "ended before any of its waves was written"),
            "exec-4": (
                {"PlanId": "shop", "ExecutionType": "RECOVERY", "Confirm": "RECOVER shop", "ResumeFrom": "exec-1"},
                "was a DRILL, not a RECOVERY",
            ),
        }
        for name, (execution_input, expected) in cases.items():
            described, _ = run(aws, execution_input, name=name)
            assert described["status"] == "FAILED"
            record = aws.record(name, "shop")
            assert record.Status == "FAILED" and expected in (record.ErrorMessage or ""), record.ErrorMessage
        assert sum(launches(aws).values()) == launched  # nothing more launched


def test_a_drill_whose_instances_were_cleaned_up_cannot_be_resumed(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0}))
        run(aws, DRILL)
        described, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert described["status"] == "FAILED"
        assert "were terminated by Options.DrillCleanup" in (aws.record("exec-2", "shop").ErrorMessage or "")


def test_a_resume_of_a_resume_never_launches_a_server_twice_and_its_cleanup_ends_the_whole_drill(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    scenario = with_server_faults(scenario, WEB[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0, "OnFailure": "KEEP"}))
        run(aws, DRILL)  # fails at wave 2 (app-0); its instances are KEPT
        repair(aws, APP[0])
        run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")  # fails at wave 3 (web-0)
        assert aws.record("exec-2", "shop").Status == "FAILED"
        repair(aws, WEB[0])
        third, _ = run(aws, {**DRILL, "ResumeFrom": "exec-2"}, name="exec-3")
        assert third["status"] == "SUCCEEDED"
        assert [w.Status for w in aws.waves("exec-3")] == ["SKIPPED", "SKIPPED", "COMPLETED"]
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)
        cleanup = aws.record("exec-3", "shop").Cleanup
        assert cleanup is not None and cleanup.Status == "COMPLETED" and cleanup.Terminated == len(ALL)
        assert [live_instances(aws, name) for name in ("exec-1", "exec-2", "exec-3")] == [[], [], []]


def test_a_resume_waits_for_the_earlier_drills_cleanup(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0, "OnFailure": "KEEP"}))
        run(aws, DRILL)
        # as if exec-1 were still in "Wait before terminating drill instances" (its record ended, its cleanup not)
        earlier = aws.record("exec-1", "shop").Cleanup
        assert earlier is not None
        waiting = earlier.model_copy(update={"Status": "WAITING"})
        assert records.set_cleanup("exec-1", "shop", waiting, expected=("KEPT",))
        described, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert described["status"] == "FAILED"
        message = aws.record("exec-2", "shop").ErrorMessage or ""
        assert "its drill cleanup has yet to run (WAITING)" in message, message
        assert max(launches(aws).values()) == 1


def test_the_invariants_catch_a_resume_that_launches_again(stage, monkeypatch):
    """The fault matrix's `relaunched` check can fail: a resume that forgot what was launched is caught."""
    monkeypatch.setattr(resume, "apply", lambda resumed, waves: None)
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with())
        run(aws, DRILL)
        repair(aws, APP[0])
        run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        found = invariants.check(aws.drs)
        assert f"{DB[0]}: launched by exec-1 and by exec-2" in found.relaunched


# --- regressions from the adversarial review ----------------------------------------------------------------------


def test_an_execution_is_resumed_once_a_second_resume_is_refused_naming_the_first(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with())
        run(aws, DRILL)
        repair(aws, APP[0])
        run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        described, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-3")
        assert described["status"] == "FAILED"
        message = aws.record("exec-3", "shop").ErrorMessage or ""
        assert "already resumed by exec-2" in message and "Resume exec-2 instead" in message
        assert max(launches(aws).values()) == 1


def test_a_resume_is_refused_when_the_plans_servers_moved_between_waves(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with())
        run(aws, DRILL)
        changed = plan_with()
        changed["ProtectionGroups"][0]["SourceServerIds"] = DB[1:]  # db-0 moves to the app wave
        changed["ProtectionGroups"][1] = {"GroupId": "app", "Region": "us-east-1", "SourceServerIds": [DB[0], *APP]}
        load(aws, changed)
        described, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert described["status"] == "FAILED"
        message = aws.record("exec-2", "shop").ErrorMessage or ""
        assert f"wave 2 (app) now has {DB[0]}" in message and "a resume needs the same servers" in message
        assert max(launches(aws).values()) == 1


def test_the_cleanup_waits_for_the_drills_own_launch_jobs_then_terminates_what_they_launched(stage):
    with stage(three_tier_scenario()) as aws:  # jobs take 551 s; the wave gives up after 5 min
        plan = three_wave_plan(
            Waves=[{"WaveName": "db", "ProtectionGroupId": "db"}],
            Options={"WaveTimeoutMinutes": 5, "ExpectedJobMinutes": 4, "DrillCleanup": {"AfterMinutes": 0}},
        )
        load(aws, plan)
        run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED"  # the wave TIMED_OUT
        assert record.Cleanup is not None and record.Cleanup.Status == "COMPLETED"
        assert record.Cleanup.Terminated == len(DB)  # launched after the wave had given up, then terminated
        assert live_instances(aws, "exec-1") == []


def test_the_cleanup_record_stays_bounded_however_many_terminate_jobs(stage, monkeypatch):
    monkeypatch.setattr(drs, "TERMINATE_MAX", 1)  # one job per instance: 62 jobs stand for 10,000 servers' 50+
    servers = [{"id": server_id(n), "hostname": f"h-{n}", "tags": {"Tier": "app"}} for n in range(62)]
    scenario = {"region": "us-east-1", "seed": 3, "servers": servers, "timing": three_tier_scenario()["timing"]}
    plan = {
        "PlanId": "shop",
        "Name": "Shop",
        "ProtectionGroups": [{"GroupId": "g", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}],
        "Waves": [{"WaveName": "all", "ProtectionGroupId": "g"}],
        "Options": {"DrillCleanup": {"AfterMinutes": 0}},
    }
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        cleanup = aws.record("exec-1", "shop").Cleanup
        assert cleanup is not None and cleanup.Status == "COMPLETED" and cleanup.Terminated == 62
        assert cleanup.JobCount == 62 and len(cleanup.JobIds) == records.CLEANUP_JOBS_MAX


def test_an_operator_cleans_up_a_kept_drill_now_and_the_record_says_so(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, plan_with(DrillCleanup={"AfterMinutes": 0, "OnFailure": "KEEP"}))
        run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        assert record.Cleanup is not None and record.Cleanup.Status == "KEPT"
        started = cleanup.start_now(record, int(aws.clock.now()))
        assert started.Status == "TERMINATING"
        progress = cleanup.check("exec-1", "shop", int(aws.clock.now()))
        while progress.Status == "TERMINATING":
            aws.clock.advance(progress.NextCheckSeconds)
            progress = cleanup.check("exec-1", "shop", int(aws.clock.now()))
        assert progress.Status == "COMPLETED", progress.Detail
        done = aws.record("exec-1", "shop").Cleanup
        assert done is not None and done.Terminated == len(DB) + len(APP) - 1
        assert live_instances(aws, "exec-1") == []
        assert not invariants.check(aws.drs)  # nothing left open, the sweeper's index included
        run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert "were terminated by Options.DrillCleanup" in (aws.record("exec-2", "shop").ErrorMessage or "")


def test_an_operator_cannot_clean_up_a_recovery_or_a_running_drill(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        run(aws, {"PlanId": "shop", "ExecutionType": "RECOVERY", "Confirm": "RECOVER shop"})
        with pytest.raises(ValueError, match="only a DRILL's instances are terminated"):
            cleanup.start_now(aws.record("exec-1", "shop"), int(aws.clock.now()))
        assert len(live_instances(aws, "exec-1")) == len(ALL)


def test_the_sweeper_ends_a_cleanup_nobody_followed_to_its_end(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        run(aws, DRILL)
        cleanup.start_now(aws.record("exec-1", "shop"), int(aws.clock.now()))  # then the operator's shell died
        aws.clock.advance(3600)
        aws.sweep()
        left = aws.record("exec-1", "shop").Cleanup
        assert left is not None and left.Status == "FAILED" and "not followed to its end" in (left.Detail or "")
        assert not invariants.check(aws.drs).open_cleanups


def test_a_record_the_sweeper_cannot_handle_does_not_keep_it_from_the_others(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        seen = [0]

        def stop_quietly(name: str, request: dict[str, Any]) -> None:  # a stop whose EventBridge event is lost
            if name.endswith("start-wave"):
                seen[0] += 1
                if seen[0] == 2:
                    arn = aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":exec-1"
                    aws.stop(arn)

        aws.engine.before_invoke.append(stop_quietly)
        run(aws, DRILL)
        aws.engine.before_invoke.clear()
        broken = {"ExecutionId": "broken", "PlanId": "shop", "Status": "POLLING", "Open": "ACTIVE", "StartTime": 1}
        broken["Waves"] = "not a list"  # an item no code of ours could read
        records.table(records.EXECUTION_HISTORY_TABLE).put_item(Item=broken)
        aws.clock.advance(900)
        swept = aws.sweep()
        assert swept["failed"] == ["broken"]
        assert "exec-1" in swept["reconciled"] and aws.record("exec-1", "shop").Status == "CANCELLED"


def test_a_cleanup_counts_only_its_own_terminate_jobs_not_another_drills_on_the_same_servers(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())

        def clean_up(name: str, started: int) -> records.DrillCleanupRecord:
            cleanup.start_now(aws.record(name, "shop"), started)
            progress = cleanup.check(name, "shop", int(aws.clock.now()))
            while progress.Status == "TERMINATING":
                aws.clock.advance(progress.NextCheckSeconds)
                progress = cleanup.check(name, "shop", int(aws.clock.now()))
            done = aws.record(name, "shop").Cleanup
            assert done is not None and done.Status == "COMPLETED", done
            return done

        run(aws, DRILL)
        first_started = int(aws.clock.now())
        assert clean_up("exec-1", first_started).Terminated == len(ALL)
        run(aws, DRILL, name="exec-2")
        # a clock behind DRS's (the laptop's, against a sandbox running faster) makes the window hold exec-1's jobs
        second = clean_up("exec-2", first_started)
        assert second.Terminated == len(ALL) and not set(second.JobIds) & set(
            aws.record("exec-1", "shop").Cleanup.JobIds
        )


# --- a resume honours every gate (docs/plan-format.md, Resuming an execution) -------------------------------------

HOOK_OK = {"seconds": 5}
GATED = "Promote and check"


def steps(aws: LocalAws, execution_id: str, wave: int) -> list[dict[str, Any]]:
    found = aws.waves(execution_id)[wave - 1].Steps
    return sorted(found, key=lambda s: (s["Phase"] != "BEFORE", int(s["Index"])))


def invoked(aws: LocalAws) -> Counter[str]:
    """How many times each function ran, stand-ins included, in the whole stage."""
    return Counter(invocation.function for invocation in aws.engine.invocations)


def hook_events(history: list[dict[str, Any]], function: str) -> list[dict[str, Any]]:
    """The events the execution gave `function` (its Hook), from its history."""
    scheduled = [
        json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in history if e["type"] == "TaskScheduled"
    ]
    return [p["Payload"]["Hook"] for p in scheduled if p.get("FunctionName") == function]


def started_by(aws: LocalAws, execution_id: str) -> list[str]:
    """The WaveNumber tag of each launch job `execution_id` started."""
    return sorted(
        job.tags["WaveNumber"] for job in aws.drs.jobs.values() if job.tags.get("ExecutionId") == execution_id
    )


def gated_plan() -> dict[str, Any]:
    """Wave 1 (db) with a step before it and four after: a hook, an OPTIONAL one, a CRITICAL one, a last one."""
    plan = three_wave_plan()
    plan["Waves"][0]["Before"] = [{"Name": "Prepare", "Lambda": {"FunctionName": "drs-hook-prepare"}}]
    plan["Waves"][0]["After"] = [
        {"Name": "Warm caches", "Lambda": {"FunctionName": "drs-hook-warm"}},
        {"Name": "Report", "Lambda": {"FunctionName": "drs-hook-report", "Impact": "OPTIONAL"}},
        {"Name": GATED, "Lambda": {"FunctionName": "drs-hook-promote"}},
        {"Name": "Announce", "Lambda": {"FunctionName": "drs-hook-announce"}},
    ]
    return plan


def gated_scenario() -> dict[str, Any]:
    return three_tier_scenario(
        functions={
            "drs-hook-prepare": HOOK_OK,
            "drs-hook-warm": HOOK_OK,
            "drs-hook-report": {"error": "ReportFailed"},
            "drs-hook-promote": {"error": "PromotionFailed"},
            "drs-hook-announce": HOOK_OK,
        }
    )


def test_a_resume_after_a_critical_step_failed_runs_it_again_and_what_follows_never_what_the_runbook_went_past(
    stage,
):
    with stage(gated_scenario()) as aws:
        load(aws, gated_plan())
        first, _ = run(aws, DRILL)
        assert first["error"] == "RunbookStepFailed"
        assert started_by(aws, "exec-1") == ["1"]  # the gate stopped the plan before wave 2
        earlier_steps = steps(aws, "exec-1", 1)
        before = invoked(aws)
        hooks.answer_from_now_on(aws.drs.scenario, functions={"drs-hook-promote": FunctionSpec(seconds=5)})
        second, history = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        [event] = hook_events(history, "drs-hook-promote")
        assert {(s["Status"], bool(s["RecoveryInstanceId"])) for s in event["Servers"]} == {("LAUNCHED", True)}
        ran = invoked(aws) - before
        # the failed step and the one after it ran again; the step before the launch, the one that succeeded and the
        # OPTIONAL one that failed (the runbook went past it) did not
        assert ran["drs-hook-promote"] == 1 and ran["drs-hook-announce"] == 1
        assert not (ran["drs-hook-prepare"] or ran["drs-hook-warm"] or ran["drs-hook-report"])
        wave = aws.waves("exec-2")[0]
        assert wave.Status == "COMPLETED" and {s.Error for s in wave.Servers} == {"LAUNCHED_BEFORE"}
        assert [(s["Name"], s["Status"], s.get("RanIn"), s.get("Previously")) for s in steps(aws, "exec-2", 1)] == [
            ("Prepare", "SUCCEEDED", "exec-1", None),
            ("Warm caches", "SUCCEEDED", "exec-1", None),
            ("Report", "FAILED", "exec-1", None),  # OPTIONAL: stays failed, not run again
            (GATED, "SUCCEEDED", None, "FAILED in execution exec-1"),
            ("Announce", "SUCCEEDED", None, None),
        ]
        assert started_by(aws, "exec-2") == ["2", "3"]  # wave 1's launch started nothing
        assert wave.JobIds == [] and wave.EndTime == wave.StartTime  # and waited for no job
        assert steps(aws, "exec-1", 1) == earlier_steps  # the earlier record is not rewritten
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)
        assert not invariants.check(aws.drs)


def test_a_critical_step_that_fails_again_on_resume_fails_the_plan_before_anything_more_launches(stage):
    with stage(gated_scenario()) as aws:
        load(aws, gated_plan())
        run(aws, DRILL)
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "FAILED" and second["error"] == "RunbookStepFailed"
        record = aws.record("exec-2", "shop")
        assert record.Status == "FAILED" and "PromotionFailed" in (record.ErrorMessage or "")
        assert started_by(aws, "exec-2") == []
        assert [w.Status for w in aws.waves("exec-2")] == ["COMPLETED", "SKIPPED", "SKIPPED"]
        # and a resume of that resume asks it once more: the gate is never taken as passed
        third, _ = run(aws, {**DRILL, "ResumeFrom": "exec-2"}, name="exec-3")
        assert third["status"] == "FAILED" and started_by(aws, "exec-3") == []
        promote = next(s for s in steps(aws, "exec-3", 1) if s["Name"] == GATED)
        assert promote["Status"] == "FAILED" and promote["Previously"] == "FAILED in execution exec-2"
        assert not invariants.check(aws.drs)


@pytest.mark.parametrize(
    ("where", "then"),
    [("after wave 1", "APPROVE"), ("after wave 1", "REJECT"), ("before wave 2", "REJECT")],
)
def test_a_rejected_approval_is_asked_again_by_the_resume_never_inherited(stage, where, then):
    """A "no" stops the plan wherever the approval stands; the resume asks again, and only a new "yes" goes on."""
    wave, phase = (1, "After") if where == "after wave 1" else (2, "Before")
    plan = three_wave_plan()
    plan["Waves"][wave - 1][phase] = [{"Name": "Change board", "Approval": {"Message": "Go on?"}}]
    scenario = three_tier_scenario(approvals=[{"decision": "REJECT", "afterSeconds": 60}])
    with stage(scenario) as aws:
        load(aws, plan)
        first, _ = run(aws, DRILL)
        assert first["error"] == "ApprovalRejected" and started_by(aws, "exec-1") == ["1"]
        hooks.answer_from_now_on(aws.drs.scenario, approvals=[Approval(decision=then, afterSeconds=120)])
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        [asked] = steps(aws, "exec-2", wave)
        assert asked["Name"] == "Change board" and "RanIn" not in asked  # asked anew
        assert asked["EndedAt"] - asked["StartedAt"] == 120  # the new answer, not the old one
        if wave == 1:  # its wave launched in exec-1: taken over, not launched again
            previously = asked["Previously"]  # "REJECTED [by <approver>] in execution exec-1"
            assert previously.startswith("REJECTED") and previously.endswith("in execution exec-1")
            assert {s.Error for s in aws.waves("exec-2")[0].Servers} == {"LAUNCHED_BEFORE"}
        else:  # wave 1 launched and had no step after it: done
            assert aws.waves("exec-2")[0].Status == "SKIPPED"
        if then == "APPROVE":
            assert second["status"] == "SUCCEEDED" and asked["Status"] == "SUCCEEDED"
            assert started_by(aws, "exec-2") == ["2", "3"]
        else:
            assert second["error"] == "ApprovalRejected" and asked["Status"] == "REJECTED"
            assert started_by(aws, "exec-2") == []  # nothing launched past the gate
        assert max(launches(aws).values()) == 1
        assert not invariants.check(aws.drs)


def test_an_approval_that_timed_out_after_a_wave_is_asked_again_and_its_wave_launches_nothing_more(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [{"Name": "Sign-off", "Approval": {"Message": "Database ok?", "TimeoutMinutes": 30}}]
    scenario = three_tier_scenario(approvals=[{"decision": "APPROVE", "afterSeconds": 3600}])
    with stage(scenario) as aws:
        load(aws, plan)
        first, _ = run(aws, DRILL)
        assert first["error"] == "ApprovalTimedOut"
        hooks.answer_from_now_on(aws.drs.scenario, approvals=[Approval(decision="APPROVE", afterSeconds=60)])
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        [sign_off] = steps(aws, "exec-2", 1)
        assert sign_off["Status"] == "SUCCEEDED" and sign_off["Previously"] == "TIMED_OUT in execution exec-1"
        assert started_by(aws, "exec-2") == ["2", "3"]
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)


HEALTH_AFTER_DB = [{"Name": "Database healthy", "HealthCheck": {"TimeoutMinutes": 10}}]


def with_post_launch(scenario: dict[str, Any], server: str, post_launch: dict[str, Any]) -> dict[str, Any]:
    for spec in scenario["servers"]:
        if spec["id"] == server:
            spec["postLaunch"] = post_launch
    return scenario


def test_a_resumed_health_check_judges_the_servers_it_took_over_by_their_own_job_and_fails_again(stage):
    scenario = with_post_launch(three_tier_scenario(), DB[1], {"seconds": 60, "result": "FAILED"})
    with stage(scenario) as aws:
        load(
            aws,
            three_wave_plan(
                Waves=[
                    {"WaveName": "db", "ProtectionGroupId": "db", "After": HEALTH_AFTER_DB},
                    {"WaveName": "app", "ProtectionGroupId": "app"},
                ]
            ),
        )
        first, _ = run(aws, DRILL)
        assert first["error"] == "HealthCheckFailed"
        aws.clock.advance(1800)
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "FAILED" and second["error"] == "HealthCheckFailed"
        [check] = steps(aws, "exec-2", 1)
        assert check["Status"] == "FAILED" and check["Previously"] == "FAILED in execution exec-1"
        assert "db-1" in check["Detail"] and "not checked" not in check["Detail"]
        assert started_by(aws, "exec-2") == []  # nothing launched past the gate
        assert not invariants.check(aws.drs)


def test_a_resumed_health_check_passes_the_servers_it_took_over_once_they_are_healthy(stage):
    scenario = three_tier_scenario()
    for server in DB:
        with_post_launch(scenario, server, {"seconds": 1200})  # slower than the step's 10 minutes, the first time
    with stage(scenario) as aws:
        load(
            aws,
            three_wave_plan(
                Waves=[
                    {"WaveName": "db", "ProtectionGroupId": "db", "After": HEALTH_AFTER_DB},
                    {"WaveName": "app", "ProtectionGroupId": "app"},
                ]
            ),
        )
        first, _ = run(aws, DRILL)
        assert first["error"] == "HealthCheckFailed"
        aws.clock.advance(1800)  # their post-launch actions have ended meanwhile
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        [check] = steps(aws, "exec-2", 1)
        assert check["Status"] == "SUCCEEDED" and check["Detail"].startswith(f"{len(DB)} launched server(s) healthy")
        assert started_by(aws, "exec-2") == ["2"]


def test_a_step_cut_short_by_a_stop_runs_again_on_resume(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [
        {
            "Name": "Switch DNS",
            "Lambda": {"FunctionName": "drs-hook-dns", "WaitForCallback": True, "TimeoutMinutes": 30},
        }
    ]
    with stage(three_tier_scenario(functions={"drs-hook-dns": {"seconds": 600}})) as aws:
        load(aws, plan)
        stop_and_reconcile_at(aws, "drs-hook-dns", 1)
        run(aws, DRILL)
        assert aws.record("exec-1", "shop").Status == "CANCELLED"
        assert steps(aws, "exec-1", 1)[0]["Status"] == "CANCELLED"
        aws.engine.before_invoke.clear()
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        [dns] = steps(aws, "exec-2", 1)
        assert dns["Status"] == "SUCCEEDED" and dns["Previously"] == "CANCELLED in execution exec-1"
        assert started_by(aws, "exec-2") == ["2", "3"] and max(launches(aws).values()) == 1


def test_an_approval_left_waiting_by_the_executions_timeout_is_asked_again(stage):
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [{"Name": "Sign-off", "Approval": {"Message": "Database ok?"}}]
    with stage(three_tier_scenario(approvals=[{"decision": "APPROVE", "afterSeconds": 60}])) as aws:
        load(aws, plan)
        stop_and_reconcile_at(aws, "request-approval", 1, status="TIMED_OUT")
        run(aws, DRILL)
        assert aws.record("exec-1", "shop").Status == "TIMED_OUT"
        aws.engine.before_invoke.clear()
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        [sign_off] = steps(aws, "exec-2", 1)
        assert sign_off["Status"] == "SUCCEEDED" and sign_off["Previously"] == "CANCELLED in execution exec-1"
        assert started_by(aws, "exec-2") == ["2", "3"] and max(launches(aws).values()) == 1
        assert not invariants.check(aws.drs)  # the request that ran after the end left no token behind


def test_a_resume_of_a_resume_runs_no_step_of_a_wave_the_first_execution_completed(stage):
    """exec-1 completes wave 1 (its hooks ran, its approval said yes) and fails at wave 2; exec-2 skips wave 1 and
    fails at wave 2 again; exec-3, resuming exec-2, must skip wave 1 too: its hooks are not run again after its
    launch, and its approval is not asked again."""
    plan = three_wave_plan()
    plan["Waves"][0]["Before"] = [{"Name": "Prepare", "Lambda": {"FunctionName": "drs-hook-prepare"}}]
    plan["Waves"][0]["After"] = [
        {"Name": "Promote", "Lambda": {"FunctionName": "drs-hook-promote"}},
        {"Name": "Sign-off", "Approval": {"Message": "Database ok?"}},
    ]
    scenario = three_tier_scenario(
        functions={"drs-hook-prepare": HOOK_OK, "drs-hook-promote": HOOK_OK},
        approvals=[{"decision": "APPROVE", "afterSeconds": 60}],
    )
    with stage(with_server_faults(scenario, APP[0], ["launch_failure"])) as aws:
        load(aws, plan)
        run(aws, DRILL)
        run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")  # app-0 fails again
        assert [w.Status for w in aws.waves("exec-2")][:2] == ["SKIPPED", "FAILED"]
        repair(aws, APP[0])
        before = invoked(aws)
        third, _ = run(aws, {**DRILL, "ResumeFrom": "exec-2"}, name="exec-3")
        assert third["status"] == "SUCCEEDED"
        ran = invoked(aws) - before
        assert not (ran["drs-hook-prepare"] or ran["drs-hook-promote"] or ran["drs-orchestrator-request-approval"])
        assert [w.Status for w in aws.waves("exec-3")] == ["SKIPPED", "COMPLETED", "COMPLETED"]
        assert [(s["Name"], s["Status"], s.get("RanIn")) for s in steps(aws, "exec-3", 1)] == [
            ("Prepare", "SUCCEEDED", "exec-1"),
            ("Promote", "SUCCEEDED", "exec-1"),
            ("Sign-off", "SUCCEEDED", "exec-1"),
        ]
        assert started_by(aws, "exec-3") == ["2", "3"]
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)
        assert not invariants.check(aws.drs)


def test_a_resume_runs_no_before_step_of_a_wave_that_launched_even_after_the_plan_gained_one(stage):
    """The team fixes a failed After hook and, while at it, adds a Before step to that wave; the resume must not run
    the wave's Before steps again after its launch (the added one shifts "Stop the source" to index 1, where
    exec-1 recorded nothing: it was run a second time)."""
    plan = three_wave_plan()
    plan["Waves"][0]["Before"] = [{"Name": "Stop the source", "Lambda": {"FunctionName": "drs-hook-stop"}}]
    plan["Waves"][0]["After"] = [{"Name": GATED, "Lambda": {"FunctionName": "drs-hook-promote"}}]
    scenario = three_tier_scenario(
        functions={"drs-hook-stop": HOOK_OK, "drs-hook-announce": HOOK_OK, "drs-hook-promote": {"error": "Failed"}}
    )
    with stage(scenario) as aws:
        load(aws, plan)
        first, _ = run(aws, DRILL)
        assert first["error"] == "RunbookStepFailed" and started_by(aws, "exec-1") == ["1"]
        plan["Waves"][0]["Before"].insert(0, {"Name": "Announce", "Lambda": {"FunctionName": "drs-hook-announce"}})
        load(aws, plan)
        hooks.answer_from_now_on(aws.drs.scenario, functions={"drs-hook-promote": FunctionSpec(seconds=5)})
        before = invoked(aws)
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        ran = invoked(aws) - before
        assert not (ran["drs-hook-stop"] or ran["drs-hook-announce"]) and ran["drs-hook-promote"] == 1
        assert [(s["Name"], s["Status"], s.get("RanIn")) for s in steps(aws, "exec-2", 1)] == [
            ("Stop the source", "SUCCEEDED", "exec-1"),
            (GATED, "SUCCEEDED", None),
        ]
        assert started_by(aws, "exec-2") == ["2", "3"] and max(launches(aws).values()) == 1


# --- cleanup ownership, and resumes around jobs still running -----------------------------------------------------


def clean_up_now(aws: LocalAws, name: str) -> records.DrillCleanupRecord:
    """`drsctl run cleanup NAME`: terminate an ended drill's instances now and follow the cleanup to its end."""
    cleanup.start_now(aws.record(name, "shop"), int(aws.clock.now()))
    progress = cleanup.check(name, "shop", int(aws.clock.now()))
    while progress.Status == "TERMINATING":
        aws.clock.advance(progress.NextCheckSeconds)
        progress = cleanup.check(name, "shop", int(aws.clock.now()))
    done = aws.record(name, "shop").Cleanup
    assert done is not None and done.Status == "COMPLETED", done
    return done


DATABASES = {
    "PlanId": "databases",
    "Name": "Databases",
    "ProtectionGroups": [{"GroupId": "databases-db", "Region": "us-east-1", "SourceServerIds": DB}],
    "Waves": [{"WaveName": "db", "ProtectionGroupId": "databases-db"}],
}


@pytest.mark.parametrize("newer", ["DRILL", "RECOVERY"])
def test_an_older_drill_cleaned_up_after_a_newer_execution_on_the_same_servers_terminates_only_its_own(stage, newer):
    """exec-1 drills the whole shop; exec-2 (a newer drill, or a recovery) launches the databases again, which
    replaces exec-1's database instances. exec-1's cleanup then terminates its own app and web instances, never
    exec-2's."""
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        load(aws, DATABASES)
        run(aws, DRILL)
        second = {"PlanId": "databases", "ExecutionType": newer}
        if newer == "RECOVERY":
            second["Confirm"] = "RECOVER databases"
        described, _ = run(aws, second, name="exec-2")
        assert described["status"] == "SUCCEEDED"
        assert len(live_instances(aws, "exec-1")) == len(APP + WEB)  # its database instances were replaced
        done = clean_up_now(aws, "exec-1")
        assert done.Terminated == len(APP + WEB)
        assert live_instances(aws, "exec-1") == []
        assert len(live_instances(aws, "exec-2")) == len(DB)  # the newer execution's instances are untouched


def test_a_resume_after_a_stop_while_a_waves_jobs_run_counts_what_they_launched_after_the_stop(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with())
        stop_and_reconcile_at(aws, "check-wave", 2)  # wave 1's jobs are running
        run(aws, DRILL)
        assert aws.record("exec-1", "shop").Status == "CANCELLED"
        assert {s.Status for s in aws.waves("exec-1")[0].Servers} == {"UNKNOWN"}
        aws.engine.before_invoke.clear()
        aws.clock.advance(1800)  # the jobs launched their servers after the stop
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert second["status"] == "SUCCEEDED"
        first_wave = aws.waves("exec-2")[0]
        assert first_wave.Status == "SKIPPED" and "all its servers launched in execution exec-1" in (
            first_wave.ErrorMessage or ""
        )
        assert {s.Error for s in first_wave.Servers} == {"LAUNCHED_BEFORE"}
        assert all(s.InstanceId and s.RecoveryJobId in aws.waves("exec-1")[0].JobIds for s in first_wave.Servers)
        assert started_by(aws, "exec-2") == ["2", "3"]
        assert max(launches(aws).values()) == 1 and set(launches(aws)) == set(ALL)
        assert not invariants.check(aws.drs)


def test_a_resume_is_refused_while_the_first_executions_job_still_runs(stage):
    scenario = with_server_faults(three_tier_scenario(), WEB[0], ["stuck"])  # its job never ends
    with stage(scenario) as aws:
        load(aws, plan_with(WaveTimeoutMinutes=20))
        first, _ = run(aws, DRILL)
        assert first["status"] == "FAILED" and aws.waves("exec-1")[2].Status == "TIMED_OUT"
        aws.clock.advance(1800)
        described, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"}, name="exec-2")
        assert described["status"] == "FAILED"
        message = aws.record("exec-2", "shop").ErrorMessage or ""
        assert WEB[0] in message and "launch job" in message, message
        assert started_by(aws, "exec-2") == []
        assert aws.record("exec-1", "shop").ResumedBy is None  # a refused resume takes no claim on it


@pytest.mark.parametrize("resumed", [True, False], ids=["resumed", "started-afresh"])
def test_a_server_whose_job_ended_without_launching_it_is_launched_again_not_refused_as_busy(stage, resumed):
    # DRS ended the server's job (COMPLETED) with its launch unfinished: the source server's lastLaunch still says
    # IN_PROGRESS, but no job will launch it any more and DRS takes it into a new one
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["job_ends_without_launch"])
    with stage(scenario) as aws:
        load(aws, plan_with())
        first, _ = run(aws, DRILL)
        assert first["status"] == "FAILED"
        failed = next(s for s in aws.waves("exec-1")[1].Servers if s.SourceServerId == APP[0])
        assert (failed.Status, failed.Error) == ("FAILED", "JOB_ENDED_NO_LAUNCH")
        assert failed.RecoveryJobId is not None and aws.drs.jobs[failed.RecoveryJobId].status == "COMPLETED"
        repair(aws, APP[0])
        second, _ = run(aws, {**DRILL, "ResumeFrom": "exec-1"} if resumed else DRILL, name="exec-2")
        assert second["status"] == "SUCCEEDED", aws.record("exec-2", "shop").ErrorMessage
        again = next(s for s in aws.waves("exec-2")[1].Servers if s.SourceServerId == APP[0])
        assert again.Status == "LAUNCHED" and again.RecoveryJobId != failed.RecoveryJobId
        assert sorted(set(started_by(aws, "exec-2"))) == (["2", "3"] if resumed else ["1", "2", "3"])
        assert not invariants.check(aws.drs)
