"""Reliability, case by case: what the record says after storms, capacity waits, refusals, lost events, stale locks,
Lambda timeouts and unhealthy replication. The fault matrix checks the invariants; these check the words and
numbers an operator reads."""

from __future__ import annotations

import boto3

from drsctl.local.engine import DynamoDbFault, LambdaFault
from tests.workflow.conftest import (
    APP,
    DB,
    entered,
    failed_task_errors,
    load,
    run,
    three_tier_scenario,
    three_wave_plan,
    with_server_faults,
)

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
RECOVERY = {"PlanId": "shop", "ExecutionType": "RECOVERY", "Confirm": "RECOVER shop"}


def table(name: str):
    return boto3.resource("dynamodb", region_name="us-east-1").Table(name)


def test_a_full_quota_makes_the_wave_wait_for_capacity_then_start(stage):
    scenario = three_tier_scenario(quotas={"maxConcurrentJobs": 2}, externalJobs=[{"seconds": 1500}] * 2)
    with stage(scenario) as aws:
        load(aws, three_wave_plan(Options={"MaxConcurrentJobs": 2}))  # the account's quota, as the plan states it
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        waits = entered(history, "Waiting for DRS capacity")
        assert 10 <= waits <= 30  # 25 minutes of the other tool's jobs, checked about every minute
        record = aws.record("exec-1", "shop")
        assert record.Status == "COMPLETED"
        assert any("will wait for DRS capacity" in w for w in record.Warnings)  # the pre-flight saw it coming
        first_job = min((j for j in aws.drs.jobs.values() if j.tags.get("WaveNumber") == "1"), key=lambda j: j.sequence)
        assert first_job.created_at - aws.drs.origin >= 1500  # nothing started before capacity was free


def test_drs_refusing_larger_jobs_shrinks_the_chunks(stage):
    with stage(three_tier_scenario(quotas={"maxServersPerJob": 1})) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        waves = aws.waves("exec-1")
        assert waves[0].ChunkSize == 1
        assert len(waves[0].JobIds) == 3


def quota_storm(quota_code: str, message: str, seconds: int = 600) -> list[dict]:
    """StartRecovery refused with this quota for `seconds` from the start, as DRS might word it."""
    fault = {"operation": "StartRecovery", "error": "ServiceQuotaExceededException", "seconds": seconds}
    return [{**fault, "quotaCode": quota_code, "message": message}]


def test_a_service_quotas_code_storm_waits_for_capacity_and_the_wave_records_the_quota(stage):
    faults = quota_storm("L-D88FAC3A", "Rate exceeded for the account", seconds=900)
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert entered(history, "Waiting for DRS capacity") >= 5
        first_job = min(aws.drs.jobs.values(), key=lambda j: j.sequence)
        assert first_job.created_at - aws.drs.origin >= 900  # nothing started while DRS refused
        waves = aws.waves("exec-1")
        assert waves[0].QuotaWaits == ["L-D88FAC3A (Concurrent jobs in progress)"]
        assert waves[1].QuotaWaits == [] and waves[0].LastCheckError is None  # the wait is over; its quota stays
        assert aws.record("exec-1", "shop").Status == "COMPLETED"


def test_an_unknown_quota_is_waited_for_until_the_deadline_and_named_in_the_cause(stage):
    faults = quota_storm("L-9Z9Z9Z9Z", "Quota exceeded", seconds=7200)
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan(Options={"WaveTimeoutMinutes": 20}))
        described, history = run(aws, DRILL)
        assert described["error"] == "WaveTimedOut", described
        assert entered(history, "Waiting for DRS capacity") >= 5  # waited, did not fail at the first refusal
        (wave, *_) = aws.waves("exec-1")
        assert wave.QuotaWaits == ["L-9Z9Z9Z9Z (unknown quota, waited for as DRS capacity)"]
        assert wave.EndTime is not None and wave.StartTime is not None and wave.EndTime - wave.StartTime >= 1200 - 60
        assert "L-9Z9Z9Z9Z (unknown quota" in (wave.ErrorMessage or "")
        assert aws.drs.jobs == {}


def test_an_account_quota_that_waiting_never_frees_fails_the_wave_at_once_naming_it(stage):
    faults = quota_storm("L-C1D14A2B", "Replicating source servers limit reached")
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["error"] == "WaveFailed"
        assert entered(history, "Waiting for DRS capacity") == 0
        record = aws.record("exec-1", "shop")
        assert "raise the DRS quota Max Total replicating source servers Per AWS Account (L-C1D14A2B)" in (
            record.ErrorMessage or ""
        )


def test_a_per_job_limit_named_only_by_its_message_halves_the_chunk(stage):
    message = "A job can include at most 1 source servers; this request has 3"
    faults = [{"operation": "StartRecovery", "error": "ServiceQuotaExceededException", "message": message}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert entered(history, "Waiting for DRS capacity") == 0
        waves = aws.waves("exec-1")
        assert waves[0].ChunkSize == 1 and waves[0].QuotaWaits == []


def test_an_access_denied_start_fails_the_wave_at_once_naming_the_permission(stage):
    denied = "User: arn:aws:sts::1:assumed-role/r/x is not authorized to perform: drs:StartRecovery on resource: *"
    faults = [{"operation": "StartRecovery", "error": "AccessDeniedException", "count": 1, "message": denied}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["error"] == "WaveFailed"
        assert entered(history, "Wait before starting again") == 0  # no retry of a refusal
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert record.Status == "FAILED"
        assert "grant drs:StartRecovery to the start_wave function's role" in record.ErrorMessage
        assert "DRS jobs this execution started: none" in record.ErrorMessage
        assert {(s.Status, s.Error) for s in waves[0].Servers} == {("FAILED", "START_REFUSED")}
        assert [w.Status for w in record.Waves] == ["FAILED", "SKIPPED", "SKIPPED"]


def test_a_stop_whose_event_is_lost_is_closed_by_the_sweeper_which_releases_the_locks(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        arns: list[str] = []

        def stop(invocation, request, response):
            if invocation.function.endswith("check-wave") and arns:
                aws.stop(arns.pop())

        aws.engine.listeners.append(stop)
        arn = aws.start_execution(DRILL, "exec-1")
        arns.append(arn)
        described = aws.wait(arn)
        assert described["status"] == "ABORTED"
        assert aws.record("exec-1", "shop").Status == "POLLING"  # no event delivered
        assert len(table("ExecutionLocks").scan()["Items"]) == 1 + 8  # the plan and every server
        swept = aws.sweep()
        assert swept["reconciled"] == ["exec-1"]
        record = aws.record("exec-1", "shop")
        assert record.Status == "CANCELLED" and "was stopped" in record.ErrorMessage
        assert table("ExecutionLocks").scan()["Items"] == []
        assert aws.sweep() == {"reconciled": [], "released": [], "resolved": [], "still_unresolved": [], "failed": []}


def test_a_lock_of_an_execution_step_functions_says_has_ended_is_taken_over(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        arns: list[str] = []

        def stop(invocation, request, response):
            if invocation.function.endswith("check-wave") and arns:
                aws.stop(arns.pop())

        aws.engine.listeners.append(stop)
        first = aws.start_execution(DRILL, "exec-1")
        arns.append(first)
        assert aws.wait(first)["status"] == "ABORTED"
        # Its reconcile event is lost: the record says POLLING and every lock is still held.
        assert aws.record("exec-1", "shop").Status == "POLLING"
        assert {item["ExecutionId"] for item in table("ExecutionLocks").scan()["Items"]} == {"exec-1"}
        aws.clock.advance(1200)  # the DRS job it started has finished
        described, _ = run(aws, DRILL, name="exec-2")
        assert described["status"] == "SUCCEEDED"  # Step Functions says exec-1 has ended: its locks were stale


def test_lock_transactions_cancelled_for_conflicts_are_retried_not_reported_as_held(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        aws.engine.faults.dynamodb.append(DynamoDbFault("TransactWriteItems", "TransactionConflict", count=2))
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        # The first cancellation fails Prepare's lock (TransactionConflictError, retried: nobody holds the lock); the
        # second cancels the release of what it took (nothing: a cancelled transaction wrote nothing).
        assert failed_task_errors(history) == ["TransactionConflictError"]
        assert table("ExecutionLocks").scan()["Items"] == []


def test_a_release_cancelled_by_a_conflict_deletes_the_locks_one_by_one(stage):
    """Prepare took the plan's lock, then failed (DRS throttled past the SDK's retries); releasing that lock collides
    with another transaction: the lock is deleted on its own at once, not left held until the execution ends."""
    faults = [{"operation": "DescribeSourceServers", "error": "ThrottlingException", "count": 2}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        collision = DynamoDbFault("TransactWriteItems", "TransactionConflict")
        held_after_failed_prepare = []

        def collide_once_drs_fails(function, operation):
            if function.endswith("prepare") and operation == "DescribeSourceServers" and collision.count:
                aws.engine.faults.dynamodb = [collision]  # after the lock was taken: the release collides

        def watch(invocation, request, response):
            if invocation.function.endswith("prepare") and invocation.error:
                held_after_failed_prepare.append(table("ExecutionLocks").scan()["Items"])

        aws.engine.on_aws_call.append(collide_once_drs_fails)
        aws.engine.listeners.append(watch)
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert failed_task_errors(history) == ["ThrottlingException"]  # the release's collision never surfaces
        assert collision.count == 0  # it did collide
        assert held_after_failed_prepare == [[]]
        assert table("ExecutionLocks").scan()["Items"] == []


def test_a_start_wave_cut_off_after_starting_recovery_is_found_again_not_relaunched(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan())
        # killed as it is about to record the job it just started (its 5th AWS call)
        aws.engine.faults.lambdas.append(LambdaFault("start-wave", 1, "timeout_after_calls", calls=5))
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert failed_task_errors(history)[0] == "Sandbox.Timedout"
        assert aws.drs.calls["StartRecovery"] == 3
        assert len([j for j in aws.drs.jobs.values() if j.tags["WaveNumber"] == "1"]) == 1


def test_a_lambda_that_sleeps_past_its_timeout_in_sdk_backoff_times_out(stage):
    # Prepare's count of active jobs takes the first four throttles (two per region, warnings), the first check the
    # next two.
    faults = [{"operation": "DescribeJobs", "error": "ThrottlingException", "count": 6}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        # Make botocore's backoff longer than check_wave's 60 s timeout: the invocation must end Sandbox.Timedout.
        from botocore.retries import standard

        original = standard.ExponentialBackoff.delay_amount
        standard.ExponentialBackoff.delay_amount = lambda self, context: 90.0  # type: ignore[method-assign]
        try:
            described, history = run(aws, DRILL)
        finally:
            standard.ExponentialBackoff.delay_amount = original  # type: ignore[method-assign]
        assert described["status"] == "SUCCEEDED"
        assert "Sandbox.Timedout" in failed_task_errors(history)


def test_recovery_launches_servers_that_stopped_replicating_and_says_from_when(stage):
    scenario = three_tier_scenario()
    scenario["servers"][0]["replication"] = "STALLED"
    scenario["servers"][0]["lagSeconds"] = 5400
    with stage(scenario) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, RECOVERY)
        assert described["status"] == "SUCCEEDED"
        record = aws.record("exec-1", "shop")
        warning = next(w for w in record.Warnings if DB[0] in w)
        assert "dataReplicationState STALLED" in warning and "lag PT1H30M" in warning
        assert "last recovery snapshot, taken 2025-12-31T22:" in warning  # 90 minutes before, on a 10-minute grid


def test_a_drill_refuses_them_unless_allowed(stage):
    scenario = three_tier_scenario()
    scenario["servers"][0]["replication"] = "DISCONNECTED"
    with stage(scenario) as aws:
        load(aws, three_wave_plan(Options={"AllowUnhealthyReplication": True}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert any("is not replicating" in w for w in aws.record("exec-1", "shop").Warnings)


def test_overlapping_selectors_are_a_validation_error_before_any_lock(stage):
    plan = three_wave_plan()
    plan["ProtectionGroups"].append(
        {"GroupId": "everything", "Region": "us-east-1", "Selector": {"Tags": {"Tier": "app"}}}
    )
    plan["Waves"].append({"WaveName": "again", "ProtectionGroupId": "everything"})
    with stage(three_tier_scenario()) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["error"] == "PlanValidationError"
        assert f"server {APP[0]} is also in wave 2" in described["cause"]
        assert table("ExecutionLocks").scan()["Items"] == []


def test_a_stored_plan_with_fractional_options_runs(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, three_wave_plan(Options={"ExpectedJobMinutes": 9.5}))  # a float into DynamoDB
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"


def test_a_plan_that_launched_nothing_fails_so_the_alarm_fires(stage):
    scenario = three_tier_scenario()
    for server in DB:
        scenario = with_server_faults(scenario, server, ["launch_failure"])
    plan = three_wave_plan(Waves=[{"WaveName": "db", "ProtectionGroupId": "db", "Impact": "OPTIONAL"}])
    with stage(scenario) as aws:
        load(aws, plan)
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED" and described["error"] == "PlanFailed"
        assert aws.record("exec-1", "shop").Status == "FAILED"


def test_an_unanswered_start_that_drs_cannot_confirm_is_resolved_later_by_the_sweeper(stage):
    # The answer of the first StartRecovery is lost, then DescribeJobs is denied until long after the wave's end:
    # the record cannot tell whether a job exists, says so, and the sweeper records the job once DRS answers.
    faults = [
        {"operation": "StartRecovery", "error": "drop_response", "count": 1},
        {"operation": "DescribeJobs", "error": "AccessDeniedException", "seconds": 7200},
    ]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan(Waves=[{"WaveName": "db", "ProtectionGroupId": "db"}]))
        described, _ = run(aws, DRILL)
        assert described["status"] == "FAILED"
        waves = aws.waves("exec-1")
        assert {(s.Status, s.Error) for s in waves[0].Servers} == {("UNKNOWN", "START_UNCONFIRMED")}
        assert "ChunkToken=1.1" in (waves[0].ErrorMessage or "")
        assert aws.sweep()["still_unresolved"] == ["exec-1"]  # DRS still refuses
        aws.clock.advance(7200)
        assert aws.sweep()["resolved"] == ["exec-1"]
        wave = aws.waves("exec-1")[0]
        (job,) = aws.drs.jobs.values()
        assert {s.RecoveryJobId for s in wave.Servers} == {job.id}
        assert {s.Status for s in wave.Servers} == {"LAUNCHED"}
        assert aws.sweep()["resolved"] == []  # nothing left for it


def test_a_health_check_that_gets_no_answer_until_its_deadline_times_out_there(stage):
    """DRS and EC2 throttled from just after the launch until long after the step's 10 minutes: every check is a
    missed one, and the last, at the deadline, ends the step TIMED_OUT (never a health check waiting for ever)."""
    launched = 551 + 30  # the db wave's jobs end at 551 s
    faults = [
        {"operation": "DescribeInstanceStatus", "error": "RequestLimitExceeded", "after": launched, "seconds": 3600},
        {"operation": "DescribeJobs", "error": "ThrottlingException", "after": launched, "seconds": 3600},
    ]
    plan = three_wave_plan()
    plan["Waves"][0]["After"] = [{"Name": "Database healthy", "HealthCheck": {"TimeoutMinutes": 10}}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, plan)
        described, history = run(aws, DRILL)
        assert described["error"] == "HealthCheckFailed"
        (step,) = [s for s in aws.waves("exec-1")[0].Steps if s["Phase"] == "AFTER"]
        # at the deadline (the last check's own SDK backoff, seconds, after it)
        assert step["Status"] == "TIMED_OUT" and 600 <= step["EndedAt"] - step["StartedAt"] < 630
        assert "not healthy within 10 min: the last check got no answer (" in step["Detail"]
        assert entered(history, "Check health") == 21  # every 30 s for 10 min, the last at the deadline
        assert [job.tags["WaveNumber"] for job in aws.drs.jobs.values()] == ["1"]  # nothing launched after it
