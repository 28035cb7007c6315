"""Stopping mid-wave, locks per plan and per server, and records that always end terminal."""

from __future__ import annotations

import boto3

from drsctl.emulator import Scenario
from lambdas.core import locks
from lambdas.core.accounts import Target
from tests.workflow.conftest import APP, DB, WEB, entered, load, run, three_tier_scenario, three_wave_plan


def home(region: str) -> Target:
    """Where the scenario's own servers are: its accountId (the orchestrator's) and the Region."""
    return Target(Scenario.model_fields["accountId"].default, region)


DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


def lock_items() -> list[dict]:
    return boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks").scan()["Items"]


def stop_on_first_check_of(aws, wave_number: int, arn_holder: list[str]) -> None:
    def listener(invocation, request, response):
        if invocation.function.endswith("check-wave") and request.get("WaveNumber") == wave_number and arn_holder:
            aws.stop(arn_holder.pop())

    aws.engine.listeners.append(listener)


def test_stopping_mid_wave_cancels_the_record_lists_the_jobs_and_launches_nothing_more(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        holder: list[str] = []
        stop_on_first_check_of(aws, 2, holder)
        arn = aws.start_execution(DRILL, "exec-1")
        holder.append(arn)
        described = aws.wait(arn)
        assert described["status"] == "ABORTED"
        assert aws.record("exec-1", "shop").Status == "POLLING"  # until EventBridge delivers the status change
        result = aws.deliver_status_change(described)
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert result["Reconciled"] is True
        assert record.Status == "CANCELLED"
        assert record.EndTime is not None
        assert [w.Status for w in record.Waves] == ["COMPLETED", "CANCELLED", "SKIPPED"]
        jobs = sorted(aws.drs.jobs.values(), key=lambda job: job.sequence)
        assert [job.tags["WaveNumber"] for job in jobs] == ["1", "2"]  # nothing launched after the stop
        running = jobs[1]
        assert running.id in record.ErrorMessage and "may still launch" in record.ErrorMessage
        assert "was stopped" in record.ErrorMessage and "What to do:" in record.ErrorMessage
        # every wave item and every server entry ended, the running job's servers named with their job
        items = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionWaves").scan()["Items"]
        assert sorted(item["Status"] for item in items if "#" not in item["WaveKey"]) == [
            "CANCELLED",
            "COMPLETED",
            "SKIPPED",
        ]
        wave2 = waves[1]
        assert {(s.Status, s.Error, s.RecoveryJobId) for s in wave2.Servers} == {
            ("UNKNOWN", "JOB_STILL_RUNNING", running.id)
        }
        assert {s.Status for s in waves[2].Servers} == {"SKIPPED"}
        assert lock_items() == []
        again = aws.deliver_status_change(described)  # EventBridge delivers at least once
        assert again["Status"] == "CANCELLED"


def test_a_second_execution_of_a_running_plan_fails_fast_naming_the_first(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        second: list[str] = []

        def start_second(invocation, request, response):
            if invocation.function.endswith("check-wave") and not second:
                second.append(aws.start_execution(DRILL, "exec-2"))
                aws.wait(second[0])  # the first execution holds its locks until the second has ended

        aws.engine.listeners.append(start_second)
        first = aws.start_execution(DRILL, "exec-1")
        assert aws.wait(first)["status"] == "SUCCEEDED"
        described = aws.wait(second[0])
        assert described["status"] == "FAILED"
        assert described["error"] == "ExecutionConflictError"
        assert "Plan 'shop' is already running in execution exec-1" in described["cause"]
        assert aws.record("exec-2", "shop").Status == "FAILED"
        assert aws.record("exec-1", "shop").Status == "COMPLETED"
        assert len(aws.drs.jobs) == 3  # only the first execution launched
        assert lock_items() == []


def test_a_server_is_locked_across_plans(stage):
    other = {
        "PlanId": "db-only",
        "Name": "DB only",
        "ProtectionGroups": [{"GroupId": "db2", "Region": "us-east-1", "SourceServerIds": [DB[1]]}],
        "Waves": [{"WaveName": "db", "ProtectionGroupId": "db2"}],
    }
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        load(aws, other)
        second: list[str] = []

        def start_other(invocation, request, response):
            if invocation.function.endswith("check-wave") and not second:
                second.append(aws.start_execution({"PlanId": "db-only", "ExecutionType": "DRILL"}, "exec-2"))
                aws.wait(second[0])  # the first execution holds its locks until the second has ended

        aws.engine.listeners.append(start_other)
        first = aws.start_execution(DRILL, "exec-1")
        aws.wait(first)
        described = aws.wait(second[0])
        assert described["error"] == "ExecutionConflictError"
        assert f"Server(s) {DB[1]} of plan 'db-only' are being launched by execution exec-1" in described["cause"]
        assert lock_items() == []


def test_a_stale_lock_of_an_ended_execution_is_taken_over(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL, "exec-1")
        assert described["status"] == "SUCCEEDED"
        # a release that never happened: exec-1 ended COMPLETED but still "holds" the plan
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks")
        table.put_item(
            Item={"LockId": locks.plan_lock("shop"), "ExecutionId": "exec-1", "PlanId": "shop", "AcquiredAt": 0}
        )
        described, _ = run(aws, DRILL, "exec-2")
        assert described["status"] == "SUCCEEDED"
        assert lock_items() == []


def test_a_late_step_cannot_overwrite_a_record_the_reconcile_path_ended(stage):
    """First writer wins: once the record is CANCELLED, the workflow's own Finalize leaves it alone."""
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        ended: list[bool] = []

        def reconcile_early(invocation, request, response):
            if invocation.function.endswith("check-wave") and request.get("WaveNumber") == 3 and not ended:
                ended.append(True)
                described = aws.client("stepfunctions").describe_execution(executionArn=arns[0])
                aws.deliver_status_change({**described, "status": "ABORTED", "stopDate": described["startDate"]})

        aws.engine.listeners.append(reconcile_early)
        arns = [aws.start_execution(DRILL, "exec-1")]
        described = aws.wait(arns[0])
        record = aws.record("exec-1", "shop")
        assert record.Status == "CANCELLED"
        assert described["status"] == "FAILED"
        assert described["error"] in ("ExecutionStoppedError", "WaveClosedError")
        items = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionWaves").scan()["Items"]
        assert sorted(item["Status"] for item in items if "#" not in item["WaveKey"]) == [
            "CANCELLED",
            "COMPLETED",
            "COMPLETED",
        ]


def test_preflight_refuses_servers_that_are_busy_or_not_replicating(stage):
    scenario = three_tier_scenario()
    scenario["servers"][0]["replication"] = "STALLED"
    with stage(scenario) as aws:
        load(aws, three_wave_plan())
        # another tool launched APP[1] and its job is still running
        aws.drs.invoke("StartRecovery", "us-east-1", {"sourceServers": [{"sourceServerID": APP[1]}], "isDrill": True})
        described, _ = run(aws, DRILL)
        assert described["error"] == "PlanValidationError"
        assert f"server {DB[0]} is not replicating (dataReplicationState STALLED" in described["cause"]
        assert "Options.AllowUnhealthyReplication" in described["cause"]
        assert f"server {APP[1]} is already in an active DRS launch job" in described["cause"]
        assert aws.drs.calls["StartRecovery"] == 1  # only the other tool's


def test_preflight_refuses_a_wave_the_quotas_cannot_hold(stage):
    plan = three_wave_plan(Options={"MaxServersPerJob": 1, "MaxConcurrentJobs": 2})
    with stage(three_tier_scenario()) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "PlanValidationError"
        assert "wave 1 ('db')" in described["cause"] and "3 DRS jobs" in described["cause"]
        assert aws.drs.calls["StartRecovery"] == 0  # refused before anything launched
        assert aws.record("exec-1", "shop").Status == "FAILED"
        assert lock_items() == []


def test_a_start_wave_still_running_when_the_record_ended_launches_nothing(stage):
    import pytest

    from lambdas.core.errors import ExecutionStoppedError
    from lambdas.core.finish import Failure, finish
    from lambdas.core.plan import RunOptions
    from lambdas.core.prepare import prepare
    from lambdas.core.waves import WaveProgress, WaveStep, start_wave

    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        prepare(raw_input=DRILL, execution_id="exec-1", execution_arn=None, now=1_767_225_600)
        finish(  # the reconcile path ends the record while Start wave is on its way
            execution_id="exec-1",
            raw_input=DRILL,
            failure=Failure(Error="ExecutionAborted", Cause="stopped"),
            now=1_767_225_601,
            stopped_as="CANCELLED",
        )
        with pytest.raises(ExecutionStoppedError):
            step = WaveStep("exec-1", "shop", "DRILL", 1, RunOptions(), event_budget=5000, now=1_767_225_602)
            start_wave(step, WaveProgress(), 0, seconds_left=lambda: 120.0)
        assert aws.drs.calls["StartRecovery"] == 0
        assert aws.record("exec-1", "shop").Status == "CANCELLED"


def lock_ids() -> set[str]:
    return {item["LockId"] for item in lock_items()}


def test_the_lock_loop_takes_every_servers_lock_before_the_first_launch_in_bounded_steps(stage, monkeypatch):
    monkeypatch.setattr(locks, "SERVERS_PER_LOCK_STEP", 2)  # 3 + 3 + 2 servers: one wave per step
    everything = {locks.plan_lock("shop")}
    everything |= {locks.server_lock(home("us-east-1"), s) for s in DB + APP}
    everything |= {locks.server_lock(home("us-west-2"), s) for s in WEB}
    held_at_first_start: list[set[str]] = []
    held_at_wave_3: list[set[str]] = []
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())

        def watch(invocation, request, response):
            first_start = invocation.function.endswith("start-wave") and request.get("WaveNumber") == 1
            if first_start and not held_at_first_start:
                held_at_first_start.append(lock_ids())
            in_wave_3 = invocation.function.endswith("check-wave") and request.get("WaveNumber") == 3
            if in_wave_3 and not held_at_wave_3:
                held_at_wave_3.append(lock_ids())

        aws.engine.listeners.append(watch)
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert entered(history, "Lock the plan's servers") == 3
        assert held_at_first_start == [everything]
        # waves 1 and 2 ended: their servers' locks went with them
        assert held_at_wave_3 == [{locks.plan_lock("shop")} | {locks.server_lock(home("us-west-2"), s) for s in WEB}]
        assert lock_items() == []


def test_a_server_locked_elsewhere_found_by_a_later_lock_step_fails_before_any_launch_and_releases_all(
    stage, monkeypatch
):
    monkeypatch.setattr(locks, "SERVERS_PER_LOCK_STEP", 2)
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        held_by_other = locks.server_lock(home("us-west-2"), WEB[1])
        table = boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks")

        def lock_web_after_first_step(invocation, request, response):
            # another plan's execution takes a web server after this one's Prepare checked it was free
            if invocation.function.endswith("lock-servers") and not table.get_item(Key={"LockId": held_by_other}).get(
                "Item"
            ):
                # no record and no ARN to ask: the holder counts as running, its lock is not taken over as stale
                table.put_item(Item={"LockId": held_by_other, "ExecutionId": "other", "PlanId": "o", "AcquiredAt": 0})

        aws.engine.listeners.append(lock_web_after_first_step)
        described, history = run(aws, DRILL)
        assert described["status"] == "FAILED"
        assert described["error"] == "ExecutionConflictError"
        assert WEB[1] in described["cause"] and "other" in described["cause"]
        assert aws.drs.calls["StartRecovery"] == 0
        assert entered(history, "Run waves in order") == 0
        assert aws.record("exec-1", "shop").Status == "FAILED"
        assert lock_ids() == {held_by_other}  # only the other execution's lock is left
