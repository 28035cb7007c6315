"""Drill cleanup (Options.DrillCleanup) and resume (execution input ResumeFrom) on the real definition, handlers,
engine and emulator: what is terminated, what is launched again, and that no server is ever launched twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from drsctl.local import invariants
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
