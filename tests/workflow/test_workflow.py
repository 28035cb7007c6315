"""The wave workflow end to end, through the local engine and the emulator (no mocks of either)."""

from __future__ import annotations

import json

from tests.workflow.conftest import (
    APP,
    DB,
    WEB,
    entered,
    failed_task_errors,
    load,
    run,
    start_recovery_waves,
    three_tier_scenario,
    three_wave_plan,
    with_server_faults,
)

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


def test_three_waves_run_in_order_and_every_server_launches(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert described["status"] == "SUCCEEDED"
        assert record.Status == "COMPLETED"
        assert record.ExecutionType == "DRILL"
        assert [w.Status for w in record.Waves] == ["COMPLETED"] * 3
        assert [w.Region for w in record.Waves] == ["us-east-1", "us-east-1", "us-west-2"]
        assert all(s.Status == "LAUNCHED" and s.InstanceId for w in waves for s in w.Servers)
        assert [s.SourceServerId for s in waves[1].Servers] == APP  # resolved from the tag selector
        # wave N+1 starts only after wave N launched
        for earlier, later in zip(record.Waves, record.Waves[1:], strict=False):
            assert earlier.EndTime is not None and later.StartTime is not None
            assert later.StartTime >= earlier.EndTime
        assert start_recovery_waves(aws) == ["1", "2", "3"]
        job = next(iter(aws.drs.jobs.values()))
        assert job.tags == {
            "ExecutionId": "exec-1",
            "ExecutionType": "DRILL",
            "ManagedBy": "DRS-Orchestration",
            "PlanId": "shop",
            "WaveNumber": "1",
            "ChunkToken": "1.1",
        }
        assert job.is_drill is True
        assert record.EndTime - record.StartTime >= 3 * 551
        states = {e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e}
        assert {"Prepare execution", "Start wave recovery", "Wait before checking jobs", "Check wave jobs"} <= states


def test_recovery_mode_launches_recovery_instances(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, {"PlanId": "shop", "ExecutionType": "RECOVERY", "Confirm": "RECOVER shop"})
        assert described["status"] == "SUCCEEDED"
        jobs = list(aws.drs.jobs.values())
        assert {job.initiated_by for job in jobs} == {"START_RECOVERY"}
        assert all(not instance.is_drill for instance in aws.drs.instances.values())


def test_inline_plan_runs_without_loading_it(stage):
    with stage(three_tier_scenario()) as aws:
        described, _ = run(aws, {"Plan": three_wave_plan(), "ExecutionType": "DRILL"})
        assert described["status"] == "SUCCEEDED"
        assert aws.record("exec-1", "shop").Status == "COMPLETED"


def test_a_busy_server_waits_while_the_rest_of_its_wave_starts(stage):
    scenario = with_server_faults(three_tier_scenario(), DB[1], [{"conflict": 2}])
    with stage(scenario) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert failed_task_errors(history) == []
        waits = [e for e in history if e["type"] == "WaitStateEntered"]
        assert entered(history, "Wait before starting again") == 2
        assert waits[1]["timestamp"] > waits[0]["timestamp"]  # a backoff between attempts, on the clock
        wave1 = [job for job in aws.drs.jobs.values() if job.tags["WaveNumber"] == "1"]
        assert sorted(len(job.participants) for job in wave1) == [1, 2]  # DB0 and DB2 went first; DB1 after
        assert aws.drs.calls["StartRecovery"] == 2 + 2 + 2  # wave 1: refused, DB0+DB2, refused, DB1; waves 2, 3
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert record.Waves[0].Status == "COMPLETED"
        assert {s.RecoveryJobId for s in waves[0].Servers} == {job.id for job in wave1}


def test_a_throttling_burst_is_absorbed_as_missed_checks(stage):
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 8}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert failed_task_errors(history) == []  # a check DRS does not answer is missed, not failed
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert record.Status == "COMPLETED"
        # 8 throttles, 2 SDK attempts per call: Prepare's count of active jobs gets none (a warning), then 2 checks
        assert waves[0].MissedChecks == 3 - 1
        assert any("could not count the active DRS jobs" in w for w in record.Warnings)
        assert "ThrottlingException" in (waves[0].LastCheckError or "")


def test_optional_server_failing_makes_the_wave_partial_and_the_plan_goes_on(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[2], ["launch_failure"])
    plan = three_wave_plan()
    plan["Waves"][1]["ServerImpact"] = {APP[2]: "OPTIONAL"}
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert described["status"] == "SUCCEEDED"
        assert record.Status == "PARTIAL"
        assert [w.Status for w in record.Waves] == ["COMPLETED", "PARTIAL", "COMPLETED"]
        failed = waves[1].Servers[2]
        assert (failed.SourceServerId, failed.Status, failed.Error) == (APP[2], "FAILED", "LAUNCH_FAILED")
        assert APP[2] in record.ErrorMessage
        assert start_recovery_waves(aws) == ["1", "2", "3"]


def test_critical_server_failing_stops_the_plan(stage):
    scenario = with_server_faults(three_tier_scenario(), APP[0], ["launch_failure"])
    with stage(scenario) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert described["status"] == "FAILED"
        assert described["error"] == "WaveFailed"
        assert APP[0] in described["cause"] and "CRITICAL" in described["cause"]
        assert record.Status == "FAILED"
        assert [w.Status for w in record.Waves] == ["COMPLETED", "FAILED", "SKIPPED"]
        assert {s.Status for s in waves[2].Servers} == {"SKIPPED"}
        assert start_recovery_waves(aws) == ["1", "2"]  # no StartRecovery for wave 3
        assert not any(job.region == "us-west-2" for job in aws.drs.jobs.values())
        assert APP[0] in record.ErrorMessage and "DescribeJobLogItems" in record.ErrorMessage


def test_a_stuck_server_times_the_wave_out_with_a_clear_cause(stage):
    scenario = with_server_faults(three_tier_scenario(), DB[2], ["stuck"])
    plan = three_wave_plan(Options={"WaveTimeoutMinutes": 30})
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert described["status"] == "FAILED"
        assert described["error"] == "WaveTimedOut"
        assert "timed out after 30 min" in described["cause"] and DB[2] in described["cause"]
        assert record.Status == "FAILED"
        assert record.Waves[0].Status == "TIMED_OUT"
        stuck = waves[0].Servers[2]
        assert (stuck.Status, stuck.Error) == ("TIMED_OUT", "WAVE_TIMEOUT")
        assert record.Waves[0].EndTime - record.Waves[0].StartTime >= 30 * 60
        assert [w.Status for w in record.Waves[1:]] == ["SKIPPED", "SKIPPED"]
        assert start_recovery_waves(aws) == ["1"]


def test_invalid_plan_fails_before_any_launch_with_every_problem_named(stage):
    plan = three_wave_plan()
    plan["ProtectionGroups"][0]["SourceServerIds"] = [*DB, "s-0000000000nothere"]
    plan["ProtectionGroups"][2]["Region"] = "us-east-1"  # the web servers replicate to us-west-2
    with stage(three_tier_scenario()) as aws:
        described, _ = run(aws, {"Plan": plan, "ExecutionType": "DRILL"})
        record = aws.record("exec-1", "shop")
        assert described["status"] == "FAILED"
        assert described["error"] == "PlanValidationError"
        assert "s-0000000000nothere is not a DRS source server in us-east-1" in described["cause"]
        assert f"server {WEB[0]} is not a DRS source server in us-east-1" in described["cause"]
        assert record.Status == "FAILED"
        assert aws.drs.calls["StartRecovery"] == 0


def test_unknown_plan_id_is_reported_and_recorded(stage):
    with stage(three_tier_scenario()) as aws:
        described, _ = run(aws, {"PlanId": "nope", "ExecutionType": "DRILL"})
        assert described["error"] == "PlanNotFoundError"
        assert "No plan 'nope'" in described["cause"]
        assert aws.record("exec-1", "nope").Status == "FAILED"


def test_malformed_input_still_ends_with_a_failed_record(stage):
    with stage(three_tier_scenario()) as aws:
        described, _ = run(aws, {"PlanId": "shop", "ExecutionType": "DRIL"})
        assert described["error"] == "PlanValidationError"
        assert "ExecutionType" in described["cause"]
        record = aws.record("exec-1", "shop")
        assert (record.Status, record.EndTime is not None) == ("FAILED", True)


def test_state_payloads_stay_small(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        _, history = run(aws, DRILL)
        sizes = [
            len((e.get("stateEnteredEventDetails", {}).get("input") or "").encode())
            for e in history
            if e["type"].endswith("StateEntered")
        ]
        assert max(sizes) < 2_000
        check_input = next(
            json.loads(e["stateEnteredEventDetails"]["input"])
            for e in history
            if e.get("stateEnteredEventDetails", {}).get("name") == "Check wave jobs"
        )
        assert set(check_input) == {
            "ExecutionId",
            "PlanId",
            "ExecutionType",
            "Options",
            "EventBudget",
            "WavesEndBy",  # the execution's own deadline for its waves (lambdas/core/deadline.py)
            "WaveNumber",
            "WaveName",
            "Progress",
            "Runbook",  # the wave's steps, as the plan lists them (empty here)
            "Steps",  # where the runbook stands
        }
        assert all(server not in json.dumps(check_input) for server in DB)  # server lists stay in DynamoDB


def test_recovery_without_confirmation_is_refused_before_touching_drs(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        for attempt, confirm in enumerate([None, "RECOVER", "RECOVER other-plan", "recover shop"]):
            execution_input = {"PlanId": "shop", "ExecutionType": "RECOVERY"}
            if confirm is not None:
                execution_input["Confirm"] = confirm
            described, _ = run(aws, execution_input, name=f"exec-{attempt}")
            assert described["status"] == "FAILED"
            assert described["error"] == "PlanValidationError"
            assert '"Confirm": "RECOVER shop"' in described["cause"]
            assert aws.record(f"exec-{attempt}", "shop").Status == "FAILED"
        assert sum(aws.drs.calls.values()) == 0  # not even a DescribeSourceServers


def test_the_history_read_from_the_engine_is_the_apis(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        arn = aws.start_execution(DRILL, "exec-1")
        aws.wait(arn)
        paginator = aws.client("stepfunctions").get_paginator("get_execution_history")
        api = [event for page in paginator.paginate(executionArn=arn) for event in page["events"]]
        assert aws.history(arn) == api
        assert len(api) > 100


def test_the_executions_read_from_the_engine_are_the_apis(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        assert aws.executions() == []
        aws.wait(aws.start_execution(DRILL, "exec-1"))
        aws.wait(aws.start_execution({"PlanId": "shop", "ExecutionType": "RECOVERY"}, "exec-2"))  # no Confirm
        api = aws.client("stepfunctions").list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
        assert aws.executions() == [(e["executionArn"], e["status"]) for e in api]
        assert [status for _, status in aws.executions()] == ["FAILED", "SUCCEEDED"]  # newest first
