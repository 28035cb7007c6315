"""HealthCheck steps after a wave: post-launch actions and EC2 status checks gate the next wave, on the real
definition, handlers, engine and emulator (the scenario's postLaunch and instanceStatus per server)."""

from __future__ import annotations

from typing import Any

import boto3

from lambdas.core import launch_actions, polling
from tests.workflow.conftest import (
    APP,
    DB,
    entered,
    load,
    run,
    start_recovery_waves,
    three_tier_scenario,
    three_wave_plan,
)

DRILL = {"PlanId": "shop", "ExecutionType": "DRILL"}
WAVE_ENDS = 551  # the deterministic drill job of three_tier_scenario
THROTTLED = WAVE_ENDS + 30  # just after wave 1 has launched


def plan_with_check(wave: int = 0, check: dict[str, Any] | None = None, **wave_fields: Any) -> dict[str, Any]:
    plan = three_wave_plan()
    plan["Waves"][wave]["After"] = [{"Name": "Database healthy", "HealthCheck": check or {}}]
    plan["Waves"][wave].update(wave_fields)
    return plan


def scenario_with(servers: dict[str, dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """The three-tier scenario with per-server fields (postLaunch, instanceStatus) by source server ID."""
    scenario = three_tier_scenario(**changes)
    for spec in scenario["servers"]:
        spec.update(servers.get(spec["id"], {}))
    return scenario


def all_db(**fields: Any) -> dict[str, dict[str, Any]]:
    return {server: dict(fields) for server in DB}


def the_step(aws, wave: int = 1) -> dict[str, Any]:
    (step,) = [s for s in aws.waves("exec-1")[wave - 1].Steps if s["Phase"] == "AFTER"]
    return step


def lock_items() -> list[dict]:
    return boto3.resource("dynamodb", region_name="us-east-1").Table("ExecutionLocks").scan()["Items"]


def test_a_health_gate_passes_once_post_launch_actions_and_status_checks_pass(stage):
    servers = all_db(postLaunch={"seconds": 200, "result": "SUCCEEDED"}, instanceStatus={"seconds": 150})
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert (step["Kind"], step["Name"], step["Status"]) == ("HealthCheck", "Database healthy", "SUCCEEDED")
        assert step["Detail"] == "3 launched server(s) healthy (post-launch actions and EC2 status checks)"
        # Checks every 90 s (30 min / 20): at 0, 90 and 180 s the actions still run; at 270 s all is well.
        assert step["EndedAt"] - step["StartedAt"] == 270
        assert entered(history, "Check health") == 4 and entered(history, "Wait for health checks") == 3
        assert aws.waves("exec-1")[1].StartTime >= step["EndedAt"]  # the next wave waited for the gate
        assert aws.drs.ec2_calls["DescribeInstanceStatus"] == 4
        assert aws.record("exec-1", "shop").Status == "COMPLETED"


def test_servers_without_post_launch_actions_pass_and_the_output_says_so(stage):
    with stage(three_tier_scenario()) as aws:
        load(aws, plan_with_check(check={"InstanceStatus": False}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["EndedAt"] == step["StartedAt"]  # decided at the first look
        assert step["Detail"] == "3 launched server(s) healthy (post-launch actions); no post-launch actions configured"
        assert aws.drs.ec2_calls["DescribeInstanceStatus"] == 0  # InstanceStatus: false asks EC2 nothing


def test_a_critical_server_whose_post_launch_action_fails_stops_the_plan_before_the_next_launch(stage):
    servers = {DB[1]: {"postLaunch": {"seconds": 60, "result": "FAILED"}}}
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check())
        described, _ = run(aws, DRILL)
        assert (described["status"], described["error"]) == ("FAILED", "HealthCheckFailed")
        assert start_recovery_waves(aws) == ["1"]  # wave 2 never launched
        step = the_step(aws)
        assert step["Status"] == "FAILED"
        assert step["Detail"].startswith("HealthCheckFailed: 1 server(s) unhealthy")
        assert f"db-1 ({DB[1]}, CRITICAL): post-launch action 'Rehearsal post-launch action' FAILED" in step["Detail"]
        assert "The SSM command failed on the recovery instance" in step["Detail"]
        # decided at once (a CRITICAL failure stops the plan whatever the others do): at the check after 60 s
        assert step["EndedAt"] - step["StartedAt"] == 90
        record = aws.record("exec-1", "shop")
        assert record.Status == "FAILED" and "Health check 'Database healthy' after wave 1 (db)" in record.ErrorMessage
        assert "What to do:" in record.ErrorMessage
        assert [w.Status for w in record.Waves] == ["COMPLETED", "SKIPPED", "SKIPPED"]
        assert lock_items() == []


def test_an_optional_server_failing_the_check_is_recorded_and_the_plan_goes_on(stage):
    servers = {DB[2]: {"postLaunch": {"seconds": 30, "result": "FAILED"}}}
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check(ServerImpact={DB[2]: "OPTIONAL"}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["Status"] == "FAILED" and f"db-2 ({DB[2]}, OPTIONAL)" in step["Detail"]
        assert start_recovery_waves(aws) == ["1", "2", "3"]
        assert aws.record("exec-1", "shop").Status == "COMPLETED"


def test_an_impaired_instance_fails_the_check(stage):
    servers = {DB[0]: {"instanceStatus": {"seconds": 60, "result": "impaired"}}}
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check(check={"PostLaunchActions": False}))
        described, _ = run(aws, DRILL)
        assert described["error"] == "HealthCheckFailed"
        step = the_step(aws)
        assert step["Status"] == "FAILED"
        assert f"db-0 ({DB[0]}, CRITICAL): EC2 instance and system status impaired" in step["Detail"]


def test_servers_not_healthy_within_the_timeout_time_the_step_out(stage):
    servers = all_db(postLaunch={"seconds": 7200})
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check(check={"TimeoutMinutes": 10}))
        described, history = run(aws, DRILL)
        assert described["error"] == "HealthCheckFailed"
        step = the_step(aws)
        assert step["Status"] == "TIMED_OUT" and step["EndedAt"] - step["StartedAt"] == 600
        assert "not healthy within 10 min (post-launch actions still running, 0 of 1 ended)" in step["Detail"]
        assert entered(history, "Check health") == 21  # every 30 s for 10 min, the last at the deadline
        # 9 history events per check (the task 5, its Choice 2, the Wait 2; the last check has no Wait), as
        # polling.EVENTS_PER_CHECK budgets it
        named = [
            (e["type"], (e.get("stateEnteredEventDetails") or e.get("stateExitedEventDetails") or {}).get("name"))
            for e in history
        ]
        first = named.index(("TaskStateEntered", "Check health"))
        last = max(i for i, (_, name) in enumerate(named) if name == "Servers healthy?")
        assert last - first + 1 == 21 * polling.EVENTS_PER_CHECK - 2
        assert "timed out" in aws.record("exec-1", "shop").ErrorMessage


def test_the_steps_impact_overrides_the_servers_own(stage):
    failing = {DB[0]: {"postLaunch": {"seconds": 10, "result": "FAILED"}}}
    with stage(scenario_with(failing)) as aws:  # a CRITICAL server, the step OPTIONAL: recorded, plan goes on
        load(aws, plan_with_check(check={"Impact": "OPTIONAL"}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        assert the_step(aws)["Status"] == "FAILED" and "OPTIONAL" in the_step(aws)["Detail"]
    with stage(scenario_with(failing)) as aws:  # an OPTIONAL wave, the step CRITICAL: the plan stops
        load(aws, plan_with_check(check={"Impact": "CRITICAL"}, Impact="OPTIONAL"))
        described, _ = run(aws, DRILL)
        assert described["error"] == "HealthCheckFailed"
        assert start_recovery_waves(aws) == ["1"]


def test_describe_jobs_and_ec2_throttled_for_a_while_are_missed_checks_not_failures(stage):
    servers = all_db(postLaunch={"seconds": 100}, instanceStatus={"seconds": 100})
    faults = [
        # for 4 minutes from just after wave 1 has launched, every look at the servers is throttled
        {"operation": "DescribeInstanceStatus", "error": "RequestLimitExceeded", "after": THROTTLED, "seconds": 240},
        {"operation": "DescribeJobs", "error": "ThrottlingException", "after": THROTTLED, "seconds": 120},
    ]
    with stage(scenario_with(servers, faults=faults)) as aws:
        load(aws, plan_with_check())
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["Status"] == "SUCCEEDED"
        assert "checks got no answer (last: RequestLimitExceeded" in step["Detail"]
        assert step["EndedAt"] - step["StartedAt"] > 240 - 30  # it waited the throttling out


def test_access_denied_fails_the_step_naming_the_call(stage):
    faults = [{"operation": "DescribeInstanceStatus", "error": "UnauthorizedOperation", "count": 5}]
    with stage(scenario_with({}, faults=faults)) as aws:
        load(aws, plan_with_check(check={"Impact": "OPTIONAL"}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"  # the step is OPTIONAL: recorded, the plan goes on
        step = the_step(aws)
        assert step["Status"] == "FAILED"
        assert step["Detail"].startswith("HealthCheckRefusedError: EC2 DescribeInstanceStatus in us-east-1 was refused")
        assert "UnauthorizedOperation" in step["Detail"] and "Traceback" not in step["Detail"]


def test_a_stop_while_the_health_check_waits_leaves_no_step_running(stage):
    servers = all_db(postLaunch={"seconds": 3000})
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check())
        arns: list[str] = []

        def reconcile_while_waiting(invocation, request, response):
            # the operator stops the execution while the check waits; EventBridge delivers at once
            if invocation.function.endswith("check-health") and arns:
                described = aws.client("stepfunctions").describe_execution(executionArn=arns.pop())
                aws.deliver_status_change({**described, "status": "ABORTED", "stopDate": described["startDate"]})

        aws.engine.listeners.insert(0, reconcile_while_waiting)
        arns.append(aws.start_execution(DRILL, "exec-1"))
        aws.wait(aws.state_machine_arn.replace(":stateMachine:", ":execution:") + ":exec-1")
        step = the_step(aws)
        assert step["Status"] == "CANCELLED" and "ended (stopped)" in step["Detail"]
        assert all(s["Status"] != "RUNNING" for wave in aws.waves("exec-1") for s in wave.Steps)
        assert aws.record("exec-1", "shop").Status == "CANCELLED"
        assert start_recovery_waves(aws) == ["1"]
        assert lock_items() == []


def test_a_health_check_before_a_wave_is_refused_naming_the_field_and_the_fix(stage):
    plan = three_wave_plan()
    plan["Waves"][1]["Before"] = [{"HealthCheck": {}}]
    with stage(three_tier_scenario()) as aws:
        described, _ = run(aws, {"Plan": plan, "ExecutionType": "DRILL"})
        assert described["error"] == "PlanValidationError"
        assert "Waves[1]" in described["cause"] or "Waves.1" in described["cause"], described["cause"]
        assert "Before[0] is a HealthCheck" in described["cause"] and "move the step to After" in described["cause"]
        assert start_recovery_waves(aws) == []


def test_a_wave_that_launched_no_server_passes_its_health_check_saying_so(stage):
    scenario = three_tier_scenario()
    for spec in scenario["servers"]:
        if spec["id"] in APP:
            spec["faults"] = ["launch_failure"]
    with stage(scenario) as aws:
        load(aws, plan_with_check(wave=1, Impact="OPTIONAL"))
        run(aws, DRILL)
        step = the_step(aws, wave=2)
        assert step["Status"] == "SUCCEEDED" and step["EndedAt"] == step["StartedAt"]
        assert (
            step["Detail"] == "no server of this wave launched: nothing to check; 3 server(s) not launched, not checked"
        )
        assert start_recovery_waves(aws) == ["1", "2", "3"]  # the wave's own failure policy went on; so did the step
        assert aws.drs.ec2_calls["DescribeInstanceStatus"] == 0


# -- what is configured: ListLaunchActions, read once per step ------------------------------------------------------


def test_a_critical_server_whose_ssm_agent_never_reports_fails_the_gate_at_its_deadline_naming_it(stage):
    servers = {DB[1]: {"postLaunch": {"seconds": 60, "agentDiscovered": False}}}
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check(check={"TimeoutMinutes": 10}))
        described, history = run(aws, DRILL)
        assert (described["status"], described["error"]) == ("FAILED", "HealthCheckFailed")
        assert start_recovery_waves(aws) == ["1"]  # wave 2 never launched
        step = the_step(aws)
        # pending until the step's deadline (the agent might still report), then unhealthy
        assert step["Status"] == "FAILED" and step["EndedAt"] - step["StartedAt"] == 600
        assert (
            f"db-1 ({DB[1]}, CRITICAL): SSM agent never reported: 1 post-launch actions did not run" in step["Detail"]
        )
        assert "db-0" not in step["Detail"] and "db-2" not in step["Detail"]  # nothing configured: they passed
        # what each server has configured was read once for the step, not at each of its 21 checks
        assert entered(history, "Check health") == 21
        assert aws.drs.calls["ListLaunchActions"] == 3
        assert launch_actions.RECORD_KEY not in step  # kept while the step ran, dropped when it ended
        record = aws.record("exec-1", "shop")
        assert "SSM agent never reported" in record.ErrorMessage and [w.Status for w in record.Waves] == [
            "COMPLETED",
            "SKIPPED",
            "SKIPPED",
        ]


def test_an_optional_server_whose_ssm_agent_never_reports_is_recorded_and_the_plan_goes_on(stage):
    servers = {DB[2]: {"postLaunch": {"seconds": 30, "agentDiscovered": False}}}
    with stage(scenario_with(servers)) as aws:
        load(aws, plan_with_check(check={"TimeoutMinutes": 5}, ServerImpact={DB[2]: "OPTIONAL"}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["Status"] == "FAILED" and f"db-2 ({DB[2]}, OPTIONAL): SSM agent never reported" in step["Detail"]
        assert start_recovery_waves(aws) == ["1", "2", "3"]


def test_the_same_plan_with_every_action_run_passes_and_reads_each_server_once(stage, monkeypatch):
    """Each check reads what time allows (here one server, as a Lambda short of time would) and the next goes on
    from there: the step's record keeps what was read."""
    read_more = launch_actions.read_more

    def one_server_per_check(count, configured, has_time):
        budget = iter([True, False])
        read_more(count, configured, lambda: has_time() and next(budget))

    monkeypatch.setattr(launch_actions, "read_more", one_server_per_check)
    kept: list[str] = []
    servers = all_db(postLaunch={"seconds": 200}, instanceStatus={"seconds": 150})
    with stage(scenario_with(servers)) as aws:

        def keep_counts(invocation, request, response):
            if invocation.function.endswith("check-health"):
                step = next(s for s in aws.waves("exec-1")[0].Steps if s["Phase"] == "AFTER")
                kept.append(step.get(launch_actions.RECORD_KEY, {}).get("Counts", ""))

        aws.engine.listeners.append(keep_counts)
        load(aws, plan_with_check())
        described, history = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["Status"] == "SUCCEEDED" and step["EndedAt"] - step["StartedAt"] == 270
        assert kept[:3] == ["1x1", "1x2", "1x3"]  # one more server per check, kept on the step's record
        assert aws.drs.calls["ListLaunchActions"] == 3 and entered(history, "Check health") == 4


def test_list_launch_actions_throttled_is_a_missed_check_and_refused_fails_the_step_naming_it(stage):
    servers = all_db(postLaunch={"seconds": 100})
    # nothing but the health check calls ListLaunchActions: throttled from the start until 2 min after the launch
    throttled = [{"operation": "ListLaunchActions", "error": "ThrottlingException", "seconds": WAVE_ENDS + 120}]
    with stage(scenario_with(servers, faults=throttled)) as aws:
        load(aws, plan_with_check(check={"InstanceStatus": False}))
        described, _ = run(aws, DRILL)
        assert described["status"] == "SUCCEEDED"
        step = the_step(aws)
        assert step["Status"] == "SUCCEEDED"
        assert "checks got no answer (last: ThrottlingException" in step["Detail"]
        assert step["EndedAt"] - aws.drs.origin >= WAVE_ENDS + 120  # it waited the throttling out
    denied = [{"operation": "ListLaunchActions", "error": "AccessDeniedException", "count": 1}]
    with stage(scenario_with(servers, faults=denied)) as aws:
        load(aws, plan_with_check(check={"InstanceStatus": False}))
        described, _ = run(aws, DRILL)
        assert described["error"] == "HealthCheckFailed"
        step = the_step(aws)
        assert step["Detail"].startswith("HealthCheckRefusedError: DRS ListLaunchActions in us-east-1 was refused")
        assert start_recovery_waves(aws) == ["1"]
