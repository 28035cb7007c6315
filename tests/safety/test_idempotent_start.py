"""A retried Start wave never launches a server twice: lost answers, failed record writes, 5xx and throttling."""

from __future__ import annotations

from collections import Counter

from tests.workflow.conftest import DB, entered, failed_task_errors, load, run, three_tier_scenario, three_wave_plan

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}


def launches_per_server(aws) -> Counter[str]:
    return Counter(
        p.source_server_id for job in aws.drs.jobs.values() if job.type == "LAUNCH" for p in job.participants
    )


def test_a_lost_start_recovery_answer_is_found_again_not_relaunched(stage):
    faults = [{"operation": "StartRecovery", "error": "drop_response", "count": 2}]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert failed_task_errors(history) == []  # a lost answer is absorbed inside the step, not a task failure
        assert entered(history, "Wait before starting again") == 2
        assert aws.drs.calls["StartRecovery"] == 3  # the dropped call created wave 1's job; retries found it by tag
        assert set(launches_per_server(aws).values()) == {1}
        assert len(aws.drs.jobs) == 3
        record = aws.record("exec-1", "shop")
        waves = aws.waves("exec-1")
        assert record.Status == "COMPLETED"
        assert {s.RecoveryJobId for s in waves[0].Servers} == {waves[0].JobIds[0]}
        assert waves[0].PendingStart is None


def test_chunks_already_started_are_not_started_again_after_a_conflict(stage):
    # wave 1 is split into chunks of one server; the third server's first StartRecovery conflicts twice
    scenario = three_tier_scenario()
    scenario["servers"][2]["faults"] = [{"conflict": 2}]
    plan = three_wave_plan(Options={"MaxServersPerJob": 1})
    with stage(scenario) as aws:
        load(aws, plan)
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert entered(history, "Wait before starting again") == 2  # the busy server waited twice, with backoff
        assert set(launches_per_server(aws).values()) == {1}
        assert launches_per_server(aws)[DB[0]] == 1
        waves = aws.waves("exec-1")
        assert len(waves[0].JobIds) == 3
        assert aws.drs.calls["StartRecovery"] == 3 + 2 + 3 + 2  # wave 1's three chunks + two refusals; waves 2, 3


def test_5xx_bursts_on_every_drs_operation_are_absorbed(stage):
    faults = [
        {"operation": "DescribeSourceServers", "error": "InternalServerException", "count": 3},
        {"operation": "StartRecovery", "error": "InternalServerException", "count": 1},
        {"operation": "DescribeJobs", "error": "InternalServerException", "count": 3},
        {"operation": "DescribeJobs", "error": "ThrottlingException", "count": 3},
    ]
    with stage(three_tier_scenario(faults=faults)) as aws:
        load(aws, three_wave_plan())
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert aws.record("exec-1", "shop").Status == "COMPLETED"
        assert set(launches_per_server(aws).values()) == {1}
